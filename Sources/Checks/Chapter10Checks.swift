import Foundation
import Glibc
import Runtime

// Chapter 10 — speaking OCI: the lifecycle, driven as Podman and containerd drive a
// runtime — one run of it per step, on a bundle made here (a copy of the check's
// rootfs and a config.json), with a state root of the check run's own.
//
// Whatever the runtime under test does, each check removes its container itself by
// what the state directory records (its pid, its cgroups): a learner's `delete` that
// fails must not leave a process or a cgroup on the host.

extension CheckContext {
    /// The runtime under test's OCI command line: `workbook oci N …` for `workbook run
    /// N …` (the mutants' likewise), `scratch` for `scratch run`.
    var ociRuntime: [String] {
        guard let index = runtime.lastIndex(of: "run") else { return runtime }
        var words = runtime
        if index == words.count - 1 {
            words.removeLast()
        } else {
            words[index] = "oci"
        }
        return words
    }

    /// The state root of this check run's OCI containers.
    var ociRoot: String { workDirectory + "/oci-root" }

    /// One OCI command, to its end.
    func oci(_ arguments: [String], timeout: Double = 10) -> RunResult {
        RunningProcess(ociRuntime + ["--root", ociRoot] + arguments, environment: environment, outputDirectory: workDirectory)
            .wait(timeout: timeout)
    }

    /// A bundle for `args`: a rootfs copy and a config.json, with `hooks` (JSON) when given.
    func makeBundle(args: [String], hooks: String? = nil) throws -> String {
        let bundle = workDirectory + "/bundle-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: false)
        let rootfs = rootfsForRun()
        let quotedArgs = args.map { jsonString($0) }.joined(separator: ", ")
        let config = """
            {
              "ociVersion": "1.0.2",
              "process": {"args": [\(quotedArgs)], "env": ["PATH=/bin:/sbin:/usr/bin"], "cwd": "/"},
              "root": {"path": \(jsonString(rootfs))},
              "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}]},
              "hostname": "oci-check"\(hooks.map { ",\n  \"hooks\": " + $0 } ?? "")
            }
            """
        try config.write(toFile: bundle + "/config.json", atomically: false, encoding: .utf8)
        return bundle
    }

    /// A fresh id for one check's container.
    func ociID(_ name: String) -> String { "ch10-\(name)-\(UUID().uuidString.prefix(6).lowercased())" }

    /// The container's recorded state file, as key=value lines.
    func ociRecord(_ id: String) -> [String: [String]] {
        guard let text = try? String(contentsOfFile: ociRoot + "/" + id + "/state", encoding: .utf8) else { return [:] }
        var fields: [String: [String]] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
        }
        return fields
    }

    /// Removes container `id` whatever the runtime under test can still do: its
    /// processes killed, its cgroups and its state directory removed.
    func removeOCIContainer(_ id: String) {
        let record = ociRecord(id)
        let groups = record["cgroup"] ?? []
        var pids = (record["pid"] ?? []).compactMap { pid_t($0) }
        for group in groups {
            let procs = (try? String(contentsOfFile: group + "/cgroup.procs", encoding: .utf8)) ?? ""
            pids += procs.split(separator: "\n").compactMap { pid_t($0) }
        }
        // Only a process still in the container's cgroup, or the recorded one while its
        // start time is the recorded one: a pid is reused.
        let start = record["starttime"]?.first
        for pid in pids where groups.isEmpty ? start == ociStartTime(pid) : true { kill(pid, SIGKILL) }
        for group in groups {
            for _ in 0..<100 {
                if rmdir(group) == 0 || errno == ENOENT { break }
                usleep(20_000)
            }
        }
        try? FileManager.default.removeItem(atPath: ociRoot + "/" + id)
    }

    func ociStartTime(_ pid: pid_t) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else {
            return nil
        }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }

    /// `state ID`'s status, or what went wrong instead.
    func ociStatus(_ id: String) -> (status: String?, result: RunResult) {
        let result = oci(["state", id])
        guard result.status == 0, let data = result.stdout.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return (nil, result) }
        return (object["status"] as? String, result)
    }

    /// Waits (up to `seconds`) until `condition` holds.
    func eventually(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds * CheckContext.slowdown)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}

