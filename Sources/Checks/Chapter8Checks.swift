import Foundation
import Glibc

// Chapter 8 — rootless: the runtime started by a real user who is not root. The
// checks make that user (useradd, a unique name, its group `users` so that its uid
// and gid differ and a swap shows), run the runtime as them, and look from inside
// (id, the maps, setgroups) and from the host (/proc/PID/status, the owner of a file
// the container made). The range check gives its own user 65,536 subordinate ids
// (useradd writes the lines to /etc/subuid and /etc/subgid; userdel removes them).
// Every user goes with the check run (CheckContext.tearDown), on every path.
//
// The learner's runtime still runs in the stand-in host: `workbook run 8 --as-user
// NAME` makes it as root, then becomes NAME before the story starts. `scratch run`
// is started through setpriv(1) as NAME.

/// A user the chapter 8 checks made, and what it owns.
final class CheckUser: @unchecked Sendable {
    let name: String
    let uid: uid_t
    let gid: gid_t
    /// Its home, owned by it: XDG_RUNTIME_DIR, SCRATCH_HOME and the volume are in it.
    let home: String
    /// The first host uid and gid of its subordinate range, when it has one.
    let range: (uid: UInt32, gid: UInt32)?

    private init(name: String, uid: uid_t, gid: gid_t, home: String, range: (uid: UInt32, gid: UInt32)?) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
        self.range = range
    }

    /// useradd, retried while another process holds the lock of /etc/passwd.
    static func make(in directory: String, withRange: Bool) throws -> CheckUser {
        let name = "wb8" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let home = directory + "/home-" + name
        var arguments = ["useradd", "-M", "-N", "-g", "users", "-d", home, "-s", "/bin/sh"]
        // One id: no subordinate range at all (Debian's useradd gives one by default).
        if !withRange { arguments += ["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"] }
        var result = CheckContext.runHost(arguments + [name])
        for _ in 0..<20 where result.status != 0 && result.stderr.contains("lock") {
            usleep(200_000)
            result = CheckContext.runHost(arguments + [name])
        }
        guard result.status == 0, let entry = getpwnam(name) else {
            throw CheckSetupError("could not make a user for the rootless checks (useradd \(name)): \(describe(result))")
        }
        let (uid, gid) = (entry.pointee.pw_uid, entry.pointee.pw_gid)
        var range: (uid: UInt32, gid: UInt32)?
        if withRange {
            range = subordinateStart(of: name, in: "/etc/subuid").flatMap { uidStart in
                subordinateStart(of: name, in: "/etc/subgid").map { (uidStart, $0) }
            }
        }
        let user = CheckUser(name: name, uid: uid, gid: gid, home: home, range: range)
        guard !withRange || range != nil else {
            user.remove()
            throw CheckSetupError(
                "useradd gave \(name) no range of 65,536 ids in /etc/subuid and /etc/subgid (SUB_UID_COUNT in /etc/login.defs)")
        }
        for path in [home, home + "/run", home + "/scratch-home", home + "/volume"] {
            mkdir(path, 0o700)
            chown(path, uid, gid)
        }
        return user
    }

    /// Its processes (by pid), then the user with its home and its subordinate lines.
    func remove() {
        for _ in 0..<3 {
            let pids = CheckUser.processes(of: uid)
            if pids.isEmpty { break }
            for pid in pids { kill(pid, SIGKILL) }
            usleep(50_000)
        }
        var result = CheckContext.runHost(["userdel", "-r", name])
        for _ in 0..<20 where result.status != 0 && result.stderr.contains("lock") {
            usleep(200_000)
            result = CheckContext.runHost(["userdel", "-r", name])
        }
        try? FileManager.default.removeItem(atPath: home)
    }

    /// The environment its runtime runs with: its own runtime directory and store.
    func environment(from base: [String: String]) -> [String: String] {
        var environment = base
        environment["HOME"] = home
        environment["USER"] = name
        environment["LOGNAME"] = name
        environment["XDG_RUNTIME_DIR"] = home + "/run"
        environment["SCRATCH_HOME"] = home + "/scratch-home"
        environment["XDG_DATA_HOME"] = nil
        environment["XDG_CACHE_HOME"] = nil
        return environment
    }

    static func subordinateStart(of name: String, in file: String) -> UInt32? {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + ":") }
        return line.flatMap { $0.split(separator: ":").dropFirst().first }.flatMap { UInt32($0) }
    }

    /// Every process whose real uid is `uid`.
    static func processes(of uid: uid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = pid_t(entry), let ids = statusIDs(pid, field: "Uid"), ids.first == uid else { return nil }
            return pid
        }
    }

    /// The four ids (real, effective, saved, filesystem) of /proc/PID/status's `Uid:`
    /// or `Gid:` line.
    static func statusIDs(_ pid: pid_t, field: String) -> [UInt32]? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
        else { return nil }
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().compactMap { UInt32($0) }
    }
}

