import Foundation
import Runtime
import Testing

/// Chapter 10 on real containers: `scratch create/start/state/kill/delete/run/exec/ps/
/// list/features` on bundles made offline (a busybox rootfs from `scratch rootfs
/// build`, a config.json from `scratch spec` or `runc spec`), with a state root of the
/// suite's own, and bad input as runc meets it. Every test removes what it made: its
/// containers (`delete --force`), then the bundle; the suite's directory at exit.
@Suite(.enabled(if: geteuid() == 0, "needs root: containers need namespaces and mounts — run `sudo swift test`"), .serialized)
struct OCILifecycleTests {
    /// /tmp/oci-lifecycle-tests-PID: `rootfs/` (busybox), `root/` (the state root),
    /// one `bundle-*` per test.
    static let directory: Result<String, FixtureError> = {
        let directory = "/tmp/oci-lifecycle-tests-\(getpid())"
        // home/: SCRATCH_HOME, where ConfigurationTests.run keeps each run's output.
        try? FileManager.default.createDirectory(atPath: directory + "/home", withIntermediateDirectories: true)
        atexit {
            try? FileManager.default.removeItem(atPath: "/tmp/oci-lifecycle-tests-\(getpid())")
        }
        let built = ConfigurationTests.run([ConfigurationTests.scratch, "rootfs", "build", directory + "/rootfs"], home: directory + "/home")
        guard built.status == 0 else { return .failure(FixtureError(description: "scratch rootfs build: \(built.stderr)")) }
        return .success(directory)
    }()

    struct FixtureError: Error, CustomStringConvertible { let description: String }

    typealias Output = ConfigurationTests.Output

    /// `scratch --root ROOT ARGS`.
    func scratch(_ arguments: [String], global: Bool = true, directory: String? = nil) throws -> Output {
        let base = try Self.directory.get()
        return ConfigurationTests.run(
            [ConfigurationTests.scratch] + (global ? ["--root", base + "/root"] : []) + arguments, home: base + "/home",
            directory: directory)
    }