/// A process's command line, NULs as spaces.
private func commandLine(of pid: String) -> String {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "" }
    return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).trimmed
}

let chapter10Checks: [Check] = [
    Check(
        "create-waits", chapter: 10, "create leaves a created container: a process, not yet the command, waiting on the exec fifo",
        hints: [
            "After `create`, the container exists — namespaces, cgroup, root — but its command must not run until `start`. What holds it back between the two?",
            "makeExecFifo(at:) must make a named pipe (a plain file does not block), and waitForStart(execFifo:) must open it for writing: that open is the wait. status(recorded:alive:execFifoExists:) says \"created\" while the fifo is there.",
            "makeExecFifo: mkfifo(path, 0o622), then chmod (the umask). waitForStart: open(\"/proc/self/fd/\\(execFifo)\", O_WRONLY | O_CLOEXEC) — it blocks until start opens the other end — then write one byte and close. status: not alive → .stopped; recorded .creating → .creating; fifo there → .created; else .running.",
        ]
    ) { context in
        let id = context.ociID("create")
        let bundle = try context.makeBundle(args: ["sleep", "30"])
        defer { context.removeOCIContainer(id) }
        let created = context.oci(["create", "--bundle", bundle, id])
        guard created.status == 0 else { return .failed(expected: "create to exit 0", saw: describe(created)) }
        let pid = context.ociRecord(id)["pid"]?.first ?? ""
        let fifo = context.ociRoot + "/" + id + "/exec.fifo"
        var info = stat()
        let isFifo = lstat(fifo, &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO
        // A live process's command line reads empty only in the middle of an execve
        // (its old memory gone, the new not in place): a container that did not wait
        // is caught there on a loaded machine. Read again once the exec is through.
        var cmdline = commandLine(of: pid)
        if cmdline.isEmpty && !pid.isEmpty {
            _ = context.eventually(1) {
                cmdline = commandLine(of: pid)
                return !cmdline.isEmpty
            }
        }
        let (status, stateResult) = context.ociStatus(id)
        var saw =
            "pid \(pid.isEmpty ? "none" : pid), its command line \(quote(cmdline)), exec.fifo \(isFifo ? "a fifo" : lstat(fifo, &info) == 0 ? "not a fifo" : "missing"), state \(status.map(quote) ?? describe(stateResult))"
        if cmdline.hasPrefix("sleep") { saw += " — the command already runs: nothing made it wait for start" }
        if status == "running" { saw += " — state says running before start" }
        return all(
            expect(!pid.isEmpty && !cmdline.isEmpty, "a live process recorded as the container's pid", saw: saw),
            expect(!cmdline.hasPrefix("sleep"), "the process to be the runtime still (its exec waits for start)", saw: saw),
            expect(isFifo, "the exec fifo in the state directory", saw: saw),
            expect(status == "created", "state to say created", saw: saw))
    },

    Check(
        "start-runs", chapter: 10, "start lets the command run, and state says running",
        hints: [
            "`start` opens the fifo's other end and waits for the container's byte; then it removes the fifo, whose absence is what \"running\" means.",
            "releaseContainer(execFifo:pid:): open for reading without blocking, read until one byte came (the container writes it once your open let its own open return), then remove the fifo.",
            "let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); loop: read(fd, &byte, 1) == 1 → done; EAGAIN → check kill(pid, 0), poll 10 ms; then close and removeFile(path). Closing before the byte came makes the container's write fail (EPIPE).",
        ]
    ) { context in
        let id = context.ociID("start")
        let bundle = try context.makeBundle(args: ["sh", "-c", "echo ran > /ran; exec sleep 30"])
        defer { context.removeOCIContainer(id) }
        let created = context.oci(["create", "--bundle", bundle, id])
        guard created.status == 0 else { return .failed(expected: "create to exit 0", saw: describe(created)) }
        let started = context.oci(["start", id])
        let rootfs = (context.ociRecord(id)["rootfs"]?.first) ?? ""
        let ran = context.eventually { FileManager.default.fileExists(atPath: rootfs + "/ran") }
        let (status, stateResult) = context.ociStatus(id)
        let fifoLeft = FileManager.default.fileExists(atPath: context.ociRoot + "/" + id + "/exec.fifo")
        var saw = "start: \(describe(started)); the command \(ran ? "ran" : "never ran"); state \(status.map(quote) ?? describe(stateResult))"
        if fifoLeft { saw += " — the exec fifo is still there after start" }
        if !ran && started.status == 0 { saw += " — start returned, but the container died instead of running its command" }
        return all(
            expect(started.status == 0, "start to exit 0", saw: saw),
            expect(ran, "the command to run after start", saw: saw),
            expect(status == "running", "state to say running", saw: saw))
    },

    Check(
        "state-stopped", chapter: 10, "state says stopped once the container's process has ended",
        hints: [
            "A container whose process is gone is stopped, whatever was recorded before.",
            "status(recorded:alive:execFifoExists:) is given `alive`: false when the process is gone or a zombie.",
            "guard alive else { return .stopped } — first, before anything else.",
        ]
    ) { context in
        let id = context.ociID("stopped")
        let bundle = try context.makeBundle(args: ["sleep", "30"])
        defer { context.removeOCIContainer(id) }
        let created = context.oci(["create", "--bundle", bundle, id])
        guard created.status == 0 else { return .failed(expected: "create to exit 0", saw: describe(created)) }
        let started = context.oci(["start", id])
        let killed = context.oci(["kill", id, "KILL"])
        var status: String?
        var last = RunResult(status: 0, stdout: "", stderr: "", timedOut: false)
        _ = context.eventually {
            (status, last) = context.ociStatus(id)
            return status == "stopped"
        }
        var saw = "start: \(describe(started)); kill: \(describe(killed)); state \(status.map(quote) ?? describe(last))"
        if status == "running" || status == "created" { saw += " — the process is gone, yet the status is not stopped" }
        return expect(started.status == 0 && killed.status == 0 && status == "stopped", "state to say stopped after kill KILL", saw: saw)
    },

    Check(
        "delete-leaves-nothing", chapter: 10, "delete removes the stopped container: no state directory, no cgroup",
        hints: [
            "After delete, the id must be free again: nothing of the container may stay in the state root.",
            "removeContainer(directory:) runs last: the files in the directory, then the directory.",
            "for name in [\"exec.fifo\", \"state\"]: removeFile (ENOENT is fine: start removed the fifo); then removeDirectory(directory).",
        ]
    ) { context in
        let id = context.ociID("delete")
        let bundle = try context.makeBundle(args: ["true"])
        defer { context.removeOCIContainer(id) }
        let created = context.oci(["create", "--bundle", bundle, id])
        guard created.status == 0 else { return .failed(expected: "create to exit 0", saw: describe(created)) }
        let groups = context.ociRecord(id)["cgroup"] ?? []
        let started = context.oci(["start", id])
        _ = context.eventually { context.ociStatus(id).status == "stopped" }
        let deleted = context.oci(["delete", id])
        let directoryLeft = FileManager.default.fileExists(atPath: context.ociRoot + "/" + id)
        let groupsLeft = groups.filter { FileManager.default.fileExists(atPath: $0) }
        let again = context.oci(["state", id])
        var saw = "start: \(describe(started)); delete: \(describe(deleted))"
        if directoryLeft { saw += " — \(context.ociRoot)/\(id) is still there" }
        if !groupsLeft.isEmpty { saw += " — cgroups left: \(groupsLeft.joined(separator: ", "))" }
        if again.status == 0 { saw += " — state still answers for it" }
        return expect(
            deleted.status == 0 && !directoryLeft && groupsLeft.isEmpty && again.status != 0,
            "delete to exit 0 and leave no state directory and no cgroup", saw: saw)
    },

    Check(
        "delete-running-refused", chapter: 10, "delete refuses a running container without --force, and ends it with --force",
        hints: [
            "delete asks status first: a running container is refused unless --force.",
            "status(recorded:alive:execFifoExists:) must tell running (alive, no fifo) from stopped.",
            "not alive → .stopped; recorded .creating → .creating; fifo there → .created; else .running.",
        ]
    ) { context in
        let id = context.ociID("force")
        let bundle = try context.makeBundle(args: ["sleep", "30"])
        defer { context.removeOCIContainer(id) }
        let created = context.oci(["create", "--bundle", bundle, id])
        guard created.status == 0 else { return .failed(expected: "create to exit 0", saw: describe(created)) }
        let pid = pid_t(context.ociRecord(id)["pid"]?.first ?? "") ?? 0
        let started = context.oci(["start", id])
        let refused = context.oci(["delete", id])
        let aliveAfterRefusal = pid > 0 && kill(pid, 0) == 0
        let forced = context.oci(["delete", "--force", id])
        let gone = context.eventually { pid <= 0 || kill(pid, 0) != 0 || context.ociStartTime(pid) == nil }
        let directoryLeft = FileManager.default.fileExists(atPath: context.ociRoot + "/" + id)
        let saw =
            "start: \(describe(started)); delete: \(describe(refused)); the process \(aliveAfterRefusal ? "still ran" : "was gone"); delete --force: \(describe(forced)); then the process \(gone ? "was gone" : "still ran")\(directoryLeft ? ", the state directory still there" : "")"
        return all(
            expect(refused.status != 0 && aliveAfterRefusal, "delete without --force to fail and leave the container running", saw: saw),
            expect(forced.status == 0 && gone && !directoryLeft, "delete --force to end it and remove its state", saw: saw))
    },

    Check(
        "hooks-in-order", chapter: 10, "hooks run in order, each with the state on its standard input",
        hints: [
            "prestart and createRuntime run during create (status creating), poststart after start (running), poststop in delete (stopped).",
            "Each hook reads the state JSON on its standard input; the runtime computes the status it prints through your status(recorded:alive:execFifoExists:).",
            "The state machine: not alive → .stopped; recorded .creating → .creating; fifo there → .created; else .running.",
        ]
    ) { context in
        let id = context.ociID("hooks")
        let log = context.workDirectory + "/hooks-\(id).log"
        func hook(_ name: String) -> String {
            "[{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \(jsonString("(echo \(name); tr -d '\\n'; echo) >> \(log)"))], \"timeout\": 10}]"
        }
        let hooks = "{" + ["prestart", "createRuntime", "poststart", "poststop"].map { "\"\($0)\": \(hook($0))" }.joined(separator: ", ") + "}"
        let bundle = try context.makeBundle(args: ["sleep", "30"], hooks: hooks)
        defer { context.removeOCIContainer(id) }
        let created = context.oci(["create", "--bundle", bundle, id])
        guard created.status == 0 else { return .failed(expected: "create to exit 0", saw: describe(created)) }
        let started = context.oci(["start", id])
        let deleted = context.oci(["delete", "--force", id])
        let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        var seen: [String] = []
        var index = 0
        while index + 1 < lines.count {
            let name = lines[index]
            let data = Data(lines[index + 1].utf8)
            let state = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            let status = state?["status"] as? String ?? "no status"
            let sameID = state?["id"] as? String == id
            seen.append("\(name):\(status)\(sameID ? "" : " (not its id)")")
            index += 2
        }
        let wanted = ["prestart:creating", "createRuntime:creating", "poststart:running", "poststop:stopped"]
        return expect(
            seen == wanted, "\(wanted.joined(separator: ", "))",
            saw: "\(seen.isEmpty ? "no hook ran" : seen.joined(separator: ", ")) (start: \(describe(started)); delete --force: \(describe(deleted)))")
    },
]
