import Foundation
import Glibc

/// Never stale: `workbook check` and `workbook run` judge the code as it is on disk.
///
/// The workbook is itself built from the learner's exercises, so a `workbook` built
/// before an edit runs the old code: it would pass broken code and keep failing fixed
/// code. Before judging anything, it compares its own build time with the sources it
/// is built from; if one is newer, it builds again through `./workbook` (the same
/// fixed environment every build uses) and runs the new program in its place.
public enum Freshness {
    /// Set once a program in this process tree found its build current (or just
    /// rebuilt it): the checks' own `workbook run`s, and the program started after a
    /// rebuild, judge the same build and need not look again.
    public static let marker = "WORKBOOK_FRESH"

    /// The files the `workbook` program is built from, relative to the repository:
    /// Package.swift, the exercises, and every module but `scratch`'s (which the
    /// workbook does not include).
    public static func sources(in repository: Repository) -> [String] {
        var files = ["Package.swift"]
        var folders = ["exercises"]
        let modules = (try? FileManager.default.contentsOfDirectory(atPath: repository.path("Sources"))) ?? []
        folders += modules.filter { $0 != "scratch" && !$0.hasPrefix(".") }.sorted().map { "Sources/" + $0 }
        for folder in folders {
            guard let walker = FileManager.default.enumerator(atPath: repository.path(folder)) else { continue }
            while let relative = walker.nextObject() as? String {
                let name = (relative as NSString).lastPathComponent
                if name.hasPrefix(".") { continue }
                if [".swift", ".c", ".h", ".modulemap"].contains(where: name.hasSuffix) {
                    files.append(folder + "/" + relative)
                }
            }
        }
        return files
    }

    /// The sources changed after `executable` was built, newest first.
    public static func changedSources(in repository: Repository, since executable: String) -> [String] {
        guard var built = modificationTime(executable) else { return [] }
        // When SwiftPM finds nothing to relink (a file saved without a change), the
        // program keeps its old time; `./workbook` notes when its last good build
        // started, and every source older than that is in this repository's program.
        if resolved(executable) == resolved(repository.path(".build/debug/workbook")),
            let started = modificationTime(repository.path(".build/workbook-build-started"))
        {
            built = max(built, started)
        }
        return sources(in: repository)
            .compactMap { file in modificationTime(repository.path(file)).flatMap { $0 > built ? (file, $0) : nil } }
            .sorted { $0.1 > $1.1 }
            .map(\.0)
    }

    /// Returns when this program was built from the code on disk. Otherwise it builds
    /// again and runs the new program with `arguments` (never returning), or, when it
    /// cannot, says how to build and exits.
    public static func ensureCurrent(repository: Repository, arguments: [String]) {
        if ProcessInfo.processInfo.environment[marker] != nil { return }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
        let changed = changedSources(in: repository, since: executable)
        setenv(marker, "1", 1)
        guard let newest = changed.first else { return }
        let others = changed.count > 1 ? " (and \(changed.count - 1) more)" : ""
        let script = repository.path("workbook")
        guard access(script, X_OK) == 0 else {
            say(
                "\(newest)\(others) changed since this workbook was built, and \(script), which builds it, is missing: run `swift build` in \(repository.root), then run this command again"
            )
            exit(125)
        }
        say("\(newest)\(others) changed since this workbook was built: building it again")
        // The script builds in a fixed environment (SwiftPM plans the whole build again
        // whenever the environment differs), then runs .build/debug/workbook with the
        // same arguments; the marker tells that program the build is current.
        var pointers: [UnsafeMutablePointer<CChar>?] = ([script] + arguments.dropFirst()).map { strdup($0) }
        pointers.append(nil)
        execv(script, &pointers)
        let error = String(cString: strerror(errno))
        say("\(newest) changed since this workbook was built, and running \(script) to build it again failed: \(error) — run it by hand")
        exit(125)
    }

    static func resolved(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    static func modificationTime(_ path: String) -> Double? {
        var information = stat()
        guard stat(path, &information) == 0 else { return nil }
        return Double(information.st_mtim.tv_sec) + Double(information.st_mtim.tv_nsec) / 1e9
    }

    static func say(_ text: String) {
        let line = Array("workbook: \(text)\n".utf8)
        line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}