    /// A bundle: a copy of the rootfs and config.json (scratch spec's, `args` in it,
    /// with `edit` applied to the JSON object).
    func makeBundle(args: [String], edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let base = try Self.directory.get()
        let bundle = base + "/bundle-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: false)
        let copied = ConfigurationTests.run(["cp", "-a", base + "/rootfs", bundle + "/rootfs"], home: base + "/home")
        #expect(copied.status == 0, "\(copied.stderr)")
        let spec = try scratch(["spec", "--bundle", bundle], global: false)
        #expect(spec.status == 0, "\(spec.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json"))
        var config = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var process = config["process"] as? [String: Any] ?? [:]
        process["args"] = args
        config["process"] = process
        // No limits: the tests are about the lifecycle (scratch spec's namespaces kept).
        // A writable root: some write.
        config["linux"] = ["namespaces": (config["linux"] as? [String: Any])?["namespaces"] ?? []]
        config["root"] = ["path": "rootfs", "readonly": false]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: bundle + "/config.json"))
        return bundle
    }

    func status(_ id: String) throws -> String? {
        let state = try scratch(["state", id])
        guard state.status == 0, let object = try JSONSerialization.jsonObject(with: Data(state.stdout.utf8)) as? [String: Any] else {
            return nil
        }
        return object["status"] as? String
    }

    func eventually(_ seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }

    /// Removes the container and the bundle, whatever happened.
    func cleanUp(_ id: String, bundle: String) {
        _ = try? scratch(["delete", "--force", id])
        try? FileManager.default.removeItem(atPath: bundle)
    }

    @Test("create → created (the fifo, the runtime's command line), start → running, kill → stopped, delete → nothing left")
    func lifecycle() throws {
        let base = try Self.directory.get()
        let id = "life-\(getpid())"
        let bundle = try makeBundle(args: ["sleep", "30"])
        defer { cleanUp(id, bundle: bundle) }
        let pidFile = bundle + "/container.pid"
        let created = try scratch(["create", "--bundle", bundle, "--pid-file", pidFile, id])
        #expect(created.status == 0, "\(created.stderr)")
        let pid = try #require(Int32((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""))
        let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        #expect(cmdline.contains("create") && !cmdline.hasPrefix("sleep"), "\(cmdline)")
        #expect(FileManager.default.fileExists(atPath: base + "/root/\(id)/exec.fifo"))
        #expect(try status(id) == "created")
        let state = try scratch(["state", id])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(state.stdout.utf8)) as? [String: Any])
        #expect(object["id"] as? String == id && object["pid"] as? Int == Int(pid) && object["bundle"] as? String == bundle)
        #expect(object["ociVersion"] != nil && object["annotations"] != nil)

        let started = try scratch(["start", id])
        #expect(started.status == 0, "\(started.stderr)")
        #expect(try status(id) == "running")
        #expect(!FileManager.default.fileExists(atPath: base + "/root/\(id)/exec.fifo"))
        let listed = try scratch(["list", "-q"])
        #expect(listed.stdout.split(separator: "\n").contains(Substring(id)))
        let ps = try scratch(["ps", "--format", "json", id])
        #expect(ps.stdout.contains("\(pid)"), "\(ps.stdout)\(ps.stderr)")
        let exec = try scratch(["exec", id, "cat", "/proc/1/cmdline"])
        #expect(exec.status == 0 && exec.stdout.hasPrefix("sleep"), "\(exec.stdout)\(exec.stderr)")
        // exec -p: a runtime-spec process object, as containerd-shim and conmon pass it.
        let processFile = bundle + "/process.json"
        try
            #"{"args": ["sh", "-c", "echo $GREETING; pwd; id -u"], "env": ["GREETING=hi", "PATH=/bin"], "cwd": "/tmp", "user": {"uid": 65534, "gid": 65534}}"#
            .write(toFile: processFile, atomically: false, encoding: .utf8)
        let execProcess = try scratch(["exec", "-p", processFile, id])
        #expect(execProcess.status == 0 && execProcess.stdout == "hi\n/tmp\n65534\n", "\(execProcess.stdout)\(execProcess.stderr)")
        // exec -d --pid-file, as conmon runs it: the file names the command itself (the
        // pid conmon signals and reaps), and a command that cannot start fails exec.
        let execPidFile = bundle + "/exec.pid"
        let detached = try scratch(["exec", "-d", "--pid-file", execPidFile, id, "sleep", "29"])
        #expect(detached.status == 0, "\(detached.stderr)")
        let execPid = Int32((try? String(contentsOfFile: execPidFile, encoding: .utf8)) ?? "") ?? -1
        let execCmdline = (try? String(contentsOfFile: "/proc/\(execPid)/cmdline", encoding: .utf8)) ?? ""
        #expect(execCmdline.hasPrefix("sleep\u{0}29"), "pid file \(execPid): \(execCmdline)")
        let missing = try scratch(["exec", "-d", "--pid-file", bundle + "/missing.pid", id, "no-such-command"])
        #expect(missing.status == 1 && missing.stderr.contains("executable file not found"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: bundle + "/missing.pid"))

        let killed = try scratch(["kill", id, "KILL"])
        #expect(killed.status == 0, "\(killed.stderr)")
        #expect(try eventually { try status(id) == "stopped" })
        let cgroups = try String(contentsOfFile: base + "/root/\(id)/state", encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("cgroup=") }.map { String($0.dropFirst(7)) }
        let deleted = try scratch(["delete", id])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base + "/root/\(id)"))
        #expect(cgroups.allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "\(cgroups)")
        #expect(try scratch(["state", id]).status != 0)
    }

    @Test("a relative linux.cgroupsPath goes below scratch's group, and every level it made goes at delete")
    func relativeCgroupsPath() throws {
        let base = try Self.directory.get()
        let id = "relcg-\(getpid())"
        let top = "levels-\(getpid())"
        let bundle = try makeBundle(args: ["sleep", "30"]) { config in config["linux"] = ["cgroupsPath": "\(top)/middle/container"] }
        defer { cleanUp(id, bundle: bundle) }
        let created = try scratch(["create", "--bundle", bundle, id])
        #expect(created.status == 0, "\(created.stderr)")
        let cgroups = try String(contentsOfFile: base + "/root/\(id)/state", encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("cgroup=") }.map { String($0.dropFirst(7)) }
        #expect(!cgroups.isEmpty && cgroups.allSatisfy { $0.hasSuffix("/scratch/\(top)/middle/container") }, "\(cgroups)")
        #expect(try scratch(["delete", "--force", id]).status == 0)
        let made = cgroups.map { String($0.dropLast("/middle/container".count)) }
        #expect(
            made.allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "left: \(made.filter { FileManager.default.fileExists(atPath: $0) })")

        // And when create fails after the groups were made (the command is missing).
        let failing = try makeBundle(args: ["no-such-command"]) { config in config["linux"] = ["cgroupsPath": "\(top)/middle/container"] }
        defer { cleanUp(id + "-failing", bundle: failing) }
        let refused = try scratch(["create", "--bundle", failing, id + "-failing"])
        #expect(refused.status != 0, "\(refused.stderr)")
        #expect(
            made.allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "left: \(made.filter { FileManager.default.fileExists(atPath: $0) })")
    }

    @Test("exec loads the seccomp filter create kept beside the record when the shared cache is gone (scratch gc empties it)")
    func execWithoutTheSharedCache() throws {
        let base = try Self.directory.get()
        let id = "kept-filter-\(getpid())"
        let bundle = try makeBundle(args: ["sleep", "30"])
        defer { cleanUp(id, bundle: bundle) }
        #expect(try scratch(["create", "--bundle", bundle, id]).status == 0)
        #expect(try scratch(["start", id]).status == 0)
        #expect(FileManager.default.fileExists(atPath: base + "/root/\(id)/seccomp.bpf"))
        // A state root whose seccomp cache is empty: as after a `scratch gc` that saw
        // no container of its own (this one is recorded under another root).
        let emptyRoot = base + "/empty-state-\(getpid())"
        try FileManager.default.createDirectory(atPath: emptyRoot, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: emptyRoot) }
        let exec = ConfigurationTests.run(
            ["env", "SCRATCH_STATE_ROOT=" + emptyRoot, ConfigurationTests.scratch, "--root", base + "/root", "exec", id, "cat", "/proc/self/status"],
            home: base + "/home")
        #expect(exec.status == 0 && exec.stdout.contains("Seccomp:\t2"), "\(exec.stdout)\(exec.stderr)")
        #expect(try scratch(["delete", "--force", id]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: base + "/root/\(id)"))
    }

    @Test("the container outlives create: no death signal, found again by pid and start time")
    func outlivesCreate() throws {
        let id = "orphan-\(getpid())"
        let bundle = try makeBundle(args: ["sh", "-c", "echo started > /started; sleep 30"])
        defer { cleanUp(id, bundle: bundle) }
        #expect(try scratch(["create", "--bundle", bundle, id]).status == 0)
        // create has exited: the container waits, reparented.
        usleep(200_000)
        #expect(try status(id) == "created")
        #expect(!FileManager.default.fileExists(atPath: bundle + "/rootfs/started"))
        #expect(try scratch(["start", id]).status == 0)
        #expect(eventually { FileManager.default.fileExists(atPath: bundle + "/rootfs/started") })
    }

    @Test("run --bundle in the foreground: the command's output and exit status, and nothing left")
    func runForeground() throws {
        let base = try Self.directory.get()
        let id = "run-\(getpid())"
        let bundle = try makeBundle(args: ["sh", "-c", "echo hello from $(hostname); exit 3"])
        defer { cleanUp(id, bundle: bundle) }
        let run = try scratch(["run", "--bundle", bundle, id], global: false)
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stdout == "hello from scratch\n", "\(run.stdout)")
        #expect(!FileManager.default.fileExists(atPath: defaultOCIRoot() + "/" + id))
        // And with the global flags first, as runc's callers write it.
        let again = try scratch(["run", "-b", bundle, id])
        #expect(again.status == 3, "\(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base + "/root/" + id))
    }

    @Test("hooks run in order with the state on standard input; a failing prestart hook fails create and leaves nothing")
    func hooks() throws {
        let base = try Self.directory.get()
        let id = "hooks-\(getpid())"
        let log = base + "/hooks-\(id).log"
        func hook(_ name: String) -> [String: Any] {
            ["path": "/bin/sh", "args": ["sh", "-c", "(echo \(name); tr -d '\\n'; echo) >> \(log)"]]
        }
        let bundle = try makeBundle(args: ["sleep", "30"]) { config in
            config["hooks"] = [
                "prestart": [hook("prestart")], "createRuntime": [hook("createRuntime")], "createContainer": [hook("createContainer")],
                "poststart": [hook("poststart")], "poststop": [hook("poststop")],
            ]
            config["annotations"] = ["org.example/key": "value"]
        }
        defer { cleanUp(id, bundle: bundle) }
        #expect(try scratch(["create", "--bundle", bundle, id]).status == 0)
        #expect(try scratch(["start", id]).status == 0)
        #expect(try scratch(["state", id]).stdout.contains("\"org.example/key\": \"value\""))
        #expect(try scratch(["delete", "--force", id]).status == 0)
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        let names = stride(from: 0, to: lines.count, by: 2).map { lines[$0] }
        #expect(names == ["prestart", "createRuntime", "createContainer", "poststart", "poststop"], "\(lines)")
        let statuses = stride(from: 1, to: lines.count, by: 2).compactMap { index -> String? in
            (try? JSONSerialization.jsonObject(with: Data(lines[index].utf8)) as? [String: Any])?["status"] as? String
        }
        #expect(statuses == ["creating", "creating", "creating", "running", "stopped"], "\(lines)")

        let failing = "failing-\(getpid())"
        let badBundle = try makeBundle(args: ["true"]) { config in
            config["hooks"] = ["prestart": [["path": "/bin/false"]]]
        }
        defer { cleanUp(failing, bundle: badBundle) }
        let refused = try scratch(["create", "--bundle", badBundle, failing])
        #expect(refused.status == 1 && refused.stderr.contains("hooks.prestart[0]"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base + "/root/" + failing))

        // A failing poststart or poststop hook is a warning (runtime-spec lifecycle):
        // the hooks after it run, and start and delete succeed.
        let warned = "warned-\(getpid())"
        let warnLog = base + "/warn-\(warned).log"
        func failingThen(_ name: String) -> [[String: Any]] {
            [["path": "/bin/false"], ["path": "/bin/sh", "args": ["sh", "-c", "echo \(name) >> \(warnLog)"]]]
        }
        let warnBundle = try makeBundle(args: ["sleep", "30"]) { config in
            config["hooks"] = ["poststart": failingThen("poststart"), "poststop": failingThen("poststop")]
        }
        defer { cleanUp(warned, bundle: warnBundle) }
        #expect(try scratch(["create", "--bundle", warnBundle, warned]).status == 0)
        let started = try scratch(["start", warned])
        #expect(started.status == 0 && started.stderr.contains("warning: run hooks.poststart[0]"), "\(started.stderr)")
        let deleted = try scratch(["delete", "--force", warned])
        #expect(deleted.status == 0 && deleted.stderr.contains("warning: run hooks.poststop[0]"), "\(deleted.stderr)")
        #expect((try? String(contentsOfFile: warnLog, encoding: .utf8)) == "poststart\npoststop\n")
    }

    @Test("runc spec's own config runs: capabilities, rlimits, noNewPrivileges, namespaces (network too), masked paths, a sysctl")
    func runcSpec() throws {
        let base = try Self.directory.get()
        let id = "runcspec-\(getpid())"
        let bundle = base + "/bundle-runc-\(getpid())"
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: false)
        defer { cleanUp(id, bundle: bundle) }
        _ = ConfigurationTests.run(["cp", "-a", base + "/rootfs", bundle + "/rootfs"], home: base + "/home")
        let spec = ConfigurationTests.run(["runc", "spec"], home: base + "/home", directory: bundle)
        try #require(spec.status == 0, "runc spec: \(spec.stderr)")
        var config = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json"))) as? [String: Any])
        var process = config["process"] as? [String: Any] ?? [:]
        process["terminal"] = false
        process["args"] = ["sh", "-c", "ulimit -n; grep CapEff /proc/self/status; cat /proc/net/dev | wc -l; cat /proc/sys/kernel/shmmni"]
        config["process"] = process
        var linux = config["linux"] as? [String: Any] ?? [:]
        linux["sysctl"] = ["kernel.shmmni": "1234"]
        config["linux"] = linux
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: bundle + "/config.json"))
        let run = try scratch(["run", "--bundle", bundle, id])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        // runc spec: RLIMIT_NOFILE 1024; its 3 capabilities (audit_write, kill,
        // net_bind_service); a network namespace of its own: lo only (2 header lines + lo).
        #expect(lines.first == "1024", "\(run.stdout)")
        #expect(lines.contains("CapEff:\t0000000020000420") || lines.contains { $0.hasSuffix("0000000020000420") }, "\(run.stdout)")
        #expect(lines.count == 4 && lines[2] == "3", "\(run.stdout)")
        // linux.sysctl: the container's IPC namespace's, not the host's.
        #expect(lines.last == "1234", "\(run.stdout)")
        #expect((try? String(contentsOfFile: "/proc/sys/kernel/shmmni", encoding: .utf8)) != "1234\n")
    }

    @Test("linux.namespaces as runc reads it: a network namespace joined by path, the host's UTS namespace (and name) kept")
    func namespacesByPath() throws {
        let id = "join-\(getpid())"
        let name = "scratch-oci-test-\(getpid())"
        let added = ConfigurationTests.run(["ip", "netns", "add", name], home: try Self.directory.get() + "/home")
        try #require(added.status == 0, "ip netns add: \(added.stderr)")
        defer { _ = ConfigurationTests.run(["ip", "netns", "del", name], home: ((try? Self.directory.get()) ?? "/tmp") + "/home") }
        let bundle = try makeBundle(args: ["sh", "-c", "readlink /proc/self/ns/net; hostname"]) { config in
            config["linux"] = ["namespaces": [["type": "pid"], ["type": "mount"], ["type": "network", "path": "/run/netns/" + name]]]
        }
        defer { cleanUp(id, bundle: bundle) }
        var info = stat()
        try #require(stat("/run/netns/" + name, &info) == 0)
        var host = utsname()
        uname(&host)
        let hostname = withUnsafeBytes(of: host.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let run = try scratch(["run", "--bundle", bundle, id])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "net:[\(info.st_ino)]\n\(hostname)\n", "\(run.stdout)")
    }

    @Test("process.terminal with --console-socket: the pty's master arrives over the socket, the container's tty is the slave")
    func consoleSocket() throws {
        let base = try Self.directory.get()
        let id = "tty-\(getpid())"
        let bundle = try makeBundle(args: ["sh", "-c", "tty; stty size"]) { config in
            var process = config["process"] as? [String: Any] ?? [:]
            process["terminal"] = true
            process["consoleSize"] = ["height": 30, "width": 100]
            config["process"] = process
        }
        defer { cleanUp(id, bundle: bundle) }
        // The tool's side, as conmon's: listen, receive the descriptor (SCM_RIGHTS), read.
        let receiver = """
            import array, os, socket, subprocess, sys, time
            scratch, root, bundle, id, path = sys.argv[1:]
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(path)
            server.listen(1)
            create = subprocess.Popen([scratch, "--root", root, "create", "--bundle", bundle, "--console-socket", path, id])
            connection, _ = server.accept()
            fds = array.array("i")
            _, ancillary, _, _ = connection.recvmsg(64, socket.CMSG_LEN(fds.itemsize))
            fds.frombytes(ancillary[0][2][:fds.itemsize])
            assert create.wait() == 0
            subprocess.run([scratch, "--root", root, "start", id], check=True)
            out = b""
            deadline = time.time() + 5
            while out.count(b"\\n") < 2 and time.time() < deadline:
                try:
                    out += os.read(fds[0], 1000)
                except OSError:
                    break
            sys.stdout.write(out.decode())
            """
        let path = base + "/console-\(getpid()).sock"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = ConfigurationTests.run(
            ["python3", "-c", receiver, ConfigurationTests.scratch, base + "/root", bundle, id, path], home: base + "/home")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "/dev/pts/0\r\n30 100\r\n", "\(run.stdout)")
        let refused = try scratch(["create", "--bundle", bundle, id + "-nosocket"])
        #expect(refused.status == 1 && refused.stderr.contains("--console-socket"), "\(refused.stderr)")
    }

    @Test("a config as Podman 4.3 sends it runs: umask, sysctl, cgroupsPath, binds with nosuid/nodev/noexec, /dev/shm, mqueue and cgroup mounts")
    func podmanConfig() throws {
        let base = try Self.directory.get()
        let id = "podman-\(getpid())"
        let files = base + "/podman-files-\(getpid())"
        try FileManager.default.createDirectory(atPath: files + "/shm", withIntermediateDirectories: true)
        try "podman-box\n".write(toFile: files + "/hostname", atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: files) }
        let parent = "scratch-oci-test-\(getpid())"
        let bundle = try makeBundle(args: [
            "sh", "-c", "umask; cat /etc/hostname; cat /proc/sys/net/ipv4/ping_group_range; grep -c ' /dev/shm ' /proc/mounts",
        ]) {
            config in
            var process = config["process"] as? [String: Any] ?? [:]
            process["user"] = ["uid": 0, "gid": 0, "umask": 18]
            process["rlimits"] = [["type": "RLIMIT_NPROC", "hard": 4096, "soft": 4096]]
            config["process"] = process
            config["mounts"] = [
                ["destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]],
                [
                    "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"],
                ],
                ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]],
                [
                    "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                    "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
                ],
                ["destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]],
                ["destination": "/etc/hostname", "type": "bind", "source": files + "/hostname", "options": ["bind", "rprivate"]],
                ["destination": "/dev/shm", "type": "bind", "source": files + "/shm", "options": ["bind", "rprivate", "nosuid", "noexec", "nodev"]],
                [
                    "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                    "options": ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"],
                ],
            ]
            config["annotations"] = ["io.container.manager": "libpod"]
            config["linux"] = [
                "sysctl": ["net.ipv4.ping_group_range": "0 0"],
                "resources": ["devices": [["allow": false, "access": "rwm"]], "pids": ["limit": 2048]],
                "cgroupsPath": "/\(parent)/libpod-\(id)",
                "namespaces": [["type": "pid"], ["type": "network"], ["type": "ipc"], ["type": "uts"], ["type": "mount"]],
                "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys"], "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/sys"],
            ]
        }
        defer { cleanUp(id, bundle: bundle) }
        let created = try scratch(["create", "--bundle", bundle, id])
        #expect(created.status == 0, "\(created.stderr)")
        let record = (try? String(contentsOfFile: base + "/root/\(id)/state", encoding: .utf8)) ?? ""
        #expect(record.contains("cgroup=/sys/fs/cgroup/pids/\(parent)/libpod-\(id)\n"), "\(record)")
        _ = try scratch(["delete", "--force", id])
        #expect(!FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/\(parent)/libpod-\(id)"))
        let run = try scratch(["run", "--bundle", bundle, id])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "0022\npodman-box\n0\t0\n1\n", "\(run.stdout)")
    }

    @Test("bad input: runc's exit code (1) and case, nothing left")
    func badInput() throws {
        let base = try Self.directory.get()
        let empty = base + "/empty-bundle-\(getpid())"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let noConfig = try scratch(["create", "--bundle", empty, "nocfg"])
        #expect(noConfig.status == 1 && noConfig.stderr.contains("config.json"), "\(noConfig.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base + "/root/nocfg"))

        // net.* without a network namespace of its own would set the host's.
        let unsupported = try makeBundle(args: ["true"]) { config in config["linux"] = ["sysctl": ["net.ipv4.ip_forward": "1"]] }
        defer { try? FileManager.default.removeItem(atPath: unsupported) }
        let refused = try scratch(["create", "--bundle", unsupported, "sysctl"])
        #expect(refused.status == 1 && refused.stderr.contains("linux.sysctl"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base + "/root/sysctl"))

        let missing = try makeBundle(args: ["no-such-command"])
        defer { try? FileManager.default.removeItem(atPath: missing) }
        let notFound = try scratch(["create", "--bundle", missing, "notfound"])
        #expect(notFound.status != 0 && notFound.stderr.contains("executable file not found"), "\(notFound.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base + "/root/notfound"))

        #expect(try scratch(["start", "nonesuch"]).stderr.contains("does not exist"))
        #expect(try scratch(["state", "nonesuch"]).status == 1)
        #expect(try scratch(["create", "--bundle", empty, "bad/id"]).stderr.contains("invalid id"))
        let systemd = try scratch(["--systemd-cgroup", "list"])
        #expect(systemd.status == 1 && systemd.stderr.contains("--systemd-cgroup"), "\(systemd.stderr)")

        // SELinux labels, as Podman may send them: nothing to apply on a host without
        // SELinux (accepted, as runc and crun do); refused, named, on one with it.
        let labelled = "labels-\(getpid())"
        let labelBundle = try makeBundle(args: ["true"]) { config in
            config["linux"] = ["mountLabel": "system_u:object_r:container_file_t:s0:c1,c2"]
            var process = config["process"] as? [String: Any] ?? [:]
            process["selinuxLabel"] = "system_u:system_r:container_t:s0:c1,c2"
            config["process"] = process
        }
        defer { cleanUp(labelled, bundle: labelBundle) }
        let labels = try scratch(["create", "--bundle", labelBundle, labelled])
        if FileManager.default.fileExists(atPath: "/sys/fs/selinux/enforce") {
            #expect(labels.status == 1 && labels.stderr.contains("linux.mountLabel"), "\(labels.stderr)")
        } else {
            #expect(labels.status == 0, "\(labels.stderr)")
        }

        let id = "twice-\(getpid())"
        let bundle = try makeBundle(args: ["sleep", "30"])
        defer { cleanUp(id, bundle: bundle) }
        #expect(try scratch(["create", "--bundle", bundle, id]).status == 0)
        let again = try scratch(["create", "--bundle", bundle, id])
        #expect(again.status == 1 && again.stderr.contains("container with id exists"), "\(again.stderr)")
        #expect(try scratch(["start", id]).status == 0)
        let restart = try scratch(["start", id])
        #expect(restart.status == 1 && restart.stderr.contains("running"), "\(restart.stderr)")
        let running = try scratch(["delete", id])
        #expect(running.status == 1 && running.stderr.contains("not stopped"), "\(running.stderr)")
        #expect(try status(id) == "running")
    }

    @Test("features and list speak JSON; scratch run IMAGE still runs an image")
    func featuresAndImageRun() throws {
        let features = try scratch(["features"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(features.stdout.utf8)) as? [String: Any])
        #expect(object["ociVersionMax"] as? String == ociVersion)
        let list = try scratch(["list", "--format", "json"])
        #expect((try? JSONSerialization.jsonObject(with: Data(list.stdout.utf8))) is [Any], "\(list.stdout)")
        let base = try Self.directory.get()
        let plain = try scratch(["run", "--rm", "--rootfs", base + "/rootfs", "--", "echo", "plain"], global: false)
        #expect(plain.status == 0 && plain.stdout == "plain\n", "\(plain.stderr)")
    }
}
