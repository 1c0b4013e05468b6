import Foundation
import Glibc
import Testing

extension ContainerTests.ReliabilityTests {
    /// Root filesystems made to trip a runtime up, each built from a busybox rootfs.
    enum Rootfs: String, CaseIterable {
        case good
        case procToEtc, procToHostProc, procDangling, procMissing
        case devToRoot, devFile
        case sysFile, sysToHostSys
        case symlinkLoop, emptyDirectory, regularFile, symlinkToGood
        case readOnly, readOnlyWithoutProc
        case danglingShell
        case etcToRoot

        /// The host directories a hostile rootfs points at: they must not change.
        var hostTargets: [String] {
            switch self {
            case .procToEtc, .etcToRoot: return ["/etc", "/"]
            case .devToRoot: return ["/", "/dev"]
            // The host's /proc changes by itself (processes come and go); a proc
            // mounted onto it would show in the mount table, which is watched.
            case .sysToHostSys: return ["/sys"]
            default: return []
            }
        }
    }

    /// One line of the table: a command line (with `--rootfs` of a prepared rootfs
    /// put in front when `rootfs` is set), the exit code it must give, words its
    /// stderr must hold (any case), and for the ones that run, what stdout must hold.
    struct Case {
        let name: String
        let arguments: [String]
        var rootfs: Rootfs? = nil
        let status: Int32
        var message: [String] = []
        var stdout: String? = nil
        /// Entries the runtime may add to the rootfs (a missing /proc is created).
        var mayCreate: [String] = []

