import Foundation

/// `workbook reset N`: chapter N's exercise folder as the repository's last commit has
/// it (`git checkout HEAD -- FOLDER`). Files you added there are not git's to restore:
/// they stay, and are named.
public struct ExerciseReset {
    public let repository: Repository
    public let chapter: Chapter

    public init(repository: Repository, chapter: Chapter) {
        self.repository = repository
        self.chapter = chapter
    }

    /// `git status --porcelain` of the folder: what a reset would undo (` M`, ` D`) and
    /// what it would leave (`??`).
    public func changes() throws -> (changed: [String], untracked: [String]) {
        let status = try git(["status", "--porcelain", "--untracked-files=all", "--", chapter.exerciseFolder])
        var changed: [String] = []
        var untracked: [String] = []
        for line in status.split(separator: "\n") where line.count > 3 {
            let path = String(line.dropFirst(3))
            if line.hasPrefix("??") { untracked.append(path) } else { changed.append(path) }
        }
        return (changed, untracked)
    }

    public func reset() throws {
        _ = try git(["checkout", "HEAD", "--", chapter.exerciseFolder])
    }

    func git(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", repository.root] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch {
            throw WorkbookError("cannot run git (\(error.localizedDescription)) — `apt-get install git`")
        }
        let text = output.fileHandleForReading.readDataToEndOfFile()
        let problem = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let said = String(decoding: problem, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw WorkbookError(
                "git \(arguments.first ?? "") failed in \(repository.root): \(said) — reset needs the workbook as a git clone")
        }
        return String(decoding: text, as: UTF8.self)
    }
}
