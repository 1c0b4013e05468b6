import Foundation
import Checks
import Glibc

/// The reliability suite drives the built `scratch` from outside, as a user and a
/// supervisor would, and looks at the host afterwards. Everything here is plain
/// POSIX: its own children are spawned with posix_spawn and reaped by pid, so no
/// other test's processes are ever waited for, and no Foundation `Process`
/// machinery sits between a SIGKILL and the runtime it is aimed at.
enum Host {
    static let isRoot = geteuid() == 0

    /// How many runs the big tests make (parallel runs, kills). 200 by default, as the
    /// issue asks; RELIABILITY_SIZE sets another size (CI keeps the default: the whole
    /// suite takes well under the 3 minutes it is allowed on a 2-core machine).
    static let size: Int = {
        if let text = ProcessInfo.processInfo.environment["RELIABILITY_SIZE"], let value = Int(text), value > 0 { return value }
        return 200
    }()

    /// The directory holding this test binary also holds `scratch` (as in ChapterTests).
    static let binDirectory: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("scratch").path) && directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.path
    }()

    static var scratch: String { binDirectory + "/scratch" }

    // MARK: Running scratch

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
        let seconds: Double

        /// Docker's reading of a wait status: the exit code, or 128+N for signal N.
        static func exitCode(_ status: Int32) -> Int32 {
            let signal = status & 0x7f
            return signal == 0 ? (status >> 8) & 0xff : 128 + signal
        }
    }

    /// The environment scratch runs with: ours, its SCRATCH_HOME, no colours.
    static func environment(home: String) -> [String] {
        var environment = ProcessInfo.processInfo.environment
        environment["SCRATCH_HOME"] = home
        environment["NO_COLOR"] = "1"
        return environment.map { "\($0.key)=\($0.value)" }
    }

    /// Starts `scratch arguments…` with stdin from /dev/null and stdout/stderr into
    /// files: no pipe can fill up, and a killed runtime leaves its words behind.
    static func spawnScratch(_ arguments: [String], home: String, output: String) -> pid_t? {
        spawn([scratch] + arguments, environment: environment(home: home), stdout: output + ".out", stderr: output + ".err")
    }

    static func spawn(_ argv: [String], environment: [String], stdout: String, stderr: String) -> pid_t? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup($0) } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var pid: pid_t = 0
        // The test runner's threads may block signals; the runtime must start as a
        // shell would start it: nothing blocked, every disposition the default.
        let result = withCleanSpawnAttributes { posix_spawn(&pid, argv[0], &actions, &$0, cArguments, cEnvironment) }
        return result == 0 ? pid : nil
    }

    /// waitpid for one child of ours, retrying on EINTR; its wait status.
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status
    }

    /// The wait status if the child has ended, else nil (WNOHANG).
    static func poll(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        return result == pid ? status : nil
    }

    /// Runs `scratch arguments…` to the end.
    static func runScratch(_ arguments: [String], home: String, scratchDirectory: String) -> Output {
        let base = scratchDirectory + "/out-\(UUID().uuidString)"
        defer {
            unlink(base + ".out")
            unlink(base + ".err")
        }
        let start = Date()
        guard let pid = spawnScratch(arguments, home: home, output: base) else {
            return Output(status: -1, stdout: "", stderr: "posix_spawn failed: \(String(cString: strerror(errno)))", seconds: 0)
        }
        let status = wait(pid)
        return Output(
            status: Output.exitCode(status), stdout: read(base + ".out"), stderr: read(base + ".err"),
            seconds: Date().timeIntervalSince(start))
    }

    /// Runs a host tool (mount, cp, rm…) to the end; its exit code.
    @discardableResult
    static func tool(_ argv: [String], scratchDirectory: String = "/tmp") -> Int32 {
        let base = scratchDirectory + "/tool-\(UUID().uuidString)"
        defer {
            unlink(base + ".out")
            unlink(base + ".err")
        }
        let full = argv[0].hasPrefix("/") ? argv : ["/usr/bin/env"] + argv
        guard let pid = spawn(full, environment: environment(home: "/nonexistent"), stdout: base + ".out", stderr: base + ".err") else { return -1 }
        return Output.exitCode(wait(pid))
    }

    static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    // MARK: Temporary directories, removed on every path

    /// A fresh directory under /tmp for one test: homes, rootfses, outputs.
    static func makeTestRoot(_ name: String) throws -> String {
        let path = "/tmp/reliability-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Unmounts anything left under `root` (deepest first), then removes it without
    /// ever crossing into another filesystem: if a bug left a bind mount of a host
    /// directory under it, `rm` must not follow it there.
    static func removeTestRoot(_ root: String) {
        for mountPoint in mountPoints(under: root).sorted(by: { $0.count > $1.count }) {
            umount2(mountPoint, Int32(MNT_DETACH))
        }
        tool(["rm", "-rf", "--one-file-system", root])
    }

    // MARK: What the host looks like

    /// The host's mounts as (mount point, type, source) lines, from /proc/self/mountinfo.
    static func mounts() -> [String] {
        read("/proc/self/mountinfo").split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), fields.count > dash + 2, fields.count > 4 else { return nil }
            return "\(unescape(String(fields[4]))) \(fields[dash + 1]) \(fields[dash + 2])"
        }
    }

    static func mountPoints(under root: String) -> [String] {
        mounts().map { String($0.split(separator: " ")[0]) }.filter { $0 == root || $0.hasPrefix(root + "/") }
    }

    /// Mounts that could be ours: anything under our root, and anything outside the
    /// places other runs on this shared host make their own (/tmp, /run, cgroups). A
    /// runtime that followed a hostile symlink would mount onto /, /etc, /dev… — those
    /// are all in view.
    static func relevantMounts(root: String) -> Set<String> {
        Set(
            mounts().filter { line in
                let point = String(line.split(separator: " ")[0])
                if point == root || point.hasPrefix(root + "/") { return true }
                // Others mount there: test runs under /tmp and /run, and a peer
                // runtime's setup a cgroup v1 hierarchy (crun wants hugetlb mounted).
                return !(point.hasPrefix("/tmp/") || point.hasPrefix("/run/") || point.hasPrefix("/var/tmp/") || point.hasPrefix("/sys/fs/cgroup/"))
            })
    }

    /// What changed between two views of the mount table, or nil.
    static func mountChanges(_ before: Set<String>, _ after: Set<String>) -> String? {
        before == after ? nil : "mounts added \(after.subtracting(before).sorted()), removed \(before.subtracting(after).sorted())"
    }

    /// mountinfo escapes space, tab, newline and backslash as octal.
    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
            .replacingOccurrences(of: "\\012", with: "\n").replacingOccurrences(of: "\\134", with: "\\")
    }

    static func hostname() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        buffer.withUnsafeMutableBytes { bytes in
            if let base = bytes.baseAddress { _ = gethostname(base.assumingMemoryBound(to: CChar.self), bytes.count) }
        }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Every entry under `path` (not following symlinks): relative path, type, mode,
    /// size of regular files, target of symlinks. Two equal listings: nothing was
    /// added, removed, replaced or rewritten in a way that changes its size.
    static func tree(_ path: String, depth: Int = 64) -> [String] {
        var lines: [String] = []
        func walk(_ relative: String, _ level: Int) {
            let full = path + relative
            var info = stat()
            guard lstat(full, &info) == 0 else { return }
            let type = info.st_mode & S_IFMT
            var line = "\(relative.isEmpty ? "." : relative) \(String(info.st_mode, radix: 8))"
            if type == S_IFREG { line += " \(info.st_size)" }
            if type == S_IFLNK { line += " -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: full)) ?? "?") }
            lines.append(line)
            if type == S_IFDIR && level < depth {
                for name in ((try? FileManager.default.contentsOfDirectory(atPath: full)) ?? []).sorted() {
                    walk(relative + "/" + name, level + 1)
                }
            }
        }
        walk("", 0)
        return lines
    }

    /// The names directly in a host directory, with their types.
    static func listing(_ path: String) -> [String] { tree(path, depth: 1) }

    // MARK: Processes

    /// /proc/<pid>/stat's start time (field 22): with the pid, it names one process
    /// for good, even after the pid is reused.
    static func startTime(_ pid: pid_t) -> String? {
        let text = read("/proc/\(pid)/stat")
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the comm: state is field 3, so start time (22) is index 19 here.
        return fields.count > 19 ? String(fields[19]) : nil
    }

    /// The state letter (R, S, T, Z…) of a process, or nil when it is gone.
    static func state(_ pid: pid_t) -> Character? {
        let text = read("/proc/\(pid)/stat")
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ").first?.first
    }

    /// The children of every thread of `pid` (/proc/<pid>/task/*/children).
    static func children(_ pid: pid_t) -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            read("/proc/\(pid)/task/\(task)/children").split(separator: " ").compactMap { pid_t($0) }
        }
    }

    /// `pid`'s descendants, each with its start time.
    static func descendants(_ pid: pid_t) -> [(pid: pid_t, start: String)] {
        var found: [(pid: pid_t, start: String)] = []
        var queue = children(pid)
        while let next = queue.popLast() {
            guard let start = startTime(next) else { continue }
            found.append((next, start))
            queue += children(next)
        }
        return found
    }

    /// True while the process with this pid and start time exists and is not a zombie.
    static func isAlive(_ pid: pid_t, start: String) -> Bool {
        guard startTime(pid) == start, let state = state(pid) else { return false }
        return state != "Z" && state != "X"
    }

    /// Waits until every process is gone (up to `timeout`); the ones still alive.
    static func waitGone(_ processes: [(pid: pid_t, start: String)], timeout: Double) -> [(pid: pid_t, start: String)] {
        let deadline = Date().addingTimeInterval(timeout)
        var alive = processes
        while true {
            alive = alive.filter { isAlive($0.pid, start: $0.start) }
            if alive.isEmpty || Date() > deadline { return alive }
            usleep(2000)
        }
    }

    // MARK: scratch's own things on the host: cgroups and state

    static let stateRoot = "/run/scratch"

    /// Every `scratch` parent group: /sys/fs/cgroup/scratch on v2, one per hierarchy on v1.
    static func cgroupParents() -> [String] {
        var parents: [String] = []
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/scratch") { parents.append("/sys/fs/cgroup/scratch") }
        for hierarchy in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            let parent = "/sys/fs/cgroup/\(hierarchy)/scratch"
            if FileManager.default.fileExists(atPath: parent) { parents.append(parent) }
        }
        return parents
    }

    /// The container ids that have a cgroup under any `scratch` parent.
    static func cgroupIDs() -> Set<String> {
        Set(cgroupParents().flatMap { ((try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? []).filter(looksLikeID) })
    }

    /// The cgroup directories of one id, in every hierarchy.
    static func cgroupDirectories(of id: String) -> [String] {
        cgroupParents().map { $0 + "/" + id }.filter { FileManager.default.fileExists(atPath: $0) }
    }

    static func stateDirectory(of id: String) -> String { stateRoot + "/" + id }

    static func looksLikeID(_ name: String) -> Bool {
        name.count == 12 && name.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    /// The ids a runtime process is working on, as far as the host shows them: files
    /// it holds open under /run/scratch/<id> (its state and lock) or a cgroup
    /// /scratch/<id>, and the cgroup its children are in.
    static func ids(ofRuntime pid: pid_t, children: [pid_t]) -> Set<String> {
        var ids: Set<String> = []
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        for fd in fds {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)") else { continue }
            ids.formUnion(idsIn(path: target))
        }
        for child in children {
            for line in read("/proc/\(child)/cgroup").split(separator: "\n") {
                ids.formUnion(idsIn(path: String(line)))
            }
        }
        return ids
    }

    /// "…/scratch/<id>…" in a path: the id.
    static func idsIn(path: String) -> Set<String> {
        let parts = path.split(separator: "/").map(String.init)
        var ids: Set<String> = []
        for (index, part) in parts.enumerated() where part == "scratch" && index + 1 < parts.count && looksLikeID(parts[index + 1]) {
            ids.insert(parts[index + 1])
        }
        return ids
    }

    /// True when a cgroup of this id still holds a process: a live container, someone
    /// else's perhaps, never a leftover.
    static func cgroupHoldsProcesses(_ id: String) -> Bool {
        cgroupDirectories(of: id).contains { directory in
            !read(directory + "/cgroup.procs").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        }
    }

    /// Removes what a test found left behind, so one failure does not pollute the
    /// host for the next run: empty cgroups (rmdir) and the state directory.
    static func removeLeftovers(of id: String) {
        for directory in cgroupDirectories(of: id) where !cgroupHoldsProcesses(id) { rmdir(directory) }
        let state = stateDirectory(of: id)
        if FileManager.default.fileExists(atPath: state) { tool(["rm", "-rf", "--one-file-system", state]) }
    }
}

/// A table printed at the end of a test: the suite's figures.
struct Table {
    let title: String
    let columns: [String]
    var rows: [[String]] = []

    init(_ title: String, columns: [String]) {
        self.title = title
        self.columns = columns
    }

    mutating func add(_ row: [String]) { rows.append(row) }

    var text: String {
        let widths = columns.indices.map { index in
            ([columns[index]] + rows.map { index < $0.count ? $0[index] : "" }).map(\.count).max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            "| "
                + columns.indices.map { index in
                    let cell = index < cells.count ? cells[index] : ""
                    return cell + String(repeating: " ", count: widths[index] - cell.count)
                }.joined(separator: " | ") + " |"
        }
        let rule = "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|"
        return ([title, line(columns), rule] + rows.map(line)).joined(separator: "\n")
    }

    func print() {
        Swift.print("\n" + text + "\n")
    }
}

func seconds(_ value: Double) -> String { String(format: "%.1f s", value) }
func milliseconds(_ value: Double) -> String { String(format: "%.0f ms", value * 1000) }
