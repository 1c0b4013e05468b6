import Foundation
import Glibc

/// Never stale: `workbook check` and `workbook run` judge the code as it is on disk.
///
/// The workbook is itself built from the learner's exercises, so a `workbook` built
/// before an edit runs the old code: it would pass broken code and keep failing fixed
/// code. Before judging anything, it compares what it was built from with the sources
/// on disk; if one differs, it builds again through `./workbook` (the same fixed
/// environment every build uses) and runs the new program in its place.
///
/// What a program was built from is a `Snapshot` of its sources (each file's size and
/// modification time, and the exercises' contents), written to `recordPath` after a
/// build during which nothing changed: the snapshot taken before the build equals the
/// one taken after it, so the compiler read exactly that content. A program's own
/// modification time says nothing of the kind: it is when the link *ended*, and a
/// save made after the compiler read the file and before the link ended is older than
/// the program and still not in it (a second save during a build was judged on the
/// first one's build that way, watch's stale verdict).
public enum Freshness {
    /// Set once a program in this process tree found its build current (or just
    /// rebuilt it): the checks' own `workbook run`s, and the program started after a
    /// rebuild, judge the same build and need not look again. Its value is the
    /// fingerprint of the snapshot the program was built from (any other value, such
    /// as the tests' "1", only says "current").
    public static let marker = "WORKBOOK_FRESH"

    /// The program's identity and the snapshot it was built from.
    public static let recordPath = ".build/workbook-built-from"

    /// `workbook check`'s exit status when the sources changed while the checks ran:
    /// the results were the previous save's, so there is no verdict; watch builds and
    /// checks again at once.
    public static let staleStatus: Int32 = 3

    /// The sources as they are on disk: what a program is built from.
    public struct Snapshot: Equatable, Sendable {
        /// Path (relative to the repository) → "size mtime" in nanoseconds, with the
        /// content's hash for an exercise: a file copied back with its old time, or two
        /// saves within one tick of the file system's clock (about 4 ms), still differ.
        public let entries: [String: String]
        /// Path → modification time in seconds, to name the newest change.
        let times: [String: Double]

        /// A short name for this content, shown beside a verdict.
        public var fingerprint: String {
            var text = ""
            for path in entries.keys.sorted() { text += path + " " + (entries[path] ?? "") + "\n" }
            return String(fnv1a(Array(text.utf8)), radix: 16)
        }

        /// When the newest exercise was saved (seconds since 1970), if there is one.
        public var newestExerciseSave: Double? {
            times.filter { $0.key.hasPrefix("exercises/") }.values.max()
        }

        /// The paths whose entry differs from `other`'s, newest first.
        public func changed(since other: [String: String]) -> [String] {
            Set(entries.keys).union(other.keys).filter { entries[$0] != other[$0] }
                .sorted { (times[$0] ?? 0) > (times[$1] ?? 0) }
        }

        public static func == (lhs: Snapshot, rhs: Snapshot) -> Bool { lhs.entries == rhs.entries }
    }

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

    /// The sources on disk now. A file that vanishes while it is read is left out (and
    /// so differs from any snapshot that had it).
    public static func snapshot(of repository: Repository) -> Snapshot {
        var entries: [String: String] = [:]
        var times: [String: Double] = [:]
        for file in sources(in: repository) {
            let path = repository.path(file)
            var information = stat()
            guard stat(path, &information) == 0 else { continue }
            var entry = "\(information.st_size) \(information.st_mtim.tv_sec).\(information.st_mtim.tv_nsec)"
            if file.hasPrefix("exercises/") {
                guard let content = FileManager.default.contents(atPath: path) else { continue }
                entry += " " + String(fnv1a(Array(content)), radix: 16)
            }
            entries[file] = entry
            times[file] = Double(information.st_mtim.tv_sec) + Double(information.st_mtim.tv_nsec) / 1e9
        }
        return Snapshot(entries: entries, times: times)
    }