        /// Refused before anything is made: no rootfs built, SCRATCH_HOME left empty.
        var refusedEarly: Bool { status == 125 }
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        func refused(_ name: String, _ arguments: [String], _ message: String...) {
            cases.append(Case(name: name, arguments: arguments, status: 125, message: message))
        }
        func hostname(_ name: String, _ value: String, _ message: String) {
            refused("--hostname " + name, ["run", "--hostname", value, "--", "true"], "--hostname", message)
        }
        // No command, unknown flags, missing values.
        refused("no command", ["run"], "no command given")
        refused("-- and nothing", ["run", "--"], "no command given")
        refused("an empty command", ["run", "--", ""], "no command given")
        refused("flags and no command", ["run", "--init", "--hostname", "box"], "no command given")
        refused("unknown flag", ["run", "--bogus", "--", "true"], "Unknown option '--bogus'")
        // Chapter 7's flags.
        refused("unknown capability", ["run", "--cap-add", "SYS_BOGUS", "--", "true"], "--cap-add", "no such capability")
        refused("unknown capability to drop", ["run", "--cap-drop", "cap_nothing", "--", "true"], "--cap-drop", "no such capability")
        refused("unknown --security-opt key", ["run", "--security-opt", "apparmor=x", "--", "true"], "unknown key", "apparmor")
        refused("bad no-new-privileges", ["run", "--security-opt", "no-new-privileges=maybe", "--", "true"], "true or false")
        refused(
            "missing seccomp profile", ["run", "--security-opt", "seccomp=/nonexistent/profile.json", "--", "true"], "seccomp profile", "No such file"
        )
        refused("unknown short flag", ["run", "-x", "true"], "Unknown option '-x'")
        refused("Docker's --device", ["run", "--device", "/dev/sda", "sh"], "Unknown option '--device'")
        refused("Docker's --memory-swap", ["run", "--memory-swap", "1g", "--", "true"], "Unknown option '--memory-swap'")
        refused("lone -", ["run", "-", "true"], "Unknown option '-'")
        refused("unknown subcommand", ["bogus"], "Unexpected argument 'bogus'")
        refused("--rootfs without a value", ["run", "--rootfs"], "Missing value for '--rootfs")
        refused("--rootfs then --", ["run", "--rootfs", "--", "true"], "Missing value for '--rootfs")
        refused("--hostname without a value", ["run", "--hostname"], "Missing value for '--hostname")
        refused("--memory without a value", ["run", "--memory"], "Missing value for '--memory")
        refused("--pids-limit without a value", ["run", "--pids-limit"], "Missing value for '--pids-limit")
        refused("--cpus without a value", ["run", "--cpus"], "Missing value for '--cpus")
        // Hostnames: RFC 1123, 1 to 64 bytes.
        hostname("empty", "", "1 to 64 bytes, got 0")
        hostname("65 bytes", String(repeating: "x", count: 65), "got 65")
        hostname("10000 bytes", String(repeating: "x", count: 10000), "got 10000")
        hostname("with a newline", "box\nevil", "a newline")
        hostname("with a tab", "a\tb", "a tab")
        hostname("with ESC", "a\u{1b}[31mb", "control character (U+001B)")
        hostname("with DEL", "a\u{7f}", "control character (U+007F)")
        hostname("with a space", "a b", "a space")
        hostname("with /", "a/b", "'/'")
        hostname("-x", "-x", "cannot start with '-'")
        hostname("--init (a flag)", "--init", "did you leave out the name")
        hostname("with _", "my_box", "'_'")
        hostname("unicode", "bôx", "not ASCII")
        hostname("emoji", "😀", "not ASCII")
        hostname("leading .", ".box", "start or end with '.'")
        hostname("..", "a..b", "'..'")
        hostname("trailing -", "box-", "not '-'")
        // Limits.
        func limit(_ flag: String, _ value: String, _ message: String) {
            refused("\(flag) \(value.count > 20 ? String(value.prefix(12)) + "…" : value)", ["run", flag, value, "--", "true"], flag, message)
        }
        limit("--memory", "12XB", "not a size")
        limit("--memory", "-5m", "cannot be negative")
        limit("--memory", "0", "a limit of 0")
        limit("--memory", "5m", "too little")
        limit("--memory", "8000000000g", "more than 4 PiB")
        limit("--memory", String(repeating: "9", count: 30), "more than 4 PiB")
        limit("--memory", "1e10", "not a size")
        limit("--memory", "", "not a size")
        limit("--memory", "inf", "not a size")
        limit("--memory", "６４m", "not a size")
        limit("--memory", "64 m", "not a size")
        refused("--memory=12XB", ["run", "--memory=12XB", "--", "true"], "--memory 12XB", "not a size")
        limit("--pids-limit", "0", "at least 1")
        limit("--pids-limit", "-1", "at least 1")
        limit("--pids-limit", "abc", "not a whole number")
        limit("--pids-limit", "1.5", "not a whole number")
        limit("--pids-limit", "99999999", "at most 4194304")
        limit("--pids-limit", String(repeating: "9", count: 25), "at most 4194304")
        limit("--cpus", "0", "must be from 0.01")
        limit("--cpus", "-1", "cannot be negative")
        limit("--cpus", "abc", "not a number")
        limit("--cpus", "nan", "not a number")
        limit("--cpus", "inf", "not a number")
        limit("--cpus", "0x1p-1", "not a number")
        limit("--cpus", "1000000", "must be from 0.01")
        limit("--cpus", "", "not a number")
        // Rootfs paths on the host.
        refused("--rootfs missing", ["run", "--rootfs", "/no/such/rootfs", "--", "true"], "/no/such/rootfs does not exist")
        refused("--rootfs a host file", ["run", "--rootfs", "/etc/hostname", "--", "true"], "not a directory")
        refused("--rootfs the host's /", ["run", "--rootfs", "/", "--", "true"], "host's own /")
        // Chapter 6's volumes: refused before anything is made, the flag and path named.
        func volume(_ name: String, _ flag: String, _ value: String, _ message: String) {
            refused(name, ["run", flag, value, "--", "true"], flag + " ", message)
        }
        volume("-v ::", "-v", "::", "the source")
        volume("-v a relative path", "-v", "rel/dir:/x", "neither an absolute host path")
        volume("-v an unknown mode", "-v", "/tmp:/c:xyz", "unknown mode")
        volume("-v a missing host path", "-v", "/no/such/volume:/x", "/no/such/volume does not exist")
        volume("-v a target of /", "-v", "/tmp:/", "cannot be /")
        volume("-v a target of /proc", "-v", "/tmp:/proc", "/proc")
        volume("-v a target under /sys", "-v", "/tmp:/sys/kernel", "/sys")
        volume("--tmpfs an unknown option", "--tmpfs", "/t:uid=0", "unknown tmpfs option")
        volume("--mount an unknown type", "--mount", "type=nfs,target=/x", "bind, volume and tmpfs")
        refused("-v twice on one target", ["run", "-v", "/tmp:/a", "--tmpfs", "/a", "--", "true"], "already the target")

