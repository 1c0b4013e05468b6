import Foundation
import Testing

/// Chapter 9's `--network cni:NAME` with Debian's CNI plugins, on real containers. Every
/// test makes a network namespace that plays the host (`ip netns add`), writes its own
/// network list (bridge `cnitest0` in that namespace, host-local with a data directory
/// of its own, ipMasq off: no iptables rule anywhere) and runs scratch in it through
/// `nsenter --net` — only the network is entered, so the state directory, the cgroups and
/// the store are the real ones. Nothing touches the real host's network. Everything a
/// test made (namespace, files) goes when it ends, also when it fails.
@Suite(
    .enabled(if: geteuid() == 0, "needs root: containers need namespaces, CNI plugins need CAP_NET_ADMIN"),
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/bridge"), "needs Debian's containernetworking-plugins")
)
struct CNITests {
    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// SCRATCH_HOME with the default busybox image, built once per test process.
    static let home: String = {
        let home = "/tmp/cni-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: "/tmp/cni-tests-\(getpid())") }
        _ = run([scratch, "rootfs", "build"], environment: ["SCRATCH_HOME": home])
        return home
    }()

    /// `scratch` beside this test binary.
    static let scratch: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("scratch").path) && directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("scratch").path
    }()

    /// A stand-in host: a network namespace and a directory holding the network list
    /// (`net.d/`), host-local's store (`ipam/`) and extra plugins (`bin/`).
    final class StandIn: @unchecked Sendable {
        let name: String
        let directory: String
        var confDirectory: String { directory + "/net.d" }
        var ipamDirectory: String { directory + "/ipam/testnet" }
        var binDirectory: String { directory + "/bin" }

        init(_ test: String) throws {
            name = "scratch-cni-\(getpid())-\(test)"
            directory = "/tmp/\(name)"
            try FileManager.default.createDirectory(atPath: directory + "/net.d", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
            let made = CNITests.run(["ip", "netns", "add", name])
            guard made.status == 0 else { throw TestFailure("ip netns add \(name): \(made.stderr)") }
        }

        deinit {
            _ = CNITests.run(["ip", "netns", "delete", name])
            try? FileManager.default.removeItem(atPath: directory)
        }

        /// Writes the network list `testnet`: `plugins` after a bridge with host-local.
        func writeList(plugins extra: [String] = [], bridgeFirst: Bool = true) throws {
            let bridge = """
                {"type": "bridge", "bridge": "cnitest0", "isGateway": true, "ipMasq": false,
                 "ipam": {"type": "host-local", "dataDir": "\(directory)/ipam",
                          "ranges": [[{"subnet": "10.231.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}}
                """
            let plugins = (bridgeFirst ? [bridge] : []) + extra + [#"{"type": "loopback"}"#]
            let list = #"{"cniVersion": "1.0.0", "name": "testnet", "plugins": ["# + plugins.joined(separator: ",\n") + "]}\n"
            try list.write(toFile: confDirectory + "/10-testnet.conflist", atomically: true, encoding: .utf8)
        }

        /// A command in this stand-in host's network namespace, with its CNI directories.
        func run(_ arguments: [String]) -> Output {
            CNITests.run(
                ["nsenter", "--net=/run/netns/\(name)"] + arguments,
                environment: ["SCRATCH_HOME": CNITests.home, "CNI_CONF_DIR": confDirectory, "CNI_PATH": binDirectory + ":/usr/lib/cni"])
        }

        func scratch(_ arguments: [String]) -> Output { run([CNITests.scratch] + arguments) }

        /// The veth interfaces in the stand-in host (the containers' host ends).
        var veths: [String] {
            run(["ip", "-o", "link", "show", "type", "veth"]).stdout.split(separator: "\n").map(String.init)
        }

        /// The addresses host-local has handed out: one file per address, named by it.
        var leases: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: ipamDirectory)) ?? []).filter { $0.hasPrefix("10.") }.sorted()
        }

        /// Waits (bounded) until host-local has handed out `count` addresses.
        func waitForLeases(_ count: Int) -> [String] {
            for _ in 0..<100 where leases.count < count { usleep(100_000) }
            return leases
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func run(_ arguments: [String], environment extra: [String: String] = [:]) -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        var environment = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        let base = "/tmp/cni-tests-out-\(getpid())-\(UUID().uuidString)"
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

    /// Starts scratch in the stand-in host without waiting for it.
    static func start(_ host: StandIn, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = ["--net=/run/netns/\(host.name)", scratch] + arguments
        process.environment = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SCRATCH_HOME": home, "CNI_CONF_DIR": host.confDirectory,
            "CNI_PATH": "/usr/lib/cni",
        ]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// host-local's lease file holds the container's id on its first line.
    func containerID(leasedAs address: String, in host: StandIn) -> String {
        let text = (try? String(contentsOfFile: host.ipamDirectory + "/" + address, encoding: .utf8)) ?? ""
        return String(text.split(whereSeparator: \.isNewline).first ?? "")
    }

    @Test("ADD gives eth0 an address from the list's subnet and a default route; DEL on exit leaves no veth, no lease, no record")
    func addAndDelete() throws {
        let host = try StandIn("add")
        try host.writeList()
        let result = host.scratch(["run", "--rm", "--network", "cni:testnet", "--", "sh", "-c", "ip -4 -o addr show eth0; ip route; hostname"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("inet 10.231.0."), "\(result.stdout)")
        #expect(result.stdout.contains("default via 10.231.0.1 dev eth0"), "\(result.stdout)")
        // While it ran, its host end was in the stand-in host: gone now, with its lease.
        #expect(host.veths.isEmpty, "\(host.veths)")
        #expect(host.leases.isEmpty, "\(host.leases)")
        let id = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(id.count == 12 && !FileManager.default.fileExists(atPath: "/run/scratch/\(id)"), "\(id)")
        // The real host saw none of it.
        #expect(Self.run(["ip", "link", "show", "cnitest0"]).status != 0)
    }

    @Test("two containers on one CNI network ping each other across the bridge")
    func twoContainersPing() throws {
        let host = try StandIn("ping")
        try host.writeList()
        let first = try Self.start(host, ["run", "--rm", "--network", "cni:testnet", "--", "sleep", "30"])
        defer {
            if first.isRunning { kill(first.processIdentifier, SIGTERM) }
            first.waitUntilExit()
        }
        let leases = host.waitForLeases(1)
        try #require(leases.count == 1, "the first container got no address: \(leases)")
        let second = host.scratch(["run", "--rm", "--network", "cni:testnet", "--", "ping", "-c", "1", "-W", "3", leases[0]])
        #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
        #expect(second.stdout.contains("1 packets received"), "\(second.stdout)")
        let id = containerID(leasedAs: leases[0], in: host)
        #expect(host.scratch(["kill", id]).status == 0)
        first.waitUntilExit()
        #expect(host.veths.isEmpty, "\(host.veths)")
        #expect(host.leases.isEmpty, "\(host.leases)")
    }

    @Test("the runtime SIGKILLed: its container dies with it, and gc runs DEL from the state directory")
    func garbageCollectionDeletes() throws {
        let host = try StandIn("gc")
        try host.writeList()
        let runtime = try Self.start(host, ["run", "--rm", "--network", "cni:testnet", "--", "sleep", "30"])
        let leases = host.waitForLeases(1)
        try #require(leases.count == 1, "the container got no address: \(leases)")
        let id = containerID(leasedAs: leases[0], in: host)
        #expect(FileManager.default.fileExists(atPath: "/run/scratch/\(id)/cni/plugins"), "the DEL record of \(id)")
        kill(runtime.processIdentifier, SIGKILL)
        runtime.waitUntilExit()
        // (Another scratch run on this machine may clean it up first: the end is the same.)
        let gc = host.scratch(["gc"])
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/run/scratch/\(id)"))
        #expect(host.leases.isEmpty, "\(host.leases)")
        // The veth went with the container's namespace (the kernel's, asynchronous).
        for _ in 0..<50 where !host.veths.isEmpty { usleep(100_000) }
        #expect(host.veths.isEmpty, "\(host.veths)")
    }

    @Test("-p with a portmap plugin: the published port answers on the stand-in host, and DEL removes the container's rules")
    func publishedPort() throws {
        let host = try StandIn("port")
        try host.writeList(plugins: [#"{"type": "portmap", "capabilities": {"portMappings": true}}"#])
        let site = host.directory + "/www"
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        try "published through CNI\n".write(toFile: site + "/index.html", atomically: true, encoding: .utf8)
        let server = try Self.start(
            host,
            [
                "run", "--rm", "--init", "--network", "cni:testnet", "-p", "8080:80", "-v", site + ":/www:ro", "--", "httpd", "-f", "-p", "80", "-h",
                "/www",
            ])
        defer {
            if server.isRunning { kill(server.processIdentifier, SIGTERM) }
            server.waitUntilExit()
        }
        let leases = host.waitForLeases(1)
        try #require(leases.count == 1, "the container got no address: \(leases)")
        // The stand-in host asks its own bridge address: portmap's DNAT in output.
        var answer = ""
        for _ in 0..<50 {
            answer = host.run(["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 1 10.231.0.1 8080"]).stdout
            if answer.contains("published through CNI") { break }
            usleep(100_000)
        }
        #expect(answer.contains("published through CNI"), "\(answer)")
        #expect(host.run(["iptables", "-t", "nat", "-S"]).stdout.contains("CNI-DN-"), "portmap's per-container chain")
        kill(server.processIdentifier, SIGTERM)
        server.waitUntilExit()
        #expect(!host.run(["iptables", "-t", "nat", "-S"]).stdout.contains("CNI-DN-"), "DEL removes it")
        #expect(host.leases.isEmpty, "\(host.leases)")
        // Without a portmap plugin in the list, -p is bad input.
        try host.writeList()
        let refused = host.scratch(["run", "--rm", "--network", "cni:testnet", "-p", "8080:80", "--", "true"])
        #expect(refused.status == 125 && refused.stderr.contains("no plugin of the list testnet publishes ports"), "\(refused.stderr)")
    }

    @Test("bad input: an unknown network, a plugin not installed, a list that is not JSON — 125 before anything is made")
    func badInput() throws {
        let host = try StandIn("bad")
        try host.writeList()
        let unknown = host.scratch(["run", "--rm", "--network", "cni:nosuchnet", "--", "true"])
        #expect(unknown.status == 125)
        #expect(unknown.stderr.contains("no network list named nosuchnet") && unknown.stderr.contains("testnet"), "\(unknown.stderr)")
        let empty = host.scratch(["run", "--rm", "--network", "cni:", "--", "true"])
        #expect(empty.status == 125 && empty.stderr.contains("cni:NAME"), "\(empty.stderr)")
        try host.writeList(plugins: [#"{"type": "nosuchplugin"}"#])
        let missing = host.scratch(["run", "--rm", "--network", "cni:testnet", "--", "true"])
        #expect(missing.status == 125)
        #expect(missing.stderr.contains("no plugin nosuchplugin in CNI_PATH"), "\(missing.stderr)")
        try "{\"name\": \"broken\", \"plugins\": [".write(toFile: host.confDirectory + "/20-broken.conflist", atomically: true, encoding: .utf8)
        let broken = host.scratch(["run", "--rm", "--network", "cni:broken", "--", "true"])
        #expect(broken.status == 125, "\(broken.stderr)")
        #expect(host.veths.isEmpty && host.leases.isEmpty, "\(host.veths) \(host.leases)")
    }

    @Test("a plugin's error: exit 125 with its message, and the plugins before it DEL'd — no veth, no lease")
    func pluginError() throws {
        let host = try StandIn("error")
        // A plugin that refuses ADD with a CNI error object, and does DEL.
        let plugin = host.binDirectory + "/refuse"
        try """
        #!/bin/sh
        cat >/dev/null
        [ "$CNI_COMMAND" = ADD ] || exit 0
        echo '{"cniVersion": "1.0.0", "code": 11, "msg": "the test plugin refuses", "details": "as asked"}'
        exit 1
        """.write(toFile: plugin, atomically: true, encoding: .utf8)
        chmod(plugin, 0o755)
        try host.writeList(plugins: [#"{"type": "refuse"}"#])
        let result = host.scratch(["run", "--rm", "--network", "cni:testnet", "--", "true"])
        #expect(result.status == 125)
        #expect(
            result.stderr.contains("plugin refuse (ADD) failed") && result.stderr.contains("the test plugin refuses (as asked)"), "\(result.stderr)")
        #expect(host.veths.isEmpty, "\(host.veths)")
        #expect(host.leases.isEmpty, "\(host.leases)")
    }
}