extension CheckContext {
    /// The check run's user (`range`: with 65,536 subordinate ids), made on first use;
    /// a failure to make it is kept too, and every check of the run is skipped with it
    /// (a chapter is never passed without its users).
    func checkUser(range: Bool) -> Result<CheckUser, CheckSetupError> {
        userLock.withLock {
            if let made = checkUsers[range] { return made }
            // The user's runtime must reach the rootfs copies in the work directory.
            chmod(workDirectory, 0o711)
            let made: Result<CheckUser, CheckSetupError>
            do {
                made = .success(try CheckUser.make(in: workDirectory, withRange: range))
            } catch let error as CheckSetupError {
                made = .failure(error)
            } catch {
                made = .failure(CheckSetupError("\(error)"))
            }
            checkUsers[range] = made
            return made
        }
    }

    /// The check run's user, or nil when it could not be made (`userSkip` says why).
    func checkUserOrSkip(range: Bool) -> CheckUser? { try? checkUser(range: range).get() }

    func userSkip(range: Bool) -> Outcome {
        if case .failure(let error) = checkUser(range: range) { return .skipped(error.description) }
        return .skipped("the check's user has no subordinate range")
    }

    /// The runtime under test, started by `user`: the workbook and the mutant runtime
    /// become the user inside their stand-in host (`--as-user`); scratch, which has
    /// none, is started as the user by setpriv(1).
    func runtime(as user: CheckUser) -> [String] {
        if URL(fileURLWithPath: runtime[0]).lastPathComponent == "scratch" {
            return ["setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--"] + runtime
        }
        return runtime + ["--as-user", user.name]
    }

    /// Starts a container as `user`. `terminal`: through script(1), so the runtime has
    /// a controlling terminal (a pseudo-terminal of its own) as in an interactive shell.
    func start(as user: CheckUser, _ command: [String], options: [String] = [], terminal: Bool = false) -> RunningProcess {
        let runRootfs = rootfsForRun()
        var line = runtime(as: user) + ["--rootfs", runRootfs] + options + ["--"] + command
        if terminal {
            line = ["script", "-qec", line.map(shellQuoted).joined(separator: " "), "/dev/null"]
        }
        let running = RunningProcess(line, environment: user.environment(from: environment), outputDirectory: workDirectory)
        if runRootfs != rootfs { running.removeAfterwards = runRootfs }
        running.onTimeout = { [weak self] in self?.hangSeen = true }
        return running
    }

    func run(as user: CheckUser, _ command: [String], options: [String] = [], terminal: Bool = false, timeout: Double = 10) -> RunResult {
        start(as: user, command, options: options, terminal: terminal).wait(timeout: hangSeen ? min(timeout, 3) : timeout)
    }
}