        // Command lines that are odd but valid: they run, as Docker runs them.
        func runs(_ name: String, _ arguments: [String], status: Int32 = 0, stdout: String? = nil, message: [String] = []) {
            cases.append(Case(name: name, arguments: arguments, status: status, message: message, stdout: stdout))
        }
        runs("no --: sh -c", ["run", "sh", "-c", "echo hi"], stdout: "hi\n")
        runs("flags after the command are its own", ["run", "echo", "--init", "--help"], stdout: "--init --help\n")
        runs("--hostname twice: the last wins", ["run", "--hostname", "a", "--hostname", "b", "hostname"], stdout: "b\n")
        runs("--init twice", ["run", "--init", "--init", "--", "true"])
        runs("-m then --memory: the last wins", ["run", "-m", "1g", "--memory", "64m", "--", "true"])
        runs(
            "--hostname of 64 bytes", ["run", "--hostname", String(repeating: "h", count: 64), "hostname"],
            stdout: String(repeating: "h", count: 64) + "\n")
        runs("--hostname web-1.local", ["run", "--hostname=web-1.local", "hostname"], stdout: "web-1.local\n")
        runs("a 100 kB argument", ["run", "--", "sh", "-c", "echo ${#1}", "sh", String(repeating: "a", count: 100_000)], stdout: "100000\n")
        runs("a command named --init after --", ["run", "--", "--init"], status: 127, message: ["--init"])
        runs("a command not found", ["run", "--", "no-such-tool"], status: 127, message: ["no-such-tool", "not found"])
        runs("a unicode command", ["run", "--", "ünïcødé"], status: 127, message: ["ünïcødé"])
        runs("a command with a newline", ["run", "--", "echo\nx"], status: 127, message: ["not found"])
        runs("a directory as the command", ["run", "--", "/etc"], status: 126)
        runs("the command's own status", ["run", "--", "sh", "-c", "exit 7"], status: 7)
        // Under --init, so the shell is not PID 1 (which the kernel shields from its
        // own namespace's SIGKILL).
        runs("the command killed by SIGKILL", ["run", "--init", "--", "sh", "-c", "kill -9 $$"], status: 137)

        // Hostile root filesystems.
        func hostile(
            _ rootfs: Rootfs, _ name: String, status: Int32, _ command: [String] = ["true"], message: [String] = [], stdout: String? = nil,
            mayCreate: [String] = []
        ) {
            cases.append(
                Case(
                    name: name, arguments: ["run", "--"] + command, rootfs: rootfs, status: status, message: message, stdout: stdout,
                    mayCreate: mayCreate))
        }
        hostile(.good, "a good rootfs (the baseline)", status: 0, ["sh", "-c", "echo ok"], stdout: "ok\n")
        hostile(.procToEtc, "/proc a symlink to /etc", status: 125, message: ["/proc", "symbolic link"])
        hostile(.procToHostProc, "/proc a symlink to /proc", status: 125, message: ["/proc", "symbolic link"])
        hostile(.procDangling, "/proc a dangling symlink", status: 125, message: ["/proc", "symbolic link"])
        hostile(.devToRoot, "/dev a symlink to /", status: 125, message: ["/dev", "symbolic link"])
        hostile(.devFile, "/dev a regular file", status: 125, message: ["/dev", "not a directory"])
        hostile(.sysFile, "/sys a regular file", status: 125, message: ["/sys", "not a directory"])
        hostile(.sysToHostSys, "/sys a symlink to /sys", status: 125, message: ["/sys", "symbolic link"])
        hostile(
            .procMissing, "/proc missing: created, runs", status: 0, ["sh", "-c", "test -r /proc/self/stat && echo ok"], stdout: "ok\n",
            mayCreate: ["/proc"])
        hostile(.symlinkLoop, "the rootfs a symlink loop", status: 125, message: ["symbolic link loop"])
        hostile(.emptyDirectory, "the rootfs an empty directory", status: 125, message: ["is empty"])
        hostile(.regularFile, "the rootfs a regular file", status: 125, message: ["not a directory"])
        hostile(.symlinkToGood, "the rootfs a symlink to a good one", status: 0, ["sh", "-c", "echo ok"], stdout: "ok\n")
        hostile(.readOnly, "a read-only rootfs runs", status: 0, ["sh", "-c", "echo ok"], stdout: "ok\n")
        hostile(.readOnly, "a read-only rootfs cannot be written", status: 1, ["touch", "/x"], message: ["Read-only file system"])
        // Nothing can be made on a read-only rootfs: a missing /proc is an error that names it.
        hostile(.readOnlyWithoutProc, "a read-only rootfs without /proc", status: 125, message: ["/proc", "Read-only file system"])
        hostile(.danglingShell, "/bin/sh a dangling symlink", status: 127, ["sh", "-c", "true"], message: ["sh"])
        hostile(.etcToRoot, "/etc a symlink to /", status: 0, ["ls", "/etc/bin/busybox"], stdout: "/etc/bin/busybox\n")
        cases.append(
            Case(
                name: "--read-only on a read-only rootfs", arguments: ["run", "--read-only", "--", "sh", "-c", "echo ok"], rootfs: .readOnly,
                status: 0, stdout: "ok\n"))
        return cases
    }()

