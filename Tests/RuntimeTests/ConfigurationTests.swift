import Foundation
import RunOptions
import Runtime
import RuntimeConfig
import Testing

/// Chapter 6 on real containers: the environment, -w, --user, the image's
/// Entrypoint/Cmd, `run --config` with flags over it, and bad input (exit 125, nothing
/// left). Everything runs in one SCRATCH_HOME of its own, removed when the tests end;
/// every container runs with --rm or on a --rootfs (no layer kept).
@Suite(.enabled(if: geteuid() == 0, "needs root: containers need namespaces and mounts — run `sudo swift test`"))
struct ConfigurationTests {
    /// The shared fixture: built once per test process.
    ///   $home                      SCRATCH_HOME, with the default busybox image
    ///   images/cfg/1               that image with Env FOO=image KEEP=yes, Cmd, WorkingDir
    ///   images/cfg/2               with Entrypoint echo, Cmd default
    ///   users/                     a busybox rootfs whose passwd has app (1000) in
    ///                              staff (50) and video (44)
    struct Fixture: Sendable {
        let home: String
        var users: String { home + "/users" }
    }

    static let fixture: Result<Fixture, FixtureError> = makeFixture()

    struct FixtureError: Error, CustomStringConvertible { let description: String }

    static func makeFixture() -> Result<Fixture, FixtureError> {
        let home = "/tmp/configuration-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        atexit {
            let home = "/tmp/configuration-tests-\(getpid())"
            try? FileManager.default.removeItem(atPath: home)
        }
        let built = run([scratch, "rootfs", "build"], home: home)
        guard built.status == 0 else { return .failure(FixtureError(description: "scratch rootfs build: \(built.stderr)")) }
        let made = run(
            [
                "bash", "-euo", "pipefail", "-c",
                """
                cd "$SCRATCH_HOME"
                layer=$(grep '^layer=' images/busybox/latest)
                mkdir -p images/cfg
                printf '%s\\n' "$layer" 'env=FOO=image' 'env=KEEP=yes' 'cmd=sh' 'cmd=-c' 'cmd=echo from-cmd; pwd' 'workdir=/srv/app' > images/cfg/1
                printf '%s\\n' "$layer" 'entrypoint=echo' 'cmd=default' > images/cfg/2
                cp -a rootfs/busybox users
                echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> users/etc/passwd
                printf '%s\\n' 'app:x:1000:' 'staff:x:50:app' 'video:x:44:other,app' 'audio:x:29:other' >> users/etc/group
                """,
            ], home: home)
        guard made.status == 0 else { return .failure(FixtureError(description: "fixture: \(made.stderr)")) }
        return .success(Fixture(home: home))
    }

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// `scratch` beside this test binary.
    static let scratch: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("scratch").path) && directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("scratch").path
    }()

    /// Runs a command with exactly this environment (plus SCRATCH_HOME and PATH), no
    /// terminal, output to files.
    static func run(_ arguments: [String], home: String, environment extra: [String: String] = [:], directory: String? = nil) -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = isolatedNetwork(arguments)
        var environment = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SCRATCH_HOME": home]
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let base = home + "/out-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: base + ".out", contents: nil)
        FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: base + ".out")
        process.standardError = FileHandle(forWritingAtPath: base + ".err")
        do { try process.run() } catch { return Output(status: -1, stdout: "", stderr: "\(error)") }
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "")
    }

    func scratch(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil) throws -> Output {
        let fixture = try Self.fixture.get()
        return Self.run([Self.scratch] + arguments, home: fixture.home, environment: environment, directory: directory)
    }

    /// The container's variables, one `K=V` a line, sorted.
    func variables(_ output: Output) -> [String] {
        output.stdout.split(separator: "\n").map(String.init).sorted()
    }

    @Test("the host's variables are absent unless passed; -e K passes the host's K, and leaves out an unset one")
    func hostVariablesAbsent() throws {
        let plain = try scratch(["run", "--rm", "--hostname", "envbox", "--", "env"], environment: ["SECRET_TOKEN": "s3cr3t", "HOME": "/home/host"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(
            variables(plain) == ["HOME=/root", "HOSTNAME=envbox", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "\(plain.stdout)")
        let passed = try scratch(
            ["run", "--rm", "-e", "SECRET_TOKEN", "-e", "NOT_SET_ON_HOST", "-e", "A=1=2", "-e", "PATH=/bin:/usr/bin", "--", "env"],
            environment: ["SECRET_TOKEN": "s3cr3t"])
        #expect(passed.status == 0, "\(passed.stderr)")
        let names = variables(passed)
        #expect(names.contains("SECRET_TOKEN=s3cr3t") && names.contains("A=1=2") && names.contains("PATH=/bin:/usr/bin"), "\(names)")
        #expect(!names.contains { $0.hasPrefix("NOT_SET_ON_HOST") }, "\(names)")
    }

    @Test("the image's Env is there; --env-file goes over it and -e over both")
    func imageEnvironmentAndPrecedence() throws {
        let fixture = try Self.fixture.get()
        let image = try scratch(["run", "--rm", "cfg:1", "--", "env"])
        #expect(image.status == 0, "\(image.stderr)")
        #expect(variables(image).contains("FOO=image") && variables(image).contains("KEEP=yes"), "\(image.stdout)")
        let file = fixture.home + "/precedence.env"
        try "FOO=file\nFROM_FILE=1\n".write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try scratch(["run", "--rm", "--env-file", file, "cfg:1", "--", "env"])
        #expect(variables(fromFile).contains("FOO=file") && variables(fromFile).contains("KEEP=yes"), "\(fromFile.stdout)\(fromFile.stderr)")
        let flag = try scratch(["run", "--rm", "-e", "FOO=flag", "--env-file", file, "cfg:1", "--", "env"])
        let names = variables(flag)
        #expect(names.contains("FOO=flag") && names.contains("FROM_FILE=1") && names.contains("KEEP=yes"), "\(flag.stdout)\(flag.stderr)")
        #expect(names.filter { $0.hasPrefix("FOO=") }.count == 1, "\(names)")
    }

    @Test("--env-file: comments, blank lines, leading spaces, no quote processing, K from the host")
    func environmentFile() throws {
        let fixture = try Self.fixture.get()
        let file = fixture.home + "/app.env"
        try "# a comment\n\n   \nA=1\n  B=two words\nC=\"quoted\"\n#D=not\nFROM_HOST\nUNSET_HERE\nE=\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let result = try scratch(["run", "--rm", "--env-file", file, "--", "env"], environment: ["FROM_HOST": "h"])
        #expect(result.status == 0, "\(result.stderr)")
        let names = variables(result)
        for expected in ["A=1", "B=two words", "C=\"quoted\"", "FROM_HOST=h", "E="] {
            #expect(names.contains(expected), "\(expected) in \(names)")
        }
        #expect(!names.contains { $0.hasPrefix("D=") || $0.hasPrefix("UNSET_HERE") || $0.hasPrefix("#") }, "\(names)")
    }

    @Test("the image's Cmd runs with no command; a command replaces Cmd and keeps Entrypoint; --entrypoint replaces both")
    func entrypointAndCmd() throws {
        let own = try scratch(["run", "--rm", "cfg:1", "--"])
        #expect(own.stdout == "from-cmd\n/srv/app\n", "Cmd, in the image's WorkingDir (made): \(own.stdout)\(own.stderr)")
        #expect(try scratch(["run", "--rm", "cfg:2", "--"]).stdout == "default\n")
        #expect(try scratch(["run", "--rm", "cfg:2", "--", "hello", "there"]).stdout == "hello there\n")
        let replaced = try scratch(["run", "--rm", "--entrypoint", "printf", "cfg:2", "--", "%s-", "x"])
        #expect(replaced.stdout == "x-", "\(replaced.stdout)\(replaced.stderr)")
        let cleared = try scratch(["run", "--rm", "--entrypoint", "", "cfg:2", "--"])
        #expect(cleared.status == 125 && cleared.stderr.contains("no command given"), "\(cleared.stderr)")
    }

    @Test("-w sets the working directory, made when missing; -w overrides the image's WorkingDir")
    func workingDirectory() throws {
        let made = try scratch(["run", "--rm", "-w", "/srv/new/dir", "--", "sh", "-c", "pwd; ls -ld /srv/new/dir | cut -c1-10"])
        #expect(made.stdout == "/srv/new/dir\ndrwxr-xr-x\n", "\(made.stdout)\(made.stderr)")
        let existing = try scratch(["run", "--rm", "-w", "/etc", "cfg:1", "--", "pwd"])
        #expect(existing.stdout == "/etc\n", "\(existing.stdout)\(existing.stderr)")
    }

    /// Uid, Gid and Groups from /proc/self/status inside, and $HOME.
    func identity(_ arguments: [String]) throws -> String {
        let fixture = try Self.fixture.get()
        let result = try scratch(
            ["run", "--rootfs", fixture.users] + arguments
                + ["--", "sh", "-c", "grep -E '^(Uid|Gid|Groups):' /proc/self/status | tr -s '\\t ' ' '; echo HOME=$HOME"])
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        return result.stdout
    }

    @Test("--user NAME runs with its uid, gid and supplementary groups from the image; UID:GID and a bare UID as runc does")
    func user() throws {
        #expect(try identity(["-u", "app"]) == "Uid: 1000 1000 1000 1000\nGid: 1000 1000 1000 1000\nGroups: 44 50 \nHOME=/home/app\n")
        #expect(try identity(["--user", "app:video"]) == "Uid: 1000 1000 1000 1000\nGid: 44 44 44 44\nGroups: \nHOME=/home/app\n")
        #expect(try identity(["-u", "1000:29"]) == "Uid: 1000 1000 1000 1000\nGid: 29 29 29 29\nGroups: \nHOME=/home/app\n")
        #expect(try identity(["-u", "4242"]) == "Uid: 4242 4242 4242 4242\nGid: 0 0 0 0\nGroups: \nHOME=/\n")
        // Root by default, and without the runtime's own supplementary groups.
        #expect(try identity([]) == "Uid: 0 0 0 0\nGid: 0 0 0 0\nGroups: \nHOME=/root\n")
    }

    @Test("scratch exec starts its process with the container's variables, user and working directory")
    func execInherits() throws {
        let fixture = try Self.fixture.get()
        let hostname = "exec-\(UInt32.random(in: 0...UInt32.max))"
        let container = Process()
        container.executableURL = URL(fileURLWithPath: Self.scratch)
        container.arguments = [
            "run", "--rootfs", fixture.users, "--hostname", hostname, "-e", "GREETING=hi", "-u", "app", "-w", "/srv", "--", "sleep", "30",
        ]
        container.environment = ["SCRATCH_HOME": fixture.home, "PATH": "/usr/bin:/bin"]
        container.standardInput = FileHandle.nullDevice
        try container.run()
        var id: String?
        // Every way out: the container is killed (SIGKILL: a PID 1 sleep ignores
        // SIGTERM) and its runtime reaped.
        defer {
            if let id { _ = try? scratch(["kill", id]) }
            if container.isRunning { container.terminate() }
            container.waitUntilExit()
        }
        for _ in 0..<100 where id == nil {
            let listed = try scratch(["ps"]).stdout.split(separator: "\n").first { $0.hasSuffix(" " + hostname) }
            id = listed.map { String($0.prefix(12)) }
            if id == nil { usleep(50_000) }
        }
        let found = try #require(id, "the container did not show in scratch ps")
        let exec = try scratch(["exec", found, "--", "sh", "-c", "echo $GREETING $HOME; id -u; pwd"])
        #expect(exec.stdout == "hi /home/app\n1000\n/srv\n", "\(exec.stdout)\(exec.stderr)")
    }

    @Test("a config file runs as written, and flags override it")
    func configAndFlags() throws {
        let fixture = try Self.fixture.get()
        let bundle = fixture.home + "/bundle"
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        let config = """
            {
              "ociVersion": "1.0.2",
              "process": {
                "args": ["sh", "-c", "hostname; echo $FOO $BAR; id -u; pwd; grep -E '^Groups' /proc/self/status | tr -s '\\\\t ' ' '"],
                "env": ["FOO=config", "BAR=config"],
                "cwd": "/tmp",
                "user": {"uid": 1000, "gid": 1000, "additionalGids": [29]},
                "x-vendor-extension": {"ignored": true}
              },
              "root": {"path": "../users", "readonly": false},
              "hostname": "fromconfig",
              "mounts": [],
              "linux": {"resources": {"memory": {"limit": 67108864}, "pids": {"limit": 64}, "cpu": {"quota": 50000, "period": 100000}}},
              "annotations": {"org.example": "ignored"}
            }
            """
        try config.write(toFile: bundle + "/config.json", atomically: true, encoding: .utf8)
        let plain = try scratch(["run", "--config", "bundle/config.json"], directory: fixture.home)
        #expect(plain.stdout == "fromconfig\nconfig config\n1000\n/tmp\nGroups: 29 \n", "\(plain.stdout)\(plain.stderr)")
        let flags = try scratch(
            ["run", "--config", bundle + "/config.json", "--hostname", "fromflag", "-e", "FOO=flag", "-u", "app", "-w", "/etc"])
        #expect(flags.stdout == "fromflag\nflag config\n1000\n/etc\nGroups: 44 50 \n", "\(flags.stdout)\(flags.stderr)")
        let command = try scratch([
            "run", "--config", bundle + "/config.json", "--", "sh", "-c", "echo $FOO; cat /proc/self/cgroup | grep -c scratch",
        ])
        #expect(command.stdout.hasPrefix("config\n"), "\(command.stdout)\(command.stderr)")
    }

    @Test(
        "a config's mounts: a read-only bind relative to the bundle, a tmpfs, the kernel filesystems scratch makes itself; a flag replaces the file's mount on its target"
    )
    func configMounts() throws {
        let fixture = try Self.fixture.get()
        let bundle = fixture.home + "/mounts-bundle"
        try FileManager.default.createDirectory(atPath: bundle + "/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: bundle) }
        try "from the host\n".write(toFile: bundle + "/data/note", atomically: true, encoding: .utf8)
        let config = """
            {
              "process": {"args": ["sh", "-c", "cat /data/note; touch /data/new 2>&1 | grep -c Read-only; df -k /cache | tail -n 1 | tr -s ' ' | cut -d' ' -f2"]},
              "root": {"path": "../users"},
              "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/data", "type": "bind", "source": "data", "options": ["rbind", "ro"]},
                {"destination": "/cache", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "size=1m"]}
              ]
            }
            """
        try config.write(toFile: bundle + "/config.json", atomically: true, encoding: .utf8)
        let result = try scratch(["run", "--rm", "--config", "mounts-bundle/config.json"], directory: fixture.home)
        #expect(result.status == 0 && result.stdout == "from the host\n1\n1024\n", "\(result.stdout)\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: bundle + "/data/new"))
        let replaced = try scratch([
            "run", "--rm", "--config", bundle + "/config.json", "-v", bundle + "/data:/data", "--", "sh", "-c", "touch /data/new && echo written",
        ])
        #expect(replaced.status == 0 && replaced.stdout == "written\n", "\(replaced.stdout)\(replaced.stderr)")
        #expect(FileManager.default.fileExists(atPath: bundle + "/data/new"))
    }

    @Test("scratch spec writes a config that scratch run --config runs; it keeps an existing one")
    func spec() throws {
        let fixture = try Self.fixture.get()
        let bundle = fixture.home + "/spec"
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        #expect(try scratch(["spec", "--bundle", bundle]).status == 0)
        let again = try scratch(["spec", "--bundle", bundle])
        #expect(again.status == 125 && again.stderr.contains("exists"), "\(again.stderr)")
        try FileManager.default.createSymbolicLink(atPath: bundle + "/rootfs", withDestinationPath: fixture.users)
        let result = try scratch(["run", "--config", bundle + "/config.json", "--", "sh", "-c", "hostname; touch /x 2>&1 | grep -c Read-only"])
        #expect(result.status == 0 && result.stdout == "scratch\n1\n", "\(result.stdout)\(result.stderr)")
    }

    /// Bad input, each with words its error must hold. Every one: exit 125.
    static let badInput: [([String], String)] = [
        (["-e", "=x"], "-e \"=x\": a variable needs a name"),
        (["-e", ""], "-e \"\": a variable needs a name"),
        (["--env-file", "/nonexistent/app.env"], "No such file or directory"),
        (["--env-file", "@BAD_ENV_FILE@"], "line 3:"),
        (["-w", "relative/dir"], "is relative"),
        (["--user", "nosuchuser"], "no user nosuchuser in the image's /etc/passwd"),
        (["--user", "root:nosuchgroup"], "no group nosuchgroup"),
        (["--user", ":1"], "an empty user or group"),
        (["--user", "99999999999"], "past the largest id"),
        (["--config", "@CONFIG@{\"process\": {\"args\": [\"true\"],}}"], "line 1, column 31: expected a property name"),
        (["--config", "@CONFIG@{\"process\": {\"args\": \"true\"}}"], "process.args: expected an array"),
        (["--config", "@CONFIG@{\"process\": {\"args\": [\"true\"], \"user\": {\"uid\": -1}}}"], "process.user.uid: -1"),
        (["--config", "@CONFIG@{\"process\": {\"args\": [\"true\"], \"env\": [\"A=1\", 2]}}"], "process.env[1]: expected a string"),
        (["--config", "@CONFIG@{\"process\": {\"cwd\": \"/\"}}"], "process.args: missing"),
        (["--config", "@CONFIG@{\"hostname\": \"x\"}"], "process: missing"),
        (
            ["--config", "@CONFIG@{\"process\": {\"args\": [\"true\"], \"capabilities\": {\"bounding\": []}, \"noNewPrivileges\": true}}"],
            "process.noNewPrivileges: not supported"
        ),
        (
            ["--config", "@CONFIG@{\"process\": {\"args\": [\"true\"]}, \"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\"}}}"],
            "linux.seccomp: not supported"
        ),
        (
            [
                "--config",
                "@CONFIG@{\"process\": {\"args\": [\"true\"]}, \"mounts\": [{\"destination\": \"/data\", \"type\": \"overlay\"}]}",
            ], "mounts[0]: a \"overlay\" mount on /data is not supported by scratch yet"
        ),
        (
            [
                "--config",
                "@CONFIG@{\"process\": {\"args\": [\"true\"]}, \"mounts\": [{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/tmp\", \"options\": [\"rbind\", \"relatime\"]}]}",
            ], "mounts[0].options[1]: \"relatime\" is not supported by scratch yet"
        ),
        (
            [
                "--config",
                "@CONFIG@{\"process\": {\"args\": [\"true\"]}, \"mounts\": [{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/nonexistent-scratch-source\"}]}",
            ], "--config mounts[0]: the host path /nonexistent-scratch-source does not exist"
        ),
        (["--config", "/nonexistent/config.json"], "scratch spec"),
    ]

    @Test("bad input: a clear error, exit 125, and nothing left on the host", arguments: badInput)
    func badInputIsRefused(_ flags: [String], _ words: String) throws {
        let fixture = try Self.fixture.get()
        let scratchDirectory = fixture.home + "/bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratchDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratchDirectory) }
        let envFile = scratchDirectory + "/bad.env"
        try "A=1\n# fine\n=nameless\n".write(toFile: envFile, atomically: true, encoding: .utf8)
        var arguments: [String] = []
        for flag in flags {
            if flag.hasPrefix("@CONFIG@") {
                try String(flag.dropFirst("@CONFIG@".count)).write(toFile: scratchDirectory + "/config.json", atomically: true, encoding: .utf8)
                arguments.append(scratchDirectory + "/config.json")
            } else {
                arguments.append(flag == "@BAD_ENV_FILE@" ? envFile : flag)
            }
        }
        // A SCRATCH_HOME of this case's own, sharing the fixture's image: whatever the
        // run made under it (a container's layer) is this run's alone.
        let home = scratchDirectory + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        for shared in ["layers", "images"] {
            try FileManager.default.createSymbolicLink(atPath: home + "/" + shared, withDestinationPath: fixture.home + "/" + shared)
        }
        let hostname = "bad-\(UInt32.random(in: 0...UInt32.max))"
        let command = flags.first == "--config" ? [] : ["--", "true"]
        let result = Self.run([Self.scratch, "run", "--rm", "--hostname", hostname] + arguments + command, home: home)
        #expect(result.status == 125, "\(flags): exit \(result.status), \(result.stderr)")
        #expect(result.stderr.contains(words), "\(flags): \(result.stderr)")
        // Nothing of this run's is left: no state naming its hostname, no layer.
        let states = (try? FileManager.default.contentsOfDirectory(atPath: "/run/scratch")) ?? []
        for id in states {
            let state = (try? String(contentsOfFile: "/run/scratch/\(id)/state", encoding: .utf8)) ?? ""
            #expect(!state.contains("hostname=\(hostname)\n"), "left: /run/scratch/\(id)")
        }
        let layers = (try? FileManager.default.contentsOfDirectory(atPath: home + "/containers")) ?? []
        #expect(layers.isEmpty, "\(layers)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: home).sorted() == ["images", "layers"] || layers.isEmpty)
    }

    @Test("an env file's rules, without a container")
    func environmentParsing() throws {
        #expect(mergedEnvironment(["A=1", "B=2"], ["B=3", "C=4", "A=5"]) == ["A=5", "B=3", "C=4"])
        #expect(containerEnvironment(["PATH=/x", "HOME=/h"], hostname: "h", home: "/root").contains("PATH=/x"))
        #expect(!containerEnvironment(["PATH=/x"], hostname: "h", home: "/root").contains { $0.hasPrefix("PATH=/usr") })
        #expect(throws: ContainerError.self) { try environmentFlag("=x") }
        #expect(try environmentFlag("K=") == "K=")
    }

    @Test("--env-file /dev/zero and --config /dev/zero stop at a size limit; a pipe still reads")
    func endlessFilesStop() throws {
        // Before, both read until the runtime's memory ran out (abort, exit 134).
        let env = #expect(throws: ContainerError.self) { try Runtime.environmentFile("/dev/zero") }
        #expect(env?.reason.contains("more than 1 MiB") == true, "\(String(describing: env))")
        let config = #expect(throws: ContainerError.self) { try loadConfig("/dev/zero") }
        #expect(config?.reason.contains("more than 16 MiB") == true, "\(String(describing: config))")
        // `--env-file <(…)` is a pipe, not a regular file: still read.
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        #expect(write(ends[1], "A=1\n", 4) == 4)
        close(ends[1])
        defer { close(ends[0]) }
        #expect(try Runtime.environmentFile("/proc/self/fd/\(ends[0])") == ["A=1"])
    }

    @Test("a config's mounts are parsed into a neutral list; JSON errors say where")
    func configParsing() throws {
        let fixture = try Self.fixture.get()
        let path = fixture.home + "/parse-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try """
        {"process": {"args": ["true"]}, "mounts": [{"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "ro"]},
         {"destination": "/scratch", "type": "tmpfs"}], "future": {"anything": [1, 2.5e3, -0, null, "\\u00e9"]}}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = try loadConfig(path)
        #expect(
            loaded.mounts == [
                ConfigMount(destination: "/data", type: "bind", source: "/srv", options: ["rbind", "ro"]),
                ConfigMount(destination: "/scratch", type: "tmpfs", source: nil, options: []),
            ])
        #expect(loaded.request.command == ["true"])
        let broken: [(String, String)] = [
            ("{\"process\": {\"args\": [\"tr\nue\"]}}", "line 1, column 26: expected no control character"),
            ("{\"a\": \"\\x\"}", "line 1, column 9: expected an escape"),
            ("{\"a\": 01}", "line 1, column 8: expected ',' or '}'"),
            ("{\"a\": [1 2]}", "line 1, column 10: expected ',' or ']'"),
            ("{\"a\": tru}", "line 1, column 7: expected true"),
            ("{\"a\": \"open", "expected '\"' to end the string, found the end of the file"),
            ("{} {}", "line 1, column 4: expected the end of the file"),
        ]
        for (text, words) in broken {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let error = #expect(throws: ContainerError.self) { try loadConfig(path) }
            #expect(error?.reason.contains(words) == true, "\(text): \(String(describing: error))")
        }
    }

    @Test(
        "seccomp profile files: Docker's format through JSONDecoder, 64-bit values exact, every mistake named by its place, a round trip of seccomp-profile"
    )
    func seccompProfileFiles() throws {
        let path = NSTemporaryDirectory() + "seccomp-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try """
        {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "comment": "ignored", "flags": null,
         "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                     {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
         "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "comment": "",
                       "args": [{"index": 0, "value": 18446744073709551615, "valueTwo": 9007199254740993, "op": "SCMP_CMP_MASKED_EQ"}]},
                      {"name": "getcwd", "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": null,
                       "includes": {"caps": ["CAP_SYS_ADMIN"], "minKernel": "4.8"}, "excludes": {"arches": ["s390x"]}}]}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let profile = try readSeccompProfile(path)
        #expect(profile.defaultAction == .errno(1) && profile.source == path)
        #if arch(x86_64)
            #expect(profile.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        #endif
        // 2^64-1 and 2^53+1: neither survives a trip through a Double.
        #expect(
            profile.rules.first?.arguments == [
                SeccompArgument(index: 0, op: "SCMP_CMP_MASKED_EQ", value: UInt64.max, valueTwo: 9_007_199_254_740_993)
            ])
        let getcwd = try #require(profile.rules.last)
        #expect(getcwd.names == ["getcwd"] && getcwd.action == .errno(13) && getcwd.includeCapabilities == [capabilityNumber("SYS_ADMIN")])
        #expect(getcwd.minimumKernel?.0 == 4 && getcwd.minimumKernel?.1 == 8 && getcwd.excludeArchitectures == ["s390x"])

        let rule = #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "#
        let broken: [(String, [String])] = [
            (
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"syscalls\": [{\"names\": [\"mkdir\"] \"action\": 1}]}",
                ["line 2, column 35", "expected ',' or '}'"]
            ),
            ("[]", ["the top level"]),
            ("{\"defaultAction\": \"SCMP_ACT_MAYBE\"}", ["defaultAction: unknown action \"SCMP_ACT_MAYBE\"", "SCMP_ACT_KILL_PROCESS"]),
            ("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": \"1\"}", ["defaultErrnoRet: expected a whole number"]),
            (
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\", \"x86_64\"]}",
                ["architectures[1]: unknown architecture"]
            ),
            (
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\": [\"i386\"]}, {\"architecture\": \"SCMP_ARCH_AARCH64\", \"subArchitectures\": [\"arm\"]}]}",
                ["archMap[", "].subArchitectures[0]: unknown architecture"]
            ),
            (
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\", \"mkdri\"], \"action\": \"SCMP_ACT_ERRNO\"}]}",
                ["syscalls[0].names[1]: unknown syscall \"mkdri\""]
            ),
            (
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"name\": \"mkdri\", \"action\": \"SCMP_ACT_ERRNO\"}]}",
                ["syscalls[0].name: unknown syscall"]
            ),
            (
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [], \"action\": \"SCMP_ACT_ERRNO\"}]}",
                ["syscalls[0]: names no syscall"]
            ),
            ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\"]}]}", ["syscalls[0].action: missing"]),
            (
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"DENY\"}]}",
                ["syscalls[0].action: unknown action"]
            ),
            (rule + "\"errnoRet\": -1}]}", ["syscalls[0].errnoRet"]),
            (
                rule + "\"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_SOMETIMES\"}]}]}",
                ["syscalls[0].args[0].op: unknown operator", "SCMP_CMP_MASKED_EQ"]
            ),
            (rule + "\"args\": [{\"index\": 6, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}", ["syscalls[0].args[0].index: 6", "0 to 5"]),
            (rule + "\"args\": [{\"index\": 0, \"value\": -1, \"op\": \"SCMP_CMP_EQ\"}]}]}", ["syscalls[0].args[0].value"]),
            (rule + "\"args\": [{\"index\": 0, \"value\": 1.5, \"op\": \"SCMP_CMP_EQ\"}]}]}", ["syscalls[0].args[0].value"]),
            (rule + "\"args\": [{\"index\": 0, \"value\": 18446744073709551616, \"op\": \"SCMP_CMP_EQ\"}]}]}", ["syscalls[0].args[0].value"]),
            (rule + "\"args\": [{\"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}", ["syscalls[0].args[0].index: missing"]),
            (rule + "\"includes\": {\"caps\": [\"CAP_CHOWN\", \"CAP_FLY\"]}}]}", ["syscalls[0].includes.caps[1]: unknown capability \"CAP_FLY\""]),
            (rule + "\"excludes\": {\"caps\": [\"CAP_FLY\"]}}]}", ["syscalls[0].excludes.caps[0]: unknown capability"]),
            (rule + "\"includes\": {\"minKernel\": \"five\"}}]}", ["syscalls[0].includes.minKernel: \"five\" is not a version like 4.8"]),
            (rule + "\"excludes\": {\"minKernel\": \"4.8\"}}]}", ["syscalls[0].excludes.minKernel: not supported"]),
            (rule + "\"includes\": {\"arches\": \"amd64\"}}]}", ["syscalls[0].includes.arches: expected an array"]),
        ]
        for (text, words) in broken {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let error = #expect(throws: ContainerError.self) { try readSeccompProfile(path) }
            #expect(error?.step == "read the seccomp profile", "\(text)")
            for word in words { #expect(error?.reason.contains(word) == true, "\(word) in \(String(describing: error))") }
        }

        // `scratch seccomp-profile`'s output reads back as the rules it printed.
        for (adding, dropping) in [([String](), [String]()), (["SYS_ADMIN", "SYS_PTRACE"], ["CHOWN"])] {
            let capabilities = try requestedCapabilities(adding: adding, dropping: dropping)
            let original = defaultSeccompProfile()
            try seccompProfileJSON(original, capabilities: capabilities).write(toFile: path, atomically: true, encoding: .utf8)
            let read = try readSeccompProfile(path)
            let printed = original.rules.filter { $0.applies(to: capabilities) && $0.action != original.defaultAction }.map {
                var rule = SeccompRule(syscalls: $0.names, action: $0.action)
                rule.arguments = $0.arguments
                return rule
            }
            #expect(read.defaultAction == original.defaultAction && read.rules == printed, "\(adding)")
        }
    }

    @Test("--security-opt seccomp=FILE is read before spec, and spec refuses a file that was not; other requests are left as they are")
    func seccompProfileResolution() throws {
        let path = NSTemporaryDirectory() + "seccomp-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#.write(
            toFile: path, atomically: true, encoding: .utf8)
        var request = RunRequest.empty
        request.command = ["true"]
        request.rootfs = "/nonexistent-rootfs"
        for option in ["seccomp=" + path, "seccomp:" + path] {
            request.securityOpt = ["no-new-privileges", option]
            let error = #expect(throws: ContainerError.self) { try request.spec(stage: .complete, programName: "scratch") }
            #expect(error?.reason.contains("the profile file was not read") == true, "\(String(describing: error))")
            let resolved = try resolvingSecurityFiles(request)
            #expect(resolved.seccompProfiles == [path: try readSeccompProfile(path)])
        }
        for options in [[], ["seccomp=unconfined"], ["no-new-privileges=false"]] {
            request.securityOpt = options
            #expect(try resolvingSecurityFiles(request) == request)
        }
        // --config keeps chapter 7's flags: the file cannot give them.
        let config = NSTemporaryDirectory() + "config-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: config) }
        try #"{"process": {"args": ["true"]}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        var flags = RunRequest.empty
        flags.configFile = config
        flags.securityOpt = ["seccomp=" + path]
        flags.capDrop = ["ALL"]
        flags.privileged = true
        flags.cgroupns = "host"
        let applied = try resolvingSecurityFiles(applyingConfigFile(to: flags))
        #expect(applied.securityOpt == flags.securityOpt && applied.capDrop == ["ALL"] && applied.privileged && applied.cgroupns == "host")
        #expect(applied.seccompProfiles[path] != nil)
    }

    @Test("the image record's values come back unescaped")
    func imageRecordEscapes() {
        let record = ImageRecord(parsing: "layer=abc\nenv=A=x\\\\y\\nz\ncmd=sh\ncmd=\nworkdir=/w\nuser=app:staff\ncreated=1\n")
        #expect(record.layers == ["abc"] && record.environment == ["A=x\\y\nz"] && record.cmd == ["sh", ""])
        #expect(record.workingDirectory == "/w" && record.user == "app:staff" && record.entrypoint.isEmpty)
    }

    @Test("users and groups resolve as runc resolves them, from the files' text")
    func userResolution() throws {
        let passwd = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken\napp:x:1000:1000::/home/app:/bin/sh\n"
        let group = "root:x:0:\nstaff:x:50:app,other\nwheel:x:10:app\n"
        #expect(try resolveUser(nil, passwd: passwd, group: group) == ContainerUser(uid: 0, gid: 0, groups: [], home: "/root"))
        #expect(try resolveUser("app", passwd: passwd, group: group) == ContainerUser(uid: 1000, gid: 1000, groups: [50, 10], home: "/home/app"))
        #expect(try resolveUser("1000", passwd: passwd, group: group).groups == [50, 10])
        #expect(
            try resolveUser("app:wheel", passwd: passwd, group: group, extraGroups: [7])
                == ContainerUser(uid: 1000, gid: 10, groups: [7], home: "/home/app"))
        #expect(try resolveUser("77:88", passwd: nil, group: nil) == ContainerUser(uid: 77, gid: 88, groups: [], home: "/"))
        #expect(throws: ContainerError.self) { try resolveUser("ghost", passwd: passwd, group: group) }
        #expect(throws: ContainerError.self) { try resolveUser("app", passwd: nil, group: nil) }
        #expect(userProblem("a:b:c") == nil)  // the group "b:c" is looked up, and not found
        #expect(userProblem("app:") != nil && userProblem("") != nil && userProblem("4294967295") != nil)
    }

    @Test("-e, --env-file, -u, -w, --entrypoint and --config read the same on the fast path and through ArgumentParser")
    func fastPathAgrees() throws {
        let lines: [[String]] = [
            ["-e", "A=1", "-e", "B", "--env", "C=3", "--", "env"],
            ["--env-file", "a.env", "--env-file", "b.env", "-e", "=x", "true"],
            ["-u", "app:staff", "-w", "/srv", "--", "id"],
            ["--user", "1000", "--workdir", "rel", "sh"],
            ["--entrypoint", "", "cfg:2", "--", "x"],
            ["--config", "c.json"],
            ["--config", "c.json", "--hostname", "h", "--", "sh"],
            ["-e", "", "-w", "-x", "true"],
        ]
        for line in lines {
            let fast = try #require(RunRequest(plainArguments: line), "\(line) should take the fast path")
            let parsed = try RunOptions.parse(line).request
            #expect(fast == parsed, "\(line): by hand \(fast), ArgumentParser \(parsed)")
        }
        #expect(RunRequest(plainArguments: ["-u", "a", "-u", "b", "true"]) == nil)
    }
}