    /// 64-bit FNV-1a: a short, stable name for a few kilobytes (not a defence against
    /// anyone; it tells a learner's saves apart).
    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash
    }

    /// "device inode size mtime" of a program: a relink makes another.
    static func identity(of program: String) -> String? {
        var information = stat()
        guard stat(program, &information) == 0 else { return nil }
        return "\(information.st_dev) \(information.st_ino) \(information.st_size) \(information.st_mtim.tv_sec).\(information.st_mtim.tv_nsec)"
    }

    /// Notes that `program` (as it is now) was built from `snapshot`.
    public static func record(program: String, builtFrom snapshot: Snapshot, in repository: Repository) {
        guard let identity = identity(of: program) else { return }
        var text = "program \(identity)\n"
        for path in snapshot.entries.keys.sorted() { text += path + "\t" + (snapshot.entries[path] ?? "") + "\n" }
        let final = repository.path(recordPath)
        let temporary = final + ".\(getpid())"
        guard (try? text.write(toFile: temporary, atomically: false, encoding: .utf8)) != nil else { return }
        if rename(temporary, final) != 0 { unlink(temporary) }
    }

    /// The snapshot `program` was built from, when the record is about that very program.
    static func recorded(program: String, in repository: Repository) -> [String: String]? {
        guard let identity = identity(of: program),
            let text = try? String(contentsOfFile: repository.path(recordPath), encoding: .utf8)
        else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.first == Substring("program \(identity)") else { return nil }
        var entries: [String: String] = [:]
        for line in lines.dropFirst() {
            let parts = line.split(separator: "\t", maxSplits: 1)
            if parts.count == 2 { entries[String(parts[0])] = String(parts[1]) }
        }
        return entries
    }

    /// The sources that differ from what `program` was built from, newest first, and
    /// the snapshot they were compared in.
    ///
    /// Without a record for this very program (built by `./workbook`, whose shell
    /// cannot take snapshots, or by hand), the time `./workbook`'s last good build
    /// *started* stands in: every source older than it was on disk before the compiler
    /// ran, so it is in the program. Once that finds nothing changed, the snapshot is
    /// recorded, and the next look compares contents.
    public static func changedSources(in repository: Repository, program: String) -> (changed: [String], now: Snapshot) {
        let now = snapshot(of: repository)
        if let built = recorded(program: program, in: repository) {
            return (now.changed(since: built), now)
        }
        // No record: the program was linked by a build the workbook did not watch (a
        // plain `swift build`, as CI and `swift test` do), or by `./workbook` before its
        // first run recorded it. Its link time is the best we know then; the stamp
        // `./workbook` leaves counts only where it is newer (SwiftPM found nothing to
        // relink: a file saved unchanged). The workbook's own builds — watch's, check's,
        // the reader's — always leave a record, which is exact, so the window between the
        // compiler's read and the link's end only matters for builds it did not make.
        guard var built = modificationTime(program) else { return (now.changed(since: [:]), now) }
        if resolved(program) == resolved(repository.path(".build/debug/workbook")),
            let started = modificationTime(repository.path(".build/workbook-build-started")), started > built
        {
            built = started
        }
        let changed = now.times.filter { $0.value > built }.sorted { $0.value > $1.value }.map(\.key)
        if changed.isEmpty { record(program: program, builtFrom: now, in: repository) }
        return (changed, now)
    }

    /// How a rebuild ended.
    public enum Built: Equatable, Sendable {
        /// The program is built from this content, which is still on disk.
        case built(Snapshot)
        /// The build failed (the builder showed why), or never held still.
        case failed(String)
    }

    /// Builds until the sources held still for a whole build: a snapshot before and
    /// after each `build` (true when it worked); when they differ, a file was saved
    /// while the build ran, maybe after the compiler read it, and the build runs again.
    /// Then records what the program is built from.
    public static func rebuild(repository: Repository, program: String, attempts: Int = 5, build: () -> Bool) -> Built {
        for _ in 0..<attempts {
            let before = snapshot(of: repository)
            guard build() else { return .failed("the build failed") }
            let linked = identity(of: program)
            let after = snapshot(of: repository)
            // The program checked again: another build in this repository (a learner's
            // `workbook check` in another terminal) may have linked it from other code.
            if before == after && linked != nil && identity(of: program) == linked {
                record(program: program, builtFrom: after, in: repository)
                return .built(after)
            }
        }
        return .failed("the exercises kept changing while they were built (\(attempts) builds): save, wait a moment, and save again")
    }

    /// When `workbook check` is about to give a verdict: nil when the program was built
    /// from the sources on disk now, or the newest source that changed since.
    public static func changedSinceBuild(repository: Repository) -> String? {
        guard let built = ProcessInfo.processInfo.environment[marker], built.count > 1 else { return nil }
        let now = snapshot(of: repository)
        guard now.fingerprint != built else { return nil }
        return now.times.max { $0.value < $1.value }?.key ?? "a source"
    }

    /// Returns when this program was built from the code on disk. Otherwise it builds
    /// again and runs the new program with `arguments` (never returning), or, when it
    /// cannot, says how to build and exits.
    public static func ensureCurrent(repository: Repository, arguments: [String]) {
        if ProcessInfo.processInfo.environment[marker] != nil { return }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
        let (changed, now) = changedSources(in: repository, program: executable)
        // Started by `./workbook` after a rebuild this function asked for: the sources
        // as they were before that build, unchanged since, are what it compiled (the
        // same before-and-after rule as `rebuild`; a file dated in the future, which
        // the start time would call newer for ever, is no reason to build again).
        let unchangedSinceBuildStarted = ProcessInfo.processInfo.environment["WORKBOOK_BUILDING_FROM"] == now.fingerprint
        unsetenv("WORKBOOK_BUILDING_FROM")
        guard let newest = changed.first, !unchangedSinceBuildStarted else {
            if !changed.isEmpty { record(program: executable, builtFrom: now, in: repository) }
            unsetenv("WORKBOOK_REBUILDS")
            setenv(marker, now.fingerprint, 1)
            return
        }
        let others = changed.count > 1 ? " (and \(changed.count - 1) more)" : ""
        let script = repository.path("workbook")
        guard access(script, X_OK) == 0 else {
            say(
                "\(newest)\(others) changed since this workbook was built, and \(script), which builds it, is missing: run `swift build` in \(repository.root), then run this command again"
            )
            exit(125)
        }
        // The new program looks again (a save during this build is newer than the
        // build's start): a learner who keeps saving gets a few builds, then a word.
        let rounds = ProcessInfo.processInfo.environment["WORKBOOK_REBUILDS"].flatMap { Int($0) } ?? 0
        guard rounds < 3 else {
            say("\(newest) changed again while the workbook was built (\(rounds) builds): run this command again once your editor has saved")
            exit(125)
        }
        setenv("WORKBOOK_REBUILDS", String(rounds + 1), 1)
        setenv("WORKBOOK_BUILDING_FROM", now.fingerprint, 1)
        say("\(newest)\(others) changed since this workbook was built: building it again")
        if changed.contains(where: { $0.hasPrefix("exercises/") }) { QuickBuild.forgetDriverRecord(repository: repository) }
        // The script builds in a fixed environment (SwiftPM plans the whole build again
        // whenever the environment differs), then runs .build/debug/workbook with the
        // same arguments, which looks at its sources again.
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
