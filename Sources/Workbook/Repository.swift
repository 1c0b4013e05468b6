import Foundation

/// Where the workbook's files are: the repository the learner cloned.
public struct Repository: Sendable {
    public let root: String

    /// Finds the repository from the working directory, else from the executable's
    /// place (.build/debug/workbook sits two levels below it).
    public static func locate() throws -> Repository {
        var candidates = [FileManager.default.currentDirectoryPath]
        if let executable = programPath {
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

    /// This program's path, read from /proc/self/exe once, before the process leaves
    /// its mount namespace (`StandInHost.enter` reads it first). The kernel resolves
    /// the link from the process's root, but the program's file was opened in the old
    /// namespace, whose mounts the new root does not reach: after unshare(CLONE_NEWNS),
    /// while another process keeps the old namespace alive, the link reads as the path
    /// from that namespace's own root. On a machine that is the same string; in a
    /// chroot it is the path outside it (/srv/jail/home/...), which does not exist
    /// inside, and a `workbook run` started in a check's work directory could not find
    /// its repository (the attendee image's build chroot met this: tools/workshop/image).
    public static let programPath: String? = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")

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
