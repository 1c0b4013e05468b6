import Foundation
import Runtime
import Testing

/// Chapter 10's real clients: Podman (through conmon) and containerd (through
/// containerd-shim-runc-v2) drive `scratch` as their OCI runtime, exactly as they drive
/// runc. Each test builds everything it uses under a directory of its own — Podman's
/// store, containerd's root, state and socket, the busybox image — and removes it on
/// every way out, with the containers, mounts, cgroups and processes it made.
///
/// The harness itself was proven with runc and crun as the runtime; to prove it again:
/// `OCI_CLIENT_RUNTIME=/usr/sbin/runc swift test --filter OCIClientTests`.
///
/// A client that is not installed skips the test on a learner's machine, saying which
/// package to install; in CI (which installs them) the test runs anyway and fails. Nothing
/// else is skipped: a client that runs but fails is a failing test, in the client's words.
@Suite(.serialized, .enabled(if: geteuid() == 0, "needs root: Podman and containerd run rootful containers here — run `sudo swift test`"))
struct OCIClientTests {
    // MARK: Podman

    @Test("podman run --rm runs a container with the runtime and passes on its exit status", Podman.available, .timeLimit(.minutes(3)))
    func podmanRunRemove() throws {
        guard let podman = try Podman.make() else { return }
        defer { podman.remove() }
        let run = podman.podman(["run", "--rm"] + podman.runFlags + [Podman.image, "sh", "-c", "echo hello from $(hostname); exit 3"])
        #expect(run.status == 3, "podman run --rm: \(run)")
        #expect(run.stdout.hasPrefix("hello from "), "\(run)")
        // Podman reads the runtime's error to choose Docker's exit codes: "executable file
        // not found" (runc's words, and scratch's) makes 127, "permission denied" 126.
        let missing = podman.podman(["run", "--rm"] + podman.runFlags + [Podman.image, "no-such-command"])
        #expect(missing.status == 127, "podman run of a command the image lacks: \(missing)")
        podman.expectNothingLeft()
    }

    @Test("podman run -d, exec, stop and rm: the runtime's create, start, exec, kill and delete", Podman.available, .timeLimit(.minutes(3)))
    func podmanExecStopRemove() throws {
        guard let podman = try Podman.make() else { return }
        defer { podman.remove() }
        // SIGTERM is ignored by a PID 1 with no handler, so the container sets one: the
        // exit status 7 proves `podman stop` reached it through the runtime's `kill`.
        let started = podman.podman(
            ["run", "-d", "--name", podman.tag] + podman.runFlags + [
                Podman.image, "sh", "-c", "trap 'exit 7' TERM; echo started; while :; do sleep 0.1; done",
            ])
        try #require(started.status == 0, "podman run -d: \(started)")
        let id = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let exec = podman.podman(["exec", podman.tag, "sh", "-c", "echo in-exec; cat /proc/1/cmdline | tr '\\0' ' '"])
        #expect(exec.status == 0 && exec.stdout.hasPrefix("in-exec\nsh -c trap"), "podman exec: \(exec)")
        let failing = podman.podman(["exec", podman.tag, "sh", "-c", "exit 5"])
        #expect(failing.status == 5, "podman exec of `exit 5`: \(failing)")

        let stop = podman.podman(["stop", "-t", "10", podman.tag])
        #expect(stop.status == 0, "podman stop: \(stop)")
        let exitCode = podman.podman(["inspect", "--format", "{{.State.ExitCode}}", podman.tag])
        #expect(exitCode.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "7", "the container's exit code after stop: \(exitCode)")
        let logs = podman.podman(["logs", podman.tag])
        #expect(logs.stdout.hasPrefix("started"), "podman logs: \(logs)")

        let remove = podman.podman(["rm", podman.tag])
        #expect(remove.status == 0, "podman rm: \(remove)")
        // The runtime forgot it: `delete` removed its state.
        let state = Host.run([Host.runtime, "state", id])
        #expect(state.status != 0, "\(Host.runtime) state \(id) after podman rm: \(state)")
        podman.expectNothingLeft()
    }