    /// A table of bad command lines and hostile root filesystems: each gives its
    /// documented exit code and message, and leaves the host as it was — its mount
    /// table, its hostname, the rootfs, the host directories a hostile rootfs points
    /// at, and (for input refused up front) an empty SCRATCH_HOME.
    @Test("bad command lines and hostile root filesystems: documented exit code and message, host unchanged")
    func badInputTable() throws {
        let root = try Host.makeTestRoot("bad-input")
        defer { Host.removeTestRoot(root) }
        let warmHome = root + "/warm-home"
        try FileManager.default.createDirectory(atPath: warmHome, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/rootfs", withIntermediateDirectories: true)
        let base = root + "/base"
        try #require(Host.tool([Host.scratch, "rootfs", "build", base], scratchDirectory: root) == 0, "scratch rootfs build \(base)")
        var paths: [Rootfs: String] = [:]
        for rootfs in Rootfs.allCases { paths[rootfs] = try prepare(rootfs, base: base, root: root) }
        defer {
            if let readOnly = paths[.readOnly] { umount2(readOnly, Int32(MNT_DETACH)) }
        }

        let start = Date()
        var table = Table(
            "Reliability: bad command lines and hostile root filesystems", columns: ["#", "case", "exit", "want", "message", "host", "result"])
        var failures: [String] = []
        for (number, item) in Self.cases.enumerated() {
            let home = item.refusedEarly ? root + "/home-\(number)" : warmHome
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            var arguments = item.arguments
            let rootfsPath = item.rootfs.flatMap { paths[$0] }
            if let rootfsPath { arguments.insert(contentsOf: ["--rootfs", rootfsPath], at: 1) }
            let watched = Array(Set((item.rootfs?.hostTargets ?? []) + ["/", "/etc"])).sorted()
            let before = snapshot(root: root, rootfs: rootfsPath, watched: watched)
            let result = Host.runScratch(arguments, home: home, scratchDirectory: root)
            let after = snapshot(root: root, rootfs: rootfsPath, watched: watched)

            var problems: [String] = []
            if result.status != item.status { problems.append("exit \(result.status), want \(item.status)") }
            let missing = item.message.filter { !result.stderr.lowercased().contains($0.lowercased()) }
            if !missing.isEmpty { problems.append("stderr lacks \(missing)") }
            if let stdout = item.stdout, result.stdout != stdout { problems.append("stdout \(result.stdout.prefix(80).debugDescription)") }
            let hostProblems = compare(before, after, mayCreate: item.mayCreate)
            problems += hostProblems
            if item.refusedEarly {
                let made = (try? FileManager.default.contentsOfDirectory(atPath: home)) ?? []
                if !made.isEmpty { problems.append("SCRATCH_HOME got \(made)") }
            }
            let messageOK = missing.isEmpty && (item.stdout == nil || result.stdout == item.stdout)
            table.add([
                "\(number + 1)", item.name, "\(result.status)", "\(item.status)", messageOK ? "ok" : "WRONG",
                hostProblems.isEmpty ? "unchanged" : "CHANGED", problems.isEmpty ? "pass" : "FAIL",
            ])
            if !problems.isEmpty {
                failures.append(
                    "\(number + 1) \(item.name): \(problems.joined(separator: "; ")) — stderr: \(result.stderr.prefix(300).debugDescription)")
            }
        }
        let passed = Self.cases.count - failures.count
        table.add([
            "", "ran \(Self.cases.count), passed \(passed), failed \(failures.count)", "", "", "", "", seconds(Date().timeIntervalSince(start)),
        ])
        table.print()
        for failure in failures { Issue.record(Comment(rawValue: failure)) }
        #expect(Self.cases.count >= 60)
    }

    struct Snapshot: Equatable {
        var mounts: Set<String>
        var hostname: String
        var rootfs: [String]
        var watched: [String: [String]]
    }

    func snapshot(root: String, rootfs: String?, watched: [String]) -> Snapshot {
        Snapshot(
            mounts: Host.relevantMounts(root: root), hostname: Host.hostname(), rootfs: rootfs.map { Host.tree($0) } ?? [],
            watched: Dictionary(uniqueKeysWithValues: watched.map { ($0, Host.listing($0)) }))
    }

    func compare(_ before: Snapshot, _ after: Snapshot, mayCreate: [String]) -> [String] {
        var problems: [String] = []
        if let changes = Host.mountChanges(before.mounts, after.mounts) { problems.append(changes) }
        if before.hostname != after.hostname { problems.append("hostname \(before.hostname) → \(after.hostname)") }
        let allowed = { (line: String) in mayCreate.contains { line == $0 || line.hasPrefix($0 + " ") || line.hasPrefix($0 + "/") } }
        let added = Set(after.rootfs).subtracting(before.rootfs).filter { !allowed($0) }
        let removed = Set(before.rootfs).subtracting(after.rootfs)
        if !added.isEmpty || !removed.isEmpty { problems.append("rootfs +\(added.sorted().prefix(5)) -\(removed.sorted().prefix(5))") }
        for (directory, listing) in before.watched where after.watched[directory] != listing {
            let now = after.watched[directory] ?? []
            problems.append(
                "host \(directory): +\(Set(now).subtracting(listing).sorted().prefix(5)) -\(Set(listing).subtracting(now).sorted().prefix(5))")
        }
        return problems
    }

    /// Builds one rootfs of the table from the busybox one at `base`.
    func prepare(_ rootfs: Rootfs, base: String, root: String) throws -> String {
        let path = root + "/rootfs/" + rootfs.rawValue
        func copy() throws {
            try #require(Host.tool(["cp", "-a", base, path]) == 0, "cp -a \(base) \(path)")
        }
        func replace(_ entry: String, withLinkTo target: String) throws {
            try copy()
            Host.tool(["rm", "-rf", "--one-file-system", path + "/" + entry])
            try #require(symlink(target, path + "/" + entry) == 0)
        }
        func replace(_ entry: String, withFile: Void) throws {
            try copy()
            Host.tool(["rm", "-rf", "--one-file-system", path + "/" + entry])
            try #require(FileManager.default.createFile(atPath: path + "/" + entry, contents: Data("not a directory\n".utf8)))
        }
        switch rootfs {
        case .good: try copy()
        case .procToEtc: try replace("proc", withLinkTo: "/etc")
        case .procToHostProc: try replace("proc", withLinkTo: "/proc")
        case .procDangling: try replace("proc", withLinkTo: "/nonexistent/proc")
        case .procMissing:
            try copy()
            try #require(rmdir(path + "/proc") == 0)
        case .devToRoot: try replace("dev", withLinkTo: "/")
        case .devFile: try replace("dev", withFile: ())
        case .sysFile: try replace("sys", withFile: ())
        case .sysToHostSys: try replace("sys", withLinkTo: "/sys")
        case .symlinkLoop: try #require(symlink(rootfs.rawValue, path) == 0)
        case .emptyDirectory: try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        case .regularFile: try #require(FileManager.default.createFile(atPath: path, contents: Data("not a rootfs\n".utf8)))
        case .symlinkToGood: try #require(symlink("good", path) == 0)
        case .readOnly:
            try copy()
            // A read-only filesystem of its own: a bind mount of the copy onto
            // itself, remounted read-only. Removed at the end of the test.
            try #require(Host.tool(["mount", "--bind", path, path]) == 0)
            try #require(Host.tool(["mount", "-o", "remount,bind,ro", path]) == 0)
        case .readOnlyWithoutProc:
            try copy()
            try #require(rmdir(path + "/proc") == 0)
            try #require(Host.tool(["mount", "--bind", path, path]) == 0)
            try #require(Host.tool(["mount", "-o", "remount,bind,ro", path]) == 0)
        case .danglingShell:
            try copy()
            Host.tool(["rm", "-f", path + "/bin/sh"])
            try #require(symlink("/nonexistent/sh", path + "/bin/sh") == 0)
        case .etcToRoot: try replace("etc", withLinkTo: "/")
        }
        return path
    }
}