func shellQuoted(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// What a failed rootless run says about the maps, in the learner's terms: the
/// runtime's error quotes the maps `mapLines` gave (`uid_map "0 1001 1\n"`), and the
/// kernel's or newuidmap's refusal.
func mapsDiagnosis(_ result: RunResult, user: CheckUser) -> String? {
    let text = result.stderr
    func quotedLines(after key: String) -> [[String]]? {
        guard let start = text.range(of: key + " \"") else { return nil }
        let rest = text[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return rest[..<end].components(separatedBy: "\\n").filter { !$0.isEmpty }.map { $0.split(separator: " ").map(String.init) }
    }
    let uidLines = quotedLines(after: "uid_map") ?? []
    let gidLines = quotedLines(after: "gid_map") ?? []
    if uidLines.contains(where: { $0.count == 3 && $0[1] == "0" }) || gidLines.contains(where: { $0.count == 3 && $0[1] == "0" }) {
        return
            "the maps name host id 0: that would make the container's root the host's root. A user may map only their own id (0 \(user.uid) 1), and the kernel (or newuidmap) refused"
    }
    if let first = uidLines.first, first.count == 3, first[1] == "\(user.gid)", gidLines.first?.dropFirst().first == "\(user.uid)" {
        return "uid and gid are swapped: uid_map takes the user's uid (\(user.uid)), gid_map their gid (\(user.gid))"
    }
    if text.contains("newuidmap") || text.contains("newgidmap"), text.contains("not allowed") {
        return
            "newuidmap refused a line: past `0 UID 1`, every line must lie inside the user's /etc/subuid range — count the range's ids (65,536), not the range plus root"
    }
    if text.contains("Value too large for defined data type") {
        return
            "uid 0 inside is not mapped: the kernel creates no file for an id no map names (EOVERFLOW) — the maps start with 0 \(user.uid) 1 (a range's line comes after it)"
    }
    if text.contains("gid_map"), text.contains("not permitted") {
        return
            "the kernel refused gid_map: from a user who is not root it takes gid_map only after \"deny\" was written to /proc/PID/setgroups (CVE-2014-8989)"
    }
    if text.contains("uid_map"), text.contains("not permitted") {
        return "the kernel refused uid_map: a user who is not root may map one id, their own, as 0 (0 \(user.uid) 1)"
    }
    return nil
}

/// A failure for a rootless run that did not do what the check needed.
func rootlessFailure(_ expected: String, _ result: RunResult, user: CheckUser, extra: String? = nil) -> Outcome {
    var saw = describe(result)
    if let diagnosis = mapsDiagnosis(result, user: user) {
        saw += " — " + diagnosis
    } else if let extra {
        saw += " — " + extra
    }
    return .failed(expected: expected, saw: saw)
}

let chapter8Checks: [Check] = [
    Check(
        "root-inside", chapter: 8, "as a user who is not root: uid 0 and gid 0 inside, maps 0 UID 1 and 0 GID 1",
        hints: [
            "Read the run's error: it names the file of /proc/PID the kernel refused and quotes the lines mapLines gave. Which ids may a user who is not root map, and in which order must the files be written?",
            "One id: container 0 stands for the caller, so uid_map is \"0 UID 1\" and gid_map \"0 GID 1\" (one line each). gid_map is refused to an unprivileged writer until \"deny\" is in /proc/PID/setgroups.",
            "`mapLines`: `(\"0 \\(maps.uid) 1\\n\", \"0 \\(maps.gid) 1\\n\")` without a range. `writeIDMaps`: `try writeFile(\"/proc/\\(child)/setgroups\", Array(\"deny\".utf8), create: false)`, then uid_map, then gid_map, each with `create: false`.",
        ]
    ) { context in
        guard let user = context.checkUserOrSkip(range: false) else { return context.userSkip(range: false) }
        let result = context.run(as: user, ["sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map"])
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let expected = "id -u and id -g 0; uid_map \"0 \(user.uid) 1\", gid_map \"0 \(user.gid) 1\""
        guard result.status == 0, lines.count == 4 else { return rootlessFailure(expected, result, user: user) }
        if lines[0] == ["65534"] {
            return rootlessFailure(
                expected, result, user: user,
                extra: "uid 0 inside is not mapped (65534 is the kernel's overflow id): the first line must be 0 \(user.uid) 1")
        }
        return expect(
            lines[0] == ["0"] && lines[1] == ["0"] && lines[2] == ["0", "\(user.uid)", "1"] && lines[3] == ["0", "\(user.gid)", "1"], expected,
            saw: describe(result))
    },

    Check(
        "host-sees-user", chapter: 8, "on the host, the container's process belongs to the user, not root",
        hints: [
            "Look at the container's PID 1 from the host: `grep -E '^(Uid|Gid)' /proc/PID/status`. Root inside is whoever uid_map says it stands for.",
            "The map's middle column is the host's id: \"0 UID 1\" makes the container's root the caller on the host.",
            "`mapLines` returns `\"0 \\(maps.uid) 1\\n\"` for uid_map and `\"0 \\(maps.gid) 1\\n\"` for gid_map; writeIDMaps writes them into /proc/CHILD/uid_map and gid_map.",
        ]
    ) { context in
        guard let user = context.checkUserOrSkip(range: false) else { return context.userSkip(range: false) }
        let running = context.start(as: user, ["sleep", "5"])
        let pid = running.containerPID()
        let uids = pid.flatMap { CheckUser.statusIDs($0, field: "Uid") }
        let gids = pid.flatMap { CheckUser.statusIDs($0, field: "Gid") }
        if let pid { kill(pid, SIGKILL) }
        let result = running.wait(timeout: 10)
        let expected = "the container's PID 1 with Uid \(user.uid) and Gid \(user.gid) (real, effective, saved, filesystem) on the host"
        guard let uids, let gids else { return rootlessFailure(expected, result, user: user) }
        let saw = "Uid \(uids.map(String.init).joined(separator: " ")), Gid \(gids.map(String.init).joined(separator: " "))"
        return expect(
            uids == Array(repeating: user.uid, count: 4) && gids == Array(repeating: user.gid, count: 4), expected,
            saw: uids.contains(0) ? saw + " — root on the host: the container is not in a user namespace of its own" : saw)
    },

    Check(
        "volume-file-owner", chapter: 8, "a file the container makes in a volume belongs to the user on the host",
        hints: [
            "Make a file in a volume as root inside, then `stat -c %u:%g` it on the host. The kernel writes the host's ids, translated through the maps.",
            "A file made by an id the maps do not name cannot be made at all (EOVERFLOW): container 0 must be mapped, to the caller.",
            "uid_map \"0 UID 1\" and gid_map \"0 GID 1\", written by writeIDMaps before the go-ahead (setgroups \"deny\" first).",
        ]
    ) { context in
        guard let user = context.checkUserOrSkip(range: false) else { return context.userSkip(range: false) }
        let directory = user.home + "/volume"
        let marker = directory + "/made-\(UUID().uuidString.prefix(8))"
        let name = URL(fileURLWithPath: marker).lastPathComponent
        let result = context.run(as: user, ["sh", "-c", "touch /tmp/\(name) && echo made"], options: ["-v", directory + ":/tmp"])
        defer { unlink(marker) }
        var information = stat()
        let expected = "/tmp/\(name) in the volume made, owned by \(user.uid):\(user.gid) on the host"
        guard result.status == 0, result.stdout.contains("made"), stat(marker, &information) == 0 else {
            return rootlessFailure(expected, result, user: user)
        }
        return expect(
            information.st_uid == user.uid && information.st_gid == user.gid, expected,
            saw: "owned by \(information.st_uid):\(information.st_gid) on the host")
    },

    Check(
        "setgroups-denied", chapter: 8, "with one id mapped, setgroups is denied inside",
        hints: [
            "cat /proc/self/setgroups inside. Why may an unprivileged user's namespace never call setgroups(2)?",
            "CVE-2014-8989: a group can be there to keep a user *out* (a file mode 0707); root in the namespace could drop it. So the kernel takes gid_map from an unprivileged writer only after \"deny\" in /proc/PID/setgroups.",
            "In writeIDMaps, before uid_map and gid_map: `try writeFile(\"/proc/\\(child)/setgroups\", Array(\"deny\".utf8), create: false)`.",
        ]
    ) { context in
        guard let user = context.checkUserOrSkip(range: false) else { return context.userSkip(range: false) }
        let result = context.run(as: user, ["cat", "/proc/self/setgroups"])
        return result.status == 0 && result.stdout.trimmed == "deny"
            ? .passed : rootlessFailure("/proc/self/setgroups to say deny", result, user: user)
    },

    Check(
        "devices-work", chapter: 8, "/dev/null, /dev/zero and /dev/tty work rootless",
        hints: [
            "A user namespace may not mknod a device (CAP_MKNOD counts only in the host's namespace); the runtime binds the host's nodes instead. Does the container start at all?",
            "The devices are the runtime's (Sources/Runtime/KernelFilesystems.swift, bindHostDevices); a run of yours that fails earlier, at the maps, fails here too: make root-inside pass first.",
            "writeIDMaps: setgroups \"deny\", uid_map \"0 UID 1\", gid_map \"0 GID 1\" (or newuidmap/newgidmap with a range).",
        ]
    ) { context in
        guard let user = context.checkUserOrSkip(range: false) else { return context.userSkip(range: false) }
        let script = """
            echo x > /dev/null && echo null ok
            echo "zero $(head -c 4 /dev/zero | wc -c)"
            echo "tty $(stat -c %t:%T /dev/tty)"
            echo hi > /dev/tty && echo tty ok
            """
        // Through a terminal: with none, /dev/tty has nothing to stand for.
        let result = context.run(as: user, ["sh", "-c", script], terminal: true)
        let lines = result.stdout.replacingOccurrences(of: "\r", with: "").split(separator: "\n").map { String($0).trimmed }
        let wanted = ["null ok", "zero 4", "tty 5:0", "tty ok"]
        return wanted.allSatisfy(lines.contains)
            ? .passed
            : rootlessFailure(
                "`null ok`, `zero 4`, `tty 5:0` (the host's node) and `tty ok`",
                RunResult(
                    status: result.status, stdout: lines.joined(separator: "\n"), stderr: result.stderr, timedOut: result.timedOut),
                user: user)
    },

    Check(
        "escapes-gain-nothing", chapter: 8, "chapter 7's escapes fail rootless, even with --privileged",
        hints: [
            "Run chapter 7's escapes as the user with --privileged: every capability, no filter. Which of them needs a capability in the host's user namespace, and which touches a file the host's root owns?",
            "open_by_handle_at needs CAP_DAC_READ_SEARCH in the host's namespace; mknod of a device needs CAP_MKNOD there; the host's release_agent is root's file, and root is not mapped. A run that fails earlier (the maps) fails here too.",
            "writeIDMaps: setgroups \"deny\", uid_map \"0 UID 1\", gid_map \"0 GID 1\" — with root unmapped, nothing of the host's root is reachable.",
        ]
    ) { context in
        guard let probe = context.probe else { return .skipped(context.probeProblem ?? "no probe") }
        guard let user = context.checkUserOrSkip(range: false) else { return context.userSkip(range: false) }
        // As chapter 7's check: a hierarchy of the host's kind. Mounted or not, its
        // release_agent (the root's) must not open for writing. `: >>` opens it and
        // writes nothing (busybox's `test -w` would only say that uid 0 may write).
        let cgroupMount = HostCgroups.mode() == .v2 ? "mount -t cgroup2 none /dev/shm/cg" : "mount -t cgroup -o pids none /dev/shm/cg"
        let script = """
            echo "open-by-handle $(\(probe) open-by-handle /)"
            if mknod /dev/shm/kmsg c 1 11 2>/dev/null; then echo "mknod made"; rm -f /dev/shm/kmsg; else echo "mknod refused"; fi
            mkdir -p /dev/shm/cg
            if \(cgroupMount) 2>/dev/null; then
              if ( : >> /dev/shm/cg/release_agent ) 2>/dev/null; then echo "release_agent writable"; else echo "release_agent refused"; fi
              umount /dev/shm/cg
            else echo "release_agent refused"; fi
            echo "uid $(id -u)"
            """
        let result = context.run(as: user, ["sh", "-c", script], options: ["--privileged"])
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let wanted = ["open-by-handle EPERM", "mknod refused", "release_agent refused", "uid 0"]
        guard result.status == 0, lines.count == wanted.count else {
            return rootlessFailure("with --privileged, as the user: " + wanted.joined(separator: ", "), result, user: user)
        }
        let escaped = lines.filter { !wanted.contains($0) }
        return expect(
            escaped.isEmpty, "with --privileged, as the user: " + wanted.joined(separator: ", "),
            saw: "still possible: " + escaped.joined(separator: ", ")
                + " — root inside is the host's root: the container runs without a user namespace, or its maps name host id 0")
    },

    Check(
        "subuid-range", chapter: 8, "with a subuid range: chown 1000 inside is the range's start + 999 on the host",
        hints: [
            "The user has 65,536 ids in /etc/subuid and /etc/subgid. Only newuidmap and newgidmap (setuid root) may write a map that names them. What are their arguments?",
            "The maps: \"0 UID 1\" (root is the caller), then \"1 START 65536\" (container 1 and up are the range's). The helpers take the child's pid and the same numbers as arguments: `newuidmap PID 0 UID 1 1 START 65536`.",
            "`mapLines` with a range: `(\"0 \\(maps.uid) 1\\n1 \\(range.uidStart) \\(IDMaps.rangeSize)\\n\", \"0 \\(maps.gid) 1\\n1 \\(range.gidStart) \\(IDMaps.rangeSize)\\n\")`; writeIDMaps runs `[maps.helpers.uid, \"\\(child)\"] + the uid line's numbers` with `runProgram`, then the same for gids, and checks each exited 0.",
        ]
    ) { context in
        guard let user = context.checkUserOrSkip(range: true), let range = user.range else { return context.userSkip(range: true) }
        let directory = user.home + "/volume"
        let name = "chowned-\(UUID().uuidString.prefix(8))"
        let marker = directory + "/" + name
        defer { unlink(marker) }
        let result = context.run(
            as: user, ["sh", "-c", "id -u; touch /tmp/\(name) && chown 1000:1000 /tmp/\(name) && echo chowned"],
            options: ["-v", directory + ":/tmp"])
        let expected = "uid 0 inside; /tmp/\(name) chowned to 1000:1000, owned by \(range.uid + 999):\(range.gid + 999) on the host"
        let lines = result.stdout.split(separator: "\n").map(String.init)
        if lines.first == "65534" {
            return rootlessFailure(
                expected, result, user: user,
                extra:
                    "uid 0 inside is not mapped (65534 is the overflow id): with a range the maps still start with 0 \(user.uid) 1, the range's line after it"
            )
        }
        guard result.status == 0, lines.last == "chowned" else {
            let notMapped = result.stdout.contains("Invalid argument") || result.stderr.contains("Invalid argument")
            return rootlessFailure(
                expected, result, user: user,
                extra: notMapped
                    ? "uid 1000 is not mapped: the range's line (1 \(range.uid) 65536) is missing — with a range, newuidmap and newgidmap write the maps"
                    : nil)
        }
        var information = stat()
        guard stat(marker, &information) == 0 else { return .failed(expected: expected, saw: "no \(marker) on the host") }
        return expect(
            information.st_uid == range.uid + 999 && information.st_gid == range.gid + 999, expected,
            saw: "owned by \(information.st_uid):\(information.st_gid) on the host")
    },
]