    @Test("podman run -t and exec -t: the runtime hands conmon the terminal over --console-socket", Podman.available, .timeLimit(.minutes(3)))
    func podmanTerminal() throws {
        guard let podman = try Podman.make() else { return }
        defer { podman.remove() }
        let script = try #require(Host.which("script"))
        let run = Host.run(
            [
                script, "-qec",
                Host.shellLine(
                    podman.command + ["run", "--rm", "-t"] + podman.runFlags + [Podman.image, "sh", "-c", "tty; [ -t 0 ] && echo isatty"]),
                "/dev/null",
            ],
            environment: podman.environment)
        #expect(run.status == 0 && run.stdout.contains("/dev/pts/0") && run.stdout.contains("isatty"), "podman run -t: \(run)")

        let started = podman.podman(["run", "-d", "--name", podman.tag] + podman.runFlags + [Podman.image, "sleep", "60"])
        try #require(started.status == 0, "podman run -d: \(started)")
        let exec = Host.run(
            [script, "-qec", Host.shellLine(podman.command + ["exec", "-t", podman.tag, "sh", "-c", "[ -t 0 ] && echo exec-isatty"]), "/dev/null"],
            environment: podman.environment)
        #expect(exec.status == 0 && exec.stdout.contains("exec-isatty"), "podman exec -t: \(exec)")
        let remove = podman.podman(["rm", "-f", "-t", "0", podman.tag])
        #expect(remove.status == 0, "podman rm -f: \(remove)")
        podman.expectNothingLeft()
    }

    // MARK: containerd

    @Test("ctr run --rm through containerd-shim-runc-v2 with the runtime as its runc binary", Containerd.available, .timeLimit(.minutes(3)))
    func containerdRunRemove() throws {
        guard let containerd = try Containerd.make() else { return }
        defer { containerd.remove() }
        let run = containerd.ctr(
            ["run", "--rm"] + containerd.runFlags + [Containerd.image, containerd.tag + "-a", "sh", "-c", "echo hello from containerd; exit 3"])
        #expect(run.status == 3, "ctr run --rm: \(run)")
        #expect(run.stdout == "hello from containerd\n", "\(run)")
        containerd.expectNothingLeft()
    }

    @Test("ctr run -d, task exec, kill and delete", Containerd.available, .timeLimit(.minutes(3)))
    func containerdExecKillDelete() throws {
        guard let containerd = try Containerd.make() else { return }
        defer { containerd.remove() }
        let id = containerd.tag + "-b"
        let started = containerd.ctr(
            ["run", "-d"] + containerd.runFlags + [Containerd.image, id, "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"])
        try #require(started.status == 0, "ctr run -d: \(started)")
        let exec = containerd.ctr([
            "task", "exec", "--fifo-dir", containerd.base + "/fifo", "--exec-id", "e1", id, "sh", "-c", "echo in-exec; exit 4",
        ])
        #expect(exec.status == 4 && exec.stdout == "in-exec\n", "ctr task exec: \(exec)")

        let kill = containerd.ctr(["task", "kill", id])
        #expect(kill.status == 0, "ctr task kill: \(kill)")
        let stopped = Host.waitUntil(seconds: 10) { containerd.ctr(["task", "ls"]).stdout.contains("STOPPED") }
        #expect(stopped, "the task did not stop within 10 s of SIGTERM: \(containerd.ctr(["task", "ls"]))")
        let delete = containerd.ctr(["task", "delete", id])
        #expect(
            delete.status == 0 && delete.stderr.contains("exit code 7"),
            "ctr task delete (the exit status 7 proves SIGTERM reached the container): \(delete)")
        let removed = containerd.ctr(["containers", "rm", id])
        #expect(removed.status == 0, "ctr containers rm: \(removed)")
        containerd.expectNothingLeft()
    }

    @Test("ctr run -t: the runtime hands the shim the terminal over --console-socket", Containerd.available, .timeLimit(.minutes(3)))
    func containerdTerminal() throws {
        guard let containerd = try Containerd.make() else { return }
        defer { containerd.remove() }
        let script = try #require(Host.which("script"))
        let line = Host.shellLine(
            containerd.ctrCommand + ["run", "--rm", "-t"] + containerd.runFlags + [
                Containerd.image, containerd.tag + "-t", "sh", "-c", "[ -t 0 ] && echo isatty",
            ])
        let run = Host.run([script, "-qec", line, "/dev/null"])
        #expect(run.status == 0 && run.stdout.contains("isatty"), "ctr run -t: \(run)")
        containerd.expectNothingLeft()
    }
}

