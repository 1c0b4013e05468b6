import Foundation

/// Where the workbook's files are: the repository the learner cloned.
public struct Repository: Sendable {
    public let root: String

    /// Finds the repository from the working directory, else from the executable's
    /// place (.build/debug/workbook sits two levels below it).
    public static func locate() throws -> Repository {
        var candidates = [FileManager.default.currentDirectoryPath]
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append((executable as NSString).deletingLastPathComponent)
        }
        for start in candidates {
            var directory = start
            while directory != "/" && !directory.isEmpty {
                if FileManager.default.fileExists(atPath: directory + "/chapters")
                    && FileManager.default.fileExists(atPath: directory + "/Package.swift")
                {
                    return Repository(root: directory)
                }
                directory = (directory as NSString).deletingLastPathComponent
            }
        }
        throw WorkbookError("cannot find the workbook's files (a folder with Package.swift and chapters/): run workbook from inside the repository")
    }

    public init(root: String) { self.root = root }

    /// $WORKBOOK_PROGRESS if set (the tests use their own), else .workbook-progress.json.
    public var progressFile: String {
        ProcessInfo.processInfo.environment["WORKBOOK_PROGRESS"] ?? root + "/.workbook-progress.json"
    }
    public var probeSource: String { root + "/tools/probe/probe.c" }
    public func path(_ relative: String) -> String { root + "/" + relative }
}

public struct WorkbookError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