// MARK: - The host: commands with a time limit, what a test made and must remove

enum Host {
    struct Output: CustomStringConvertible {
        let status: Int32
        let stdout: String
        let stderr: String
        var description: String {
            "exit status \(status)\n--- stdout\n\(stdout.suffix(3000))\n--- stderr\n\(stderr.suffix(3000))"
        }
    }

    /// The runtime the clients drive: the `scratch` built beside this test binary, or
    /// another one named by OCI_CLIENT_RUNTIME (runc and crun proved the harness).
    static let runtime: String = {
        if let other = ProcessInfo.processInfo.environment["OCI_CLIENT_RUNTIME"], !other.isEmpty { return other }
        var directory = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")
            .deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("scratch").path) && directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("scratch").path
    }()

    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    static func which(_ name: String) -> String? {
        for directory in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
            let path = directory + "/" + name
            if access(path, X_OK) == 0 { return path }
        }
        return nil
    }

    /// The tools a client needs that are not installed, as a sentence; nil when none is.
    static func missing(_ tools: [(tool: String, package: String)], _ why: String) -> String? {
        let absent = tools.filter { which($0.tool) == nil }.map { "\($0.tool) (apt-get install \($0.package))" }
        return absent.isEmpty ? nil : "not installed: " + absent.joined(separator: ", ") + " — " + why
    }

    /// A test whose client is missing is skipped, with the reason, on a learner's
    /// machine; CI installs every client, so there it runs and fails (`CI must run`).
    static func enabled(unless missing: String?) -> ConditionTrait {
        .enabled(if: missing == nil || inCI, Comment(rawValue: missing ?? ""))
    }

    /// Runs a command with its output in files, not pipes: `podman run -d` leaves conmon
    /// behind holding whatever the client's stdout was, and a pipe would never close.
    /// Killed (by its pid) after `timeout` seconds.
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 60) -> Output {
        let directory = "/tmp/oci-client-out-\(UUID().uuidString)"
        guard mkdir(directory, 0o700) == 0 else { return Output(status: -1, stdout: "", stderr: "mkdir \(directory): errno \(errno)") }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outPath = directory + "/stdout"
        let errPath = directory + "/stderr"
        let pid: pid_t
        do { pid = try spawn(arguments, environment: environment, stdout: outPath, stderr: errPath) } catch {
            return Output(status: -1, stdout: "", stderr: "\(error)")
        }
        let status = wait(for: pid, timeout: timeout)
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return Output(status: status ?? -2, stdout: stdout, stderr: (status == nil ? "timed out after \(Int(timeout)) s\n" : "") + stderr)
    }

    struct SpawnError: Error, CustomStringConvertible {
        let description: String
    }

    /// posix_spawn, not Foundation's Process: the process is ours to wait for, and an
    /// exited client is reaped here at once (Process left `podman run -d` a zombie it
    /// never noticed, and the test waited forever).
    static func spawn(_ arguments: [String], environment: [String: String], stdout: String, stderr: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // A clean signal state: the test runner may block or ignore signals the clients need.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard result == 0 else { throw SpawnError(description: "posix_spawn \(arguments[0]): \(String(cString: strerror(result)))") }
        return pid
    }

    /// The exit status (128+N for a signal, as a shell says it), or nil when it did not
    /// end within `timeout` seconds: then it is killed by its pid and reaped.
    static func wait(for pid: pid_t, timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR { return -1 }
            if Date() >= deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return nil
            }
            usleep(20_000)
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if condition() { return true }
            usleep(100_000)
        } while Date() < deadline
        return false
    }

    /// One shell word per argument, for `script -c`.
    static func shellLine(_ arguments: [String]) -> String {
        arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    }

    /// Mount points at or under `directory`, deepest first (from our own mountinfo).
    static func mounts(under directory: String) -> [String] {
        let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        let targets = table.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            // mountinfo escapes space, tab, newline and backslash as octal.
            let target = String(fields[4]).replacingOccurrences(of: "\\040", with: " ")
            return target == directory || target.hasPrefix(directory + "/") ? target : nil
        }
        return targets.sorted { $0.count > $1.count }
    }

    static func unmountAll(under directory: String) {
        for target in mounts(under: directory) { umount2(target, Int32(MNT_DETACH)) }
    }

    /// A cgroup named `name` at the top of every hierarchy, and what is below it,
    /// deepest first: the clients were given it as the containers' parent.
    static func removeCgroups(named name: String) {
        let hierarchies = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? []).map { "/sys/fs/cgroup/" + $0 }
        for top in (["/sys/fs/cgroup"] + hierarchies).map({ $0 + "/" + name }) where access(top, F_OK) == 0 {
            _ = run(["/usr/bin/find", top, "-depth", "-type", "d", "-exec", "rmdir", "{}", "+"])
        }
    }

    /// Host directories a client makes whatever its flags say; those absent before the
    /// test are removed after it — empty directories only, so nothing another user of
    /// the host put there meanwhile is lost.
    static func absent(_ paths: [String]) -> [String] { paths.filter { access($0, F_OK) != 0 } }

    static func removeEmptyDirectories(_ paths: [String]) {
        for path in paths where access(path, F_OK) == 0 {
            _ = run(["/usr/bin/find", path, "-depth", "-type", "d", "-empty", "-delete"])
        }
    }

    /// A busybox rootfs (the project's own builder) under `directory`.
    static func busyboxRootfs(in directory: String) throws -> String {
        let rootfs = directory + "/rootfs"
        try buildBusyboxRootfs(at: rootfs)
        return rootfs
    }
}

// MARK: - Podman with a store of its own

final class Podman {
    static let image = "localhost/oci-client-busybox:latest"

    let tag = "oci-client-\(getpid())-\(UUID().uuidString.prefix(6).lowercased())"
    let base: String
    let podmanPath: String
    let hostDirectories: [String]

    /// Every podman command: its store, run root and temporary files under `base`; the
    /// runtime given by path; cgroupfs (no systemd here); events in a file; no network
    /// configuration of the host's.
    ///
    /// Each in a mount namespace of its own (`unshare --mount --propagation private`):
    /// what Podman mounts (a container's shm) stays out of the machine's mount table,
    /// which other tests judge; conmon and the container keep theirs alive.
    var command: [String] {
        [
            "/usr/bin/unshare", "--mount", "--propagation", "private", "--", podmanPath, "--root", base + "/root", "--runroot", base + "/runroot",
            "--tmpdir", base + "/tmp",
            "--storage-driver", "vfs", "--network-config-dir", base + "/networks", "--volumepath", base + "/volumes",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", Host.runtime,
        ]
    }

    /// What every container is run with. No network: this host has none to give.
    /// Podman's default RLIMIT_NOFILE is 1048576, above this host's hard limit (20000
    /// here), and raising a hard limit needs CAP_SYS_RESOURCE, which root lacks on this
    /// host: runc and crun fail the same way ("setrlimit RLIMIT_NOFILE: Operation not
    /// permitted"). So the containers ask for limits the host can give. The containers'
    /// cgroups go under a parent named after the test, removed after it.
    var runFlags: [String] {
        ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--cgroup-parent", "/" + tag]
    }

    var environment: [String: String] {
        // Nothing from the host's /etc/containers: our own (empty) configuration.
        ["CONTAINERS_CONF": base + "/containers.conf", "CONTAINERS_REGISTRIES_CONF": base + "/registries.conf"]
    }

    static let missing = Host.missing(
        [("podman", "podman"), ("conmon", "conmon"), ("script", "bsdutils")],
        "the test drives the runtime through Podman, which runs it through conmon; script gives it a terminal")
    static var available: ConditionTrait { Host.enabled(unless: missing) }

    /// nil when a tool is missing: in CI, where the test runs anyway, that is a failure.
    static func make() throws -> Podman? {
        guard missing == nil, let path = Host.which("podman") else {
            Issue.record("CI must run this test, but \(missing ?? "podman is missing")")
            return nil
        }
        let podman = try Podman(podmanPath: path)
        do {
            try podman.importImage()
        } catch {
            podman.remove()
            throw error
        }
        return podman
    }

    private init(podmanPath: String) throws {
        self.podmanPath = podmanPath
        base = "/tmp/" + tag
        hostDirectories = Host.absent([
            "/run/libpod", "/run/containers", "/etc/containers/networks", "/run/runc", "/run/crun", "/var/lib/containers",
        ])
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        try "".write(toFile: base + "/containers.conf", atomically: false, encoding: .utf8)
        try "".write(toFile: base + "/registries.conf", atomically: false, encoding: .utf8)
    }

    func podman(_ arguments: [String], timeout: Double = 60) -> Host.Output {
        Host.run(command + arguments, environment: environment, timeout: timeout)
    }

    /// `podman import` of a tar of the project's busybox rootfs: no registry, no network.
    private func importImage() throws {
        let rootfs = try Host.busyboxRootfs(in: base)
        let tar = Host.run(["/bin/tar", "-C", rootfs, "-cf", base + "/rootfs.tar", "."])
        try #require(tar.status == 0, "tar of the busybox rootfs: \(tar)")
        let imported = podman(["import", base + "/rootfs.tar", Podman.image])
        try #require(imported.status == 0, "podman import: \(imported)")
    }

    /// No container in Podman's store, nothing mounted in it.
    func expectNothingLeft() {
        let containers = podman(["ps", "-a", "-q"])
        #expect(containers.status == 0 && containers.stdout.isEmpty, "containers left in podman's store: \(containers)")
        let mounts = Host.mounts(under: base).filter { !$0.hasSuffix("/overlay") }
        #expect(mounts.isEmpty, "mounts left under \(base): \(mounts)")
    }

    /// On every way out: the containers (running ones too), the image, then what the
    /// store mounted, the cgroups, our directory, the host directories Podman made.
    func remove() {
        _ = podman(["rm", "-a", "-f", "-t", "0"])
        _ = podman(["rmi", "-a", "-f"])
        Host.unmountAll(under: base)
        Host.removeCgroups(named: tag)
        try? FileManager.default.removeItem(atPath: base)
        Host.removeEmptyDirectories(hostDirectories)
    }
}

// MARK: - containerd of our own

final class Containerd {
    static let image = "docker.io/library/oci-client-busybox:latest"

    /// The containerd namespace, and so the containers' cgroup parent (/<namespace>/<id>).
    let tag = "oci-client-\(getpid())-\(UUID().uuidString.prefix(6).lowercased())"
    let base: String
    let ctrPath: String
    let hostDirectories: [String]
    var daemon: pid_t?

    var socket: String { base + "/containerd.sock" }
    var ctrCommand: [String] { [ctrPath, "--address", socket, "--namespace", tag] }

    /// The shim runs the runtime given by path, with its state (--root) under our
    /// directory, and ctr's fifos there too.
    var runFlags: [String] {
        ["--runtime", "io.containerd.runc.v2", "--runc-binary", Host.runtime, "--runc-root", base + "/runtime-root", "--fifo-dir", base + "/fifo"]
    }

    static let missing = Host.missing(
        [
            ("containerd", "containerd"), ("ctr", "containerd"), ("containerd-shim-runc-v2", "containerd"), ("umoci", "umoci"),
            ("skopeo", "skopeo"), ("script", "bsdutils"),
        ], "containerd's shim runs the runtime; umoci and skopeo make its image offline; script gives it a terminal")
    static var available: ConditionTrait { Host.enabled(unless: missing) }

    /// nil when a tool is missing: in CI, where the test runs anyway, that is a failure.
    static func make() throws -> Containerd? {
        guard missing == nil, let ctr = Host.which("ctr"), let daemon = Host.which("containerd") else {
            Issue.record("CI must run this test, but \(missing ?? "containerd is missing")")
            return nil
        }
        let containerd = try Containerd(ctrPath: ctr)
        do {
            try containerd.start(daemon)
            try containerd.importImage()
        } catch {
            containerd.remove()
            throw error
        }
        return containerd
    }

    private init(ctrPath: String) throws {
        self.ctrPath = ctrPath
        base = "/tmp/" + tag
        // The shim's socket lives in /run/containerd/s whatever the configuration says
        // (containerd 1.6); the directories are removed after if they were not there.
        hostDirectories = Host.absent(["/run/containerd"])
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    }

    /// Our own containerd: its root, state and sockets under `base`, and no CRI plugin
    /// (Kubernetes' interface, which wants a network and a pause image).
    private func start(_ path: String) throws {
        let config = """
            version = 2
            root = "\(base)/root"
            state = "\(base)/state"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "\(socket)"
            [ttrpc]
              address = "\(socket).ttrpc"

            """
        try config.write(toFile: base + "/config.toml", atomically: false, encoding: .utf8)
        // In a mount namespace of its own (unshare execs it: the pid is the daemon's):
        // its snapshots and the shims' rootfs mounts stay out of the machine's mount
        // table, which other tests judge.
        let pid = try Host.spawn(
            ["/usr/bin/unshare", "--mount", "--propagation", "private", "--", path, "--config", base + "/config.toml"], environment: [:],
            stdout: base + "/containerd.log", stderr: base + "/containerd.err")
        daemon = pid
        let ready = Host.waitUntil(seconds: 20) { access(socket, F_OK) == 0 || waitpid(pid, nil, WNOHANG) == pid }
        let running = kill(pid, 0) == 0 && waitpid(pid, nil, WNOHANG) == 0
        let logText = (try? String(contentsOfFile: base + "/containerd.err", encoding: .utf8)) ?? ""
        try #require(ready && running, "containerd did not listen on \(socket) within 20 s:\n\(logText.suffix(3000))")
    }

    /// An OCI archive of the project's busybox rootfs, made offline: umoci makes the
    /// layout, skopeo the archive, named as `ctr images import` wants.
    private func importImage() throws {
        let rootfs = try Host.busyboxRootfs(in: base)
        let layout = base + "/layout"
        let script = """
            umoci init --layout "$1"
            umoci new --image "$1:busybox"
            umoci insert --image "$1:busybox" "$2" /
            skopeo copy -q "oci:$1:busybox" "oci-archive:$3:\(Containerd.image)"
            """
        let made = Host.run(["/bin/sh", "-euc", script, "sh", layout, rootfs, base + "/busybox.tar"])
        try #require(made.status == 0, "umoci and skopeo making the image: \(made)")
        let imported = ctr(["images", "import", base + "/busybox.tar"])
        try #require(imported.status == 0, "ctr images import: \(imported)")
    }

    func ctr(_ arguments: [String], timeout: Double = 60) -> Host.Output {
        Host.run(ctrCommand + arguments, timeout: timeout)
    }

    /// No task or container left in our namespace, no mount of a container's rootfs.
    func expectNothingLeft() {
        let tasks = ctr(["tasks", "ls", "-q"])
        #expect(tasks.status == 0 && tasks.stdout.isEmpty, "tasks left: \(tasks)")
        let containers = ctr(["containers", "ls", "-q"])
        #expect(containers.status == 0 && containers.stdout.isEmpty, "containers left: \(containers)")
        let mounts = Host.mounts(under: base + "/state")
        #expect(mounts.isEmpty, "mounts left under \(base)/state: \(mounts)")
    }

    /// Our processes: the daemon and any shim it started for our namespace (a shim
    /// outlives containerd by design), found by the socket address on its command line.
    private func shims() -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard arguments.first?.hasSuffix("containerd-shim-runc-v2") == true, arguments.contains(socket) else { return nil }
            return pid
        }
    }

    /// On every way out: the tasks (killed), containers, image; containerd (SIGTERM by
    /// pid, then SIGKILL), its shims; mounts, cgroups, our directory, host directories.
    func remove() {
        if let daemon {
            for id in ctr(["tasks", "ls", "-q"]).stdout.split(separator: "\n").map(String.init) {
                _ = ctr(["tasks", "kill", "-s", "SIGKILL", id])
                _ = Host.waitUntil(seconds: 5) {
                    !ctr(["tasks", "ls"]).stdout.split(separator: "\n").contains { $0.hasPrefix(id + " ") && !$0.contains("STOPPED") }
                }
                _ = ctr(["tasks", "delete", "-f", id])
            }
            for id in ctr(["containers", "ls", "-q"]).stdout.split(separator: "\n").map(String.init) { _ = ctr(["containers", "rm", id]) }
            _ = ctr(["images", "rm", Containerd.image])
            kill(daemon, SIGTERM)
            if Host.wait(for: daemon, timeout: 10) == nil { print("containerd (pid \(daemon)) did not stop within 10 s of SIGTERM: killed") }
        }
        for pid in shims() { kill(pid, SIGKILL) }
        Host.unmountAll(under: base)
        Host.removeCgroups(named: tag)
        try? FileManager.default.removeItem(atPath: base)
        Host.removeEmptyDirectories(hostDirectories)
    }
}
