import Foundation
import Glibc
import RunOptions
import Runtime
import TestIsolation
import Testing

/// `arguments` run from the machine's network namespace go into a throwaway one
/// (`unshare --net`) when they start a project runtime: from chapter 9 a container's
/// default network is a bridge with NAT rules, never to be made on the machine.
func isolatedNetwork(_ arguments: [String]) -> [String] {
    let runtimes: Set<String> = ["scratch", "workbook", "mutant-runtime", "fd-audit"]
    guard let first = arguments.first, runtimes.contains(URL(fileURLWithPath: first).lastPathComponent) else { return arguments }
    return inMachineNetwork ? ["unshare", "--net", "--"] + arguments : arguments
}

let inMachineNetwork: Bool = {
    let ours = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
    let machine = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/1/ns/net")
    return ours == machine
}()

/// The test process leaves the machine's network when it loads (Tests/TestIsolation):
/// whichever command runs the suite, no test's container reaches the machine's links,
/// addresses, routes or nft tables.
@Suite struct TestIsolationTests {
    @Test("the tests run in a network namespace of their own, lo up", .enabled(if: geteuid() == 0, "unshare(CLONE_NEWNET) needs root"))
    func testsLeftTheMachinesNetwork() throws {
        #expect(test_isolation_own_network() == 1, "the load-time unshare did not run (or SCRATCH_TESTS_HOST_NETWORK=1 is set)")
        #expect(!inMachineNetwork, "/proc/self/ns/net is PID 1's")
        let links = try String(contentsOfFile: "/proc/net/dev", encoding: .utf8).split(separator: "\n").dropFirst(2)
            .map { $0.split(separator: ":")[0].trimmingCharacters(in: .whitespaces) }
        #expect(links == ["lo"], "\(links)")
        let flags = try String(contentsOfFile: "/sys/class/net/lo/flags", encoding: .utf8)
        #expect((UInt32(flags.dropFirst(2).trimmingCharacters(in: .whitespacesAndNewlines), radix: 16) ?? 0) & 1 == 1, "lo is down: \(flags)")
    }
}

/// Chapter 9's flags as read (no root needed).
@Suite struct NetworkFlagTests {
    @Test("-p reads Docker's forms")
    func publishedPorts() throws {
        let plain = try PublishedPort(parsing: "8080:80")
        #expect(plain.hostAddress == nil && plain.hostPort == 8080 && plain.containerPort == 80 && plain.transport == .tcp)
        let udp = try PublishedPort(parsing: "127.0.0.1:5353:53/udp")
        #expect(udp.hostAddress == IPv4Address("127.0.0.1") && udp.hostPort == 5353 && udp.containerPort == 53 && udp.transport == .udp)
        #expect(try PublishedPort(parsing: "0.0.0.0:1:2/tcp").hostAddress == nil)
        #expect(udp.description == "127.0.0.1:5353:53/udp")
    }

    @Test(
        "a bad -p is refused with what is wrong",
        arguments: [
            ("80", "say [IP:]HOSTPORT"), ("0:80", "from 1 to 65535"), ("8080:70000", "from 1 to 65535"), ("8080:80/sctp", "tcp or udp"),
            ("300.1.1.1:8080:80", "no IPv4 address"), ("a:b", "must be a number"), ("1:2:3:4", "say [IP:]HOSTPORT"),
        ])
    func badPorts(_ text: String, _ phrase: String) {
        let error = #expect(throws: ContainerError.self) { try PublishedPort(parsing: text) }
        #expect(error.map { "\($0)".contains(phrase) } == true, "\(String(describing: error))")
    }

    @Test("--network reads none, bridge, host and cni:NAME, and nothing else")
    func modes() throws {
        #expect(try NetworkMode(parsing: "none") == NetworkMode.none)
        #expect(try NetworkMode(parsing: "bridge") == .bridge)
        #expect(try NetworkMode(parsing: "host") == .host)
        #expect(try NetworkMode(parsing: "cni:podman") == .cni("podman"))
        #expect(throws: ContainerError.self) { try NetworkMode(parsing: "cni:") }
        #expect(throws: ContainerError.self) { try NetworkMode(parsing: "overlay") }
    }

    @Test("both readers read --network and -p alike")
    func bothReaders() throws {
        let words = ["--network", "bridge", "-p", "8080:80", "--publish", "127.0.0.1:53:53/udp", "--", "sh"]
        let fast = try #require(RunRequest(plainArguments: words))
        let parsed = try RunOptions.parse(words).request
        #expect(fast == parsed)
        #expect(fast.network == "bridge" && fast.publish == ["8080:80", "127.0.0.1:53:53/udp"])
    }

    @Test("-p without the bridge, a port given twice, --network before chapter 9: refused before anything exists")
    func refused() throws {
        func spec(_ words: [String], stage: Stage = .complete) throws {
            let request = try #require(RunRequest(plainArguments: words + ["--", "true"]))
            var spec = ContainerSpec(command: ["true"])
            try request.applyNetwork(to: &spec, stage: stage)
            try spec.validateRequest(stage: stage)
        }
        #expect(throws: ContainerError.self) { try spec(["--network", "none", "-p", "8080:80"]) }
        #expect(throws: ContainerError.self) { try spec(["-p", "8080:80", "-p", "8080:81"]) }
        #expect(throws: ContainerError.self) { try spec(["--network", "none"], stage: Stage(chapter: 7)) }
        // cni:NAME passes here as root: its list is read and checked by RuntimeConfig
        // before anything exists (CNITests); without root it is refused.
        if geteuid() == 0 {
            #expect(throws: Never.self) { try spec(["--network", "cni:x"]) }
        } else {
            #expect(throws: ContainerError.self) { try spec(["--network", "cni:x"]) }
        }
        #expect(throws: Never.self) { try spec(["-p", "8080:80", "-p", "8081:80/udp", "-p", "8080:80/udp"]) }
    }
}

/// Real containers in bridge mode, each test in a throwaway network namespace that
/// plays the host (`ip netns add`, removed on every path): the machine's network is
/// never touched.
@Suite(.serialized) struct NetworkTests {
    static let home: String = {
        let path = FileManager.default.temporaryDirectory.path + "/network-tests-home"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// A network namespace named for this test, with lo up.
    final class StandIn {
        let name = "scratch-test-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
        var path: String { "/run/netns/" + name }

        init() throws {
            guard NetworkTests.host(["ip", "netns", "add", name]).status == 0 else { throw CancellationError() }
            _ = NetworkTests.host(["ip", "-n", name, "link", "set", "lo", "up"])
        }

        deinit { _ = NetworkTests.host(["ip", "netns", "del", name]) }

        func run(_ arguments: [String]) -> VolumeTests.Output { NetworkTests.host(["nsenter", "--net=" + path, "--"] + arguments) }
        func scratch(_ arguments: [String]) -> VolumeTests.Output { run([VolumeTests.scratch] + arguments) }

        /// Starts `scratch arguments` in the background; its output goes to `output`.
        func start(_ arguments: [String], output: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            process.arguments = ["--net=" + path, "--", VolumeTests.scratch] + arguments
            var environment = ProcessInfo.processInfo.environment
            environment["SCRATCH_HOME"] = NetworkTests.home
            process.environment = environment
            FileManager.default.createFile(atPath: output, contents: nil)
            process.standardOutput = FileHandle(forWritingAtPath: output)
            process.standardError = FileHandle(forWritingAtPath: output + ".err")
            process.standardInput = FileHandle.nullDevice
            try process.run()
            return process
        }

        /// What bridge mode may leave: links but lo, the runtime's table, kept addresses.
        func leftovers() -> [String] {
            // The kernel deletes a pair with the container's namespace, a moment after
            // its last process ended.
            for _ in 0..<60 where run(["ip", "-o", "link"]).stdout.contains(": vs") { usleep(50_000) }
            var left = run(["ip", "-o", "link"]).stdout.split(separator: "\n").map(String.init).filter { !$0.contains(" lo:") }
            if run(["nft", "list", "table", "ip", "scratch"]).status == 0 { left.append("table ip scratch") }
            var identity = stat()
            if stat(path, &identity) == 0, let kept = try? FileManager.default.contentsOfDirectory(atPath: "/run/scratch/network/\(identity.st_ino)")
            {
                left += kept
            }
            return left
        }
    }

    static func host(_ arguments: [String]) -> VolumeTests.Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SCRATCH_HOME"] = home
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { return VolumeTests.Output(status: -1, stdout: "", stderr: "\(error)") }
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return VolumeTests.Output(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    func waitFor(_ path: String, containing text: String, seconds: Double = 15) -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let content = try? String(contentsOfFile: path, encoding: .utf8), content.contains(text) { return content }
            usleep(50_000)
        }
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    @Test("two containers at once get two addresses, see each other, and leave nothing when they end")
    func twoContainers() throws {
        guard geteuid() == 0 else { return }
        let standIn = try StandIn()
        let work = FileManager.default.temporaryDirectory.path + "/network-test-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let script = "trap 'exit 0' TERM; ip -o -4 addr show dev eth0; echo ready; while [ ! -e /tmp/stop ]; do sleep 0.1; done"
        let first = try standIn.start(["run", "--rm", "--", "sh", "-c", script + "& wait"], output: work + "/a")
        let second = try standIn.start(["run", "--rm", "--", "sh", "-c", script + "& wait"], output: work + "/b")
        defer {
            for process in [first, second] where process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            _ = standIn.scratch(["gc"])
        }
        let a = waitFor(work + "/a", containing: "ready")
        let b = waitFor(work + "/b", containing: "ready")
        func address(_ text: String) -> String? {
            text.split(separator: " ").drop(while: { $0 != "inet" }).dropFirst().first?.split(separator: "/").first.map(String.init)
        }
        let addressA = try #require(address(a), "first: \(a)")
        let addressB = try #require(address(b), "second: \(b)")
        #expect(addressA != addressB)
        let ping = standIn.scratch(["run", "--rm", "--", "ping", "-c", "1", "-W", "2", addressA])
        #expect(ping.status == 0, "\(ping)")
        for process in [first, second] { kill(process.processIdentifier, SIGKILL) }
        first.waitUntilExit()
        second.waitUntilExit()
        // The runtimes died by SIGKILL: their addresses and host veths stay until gc.
        let gc = standIn.scratch(["gc"])
        #expect(gc.stdout.contains("address \(addressA)") && gc.stdout.contains("address \(addressB)"), "\(gc)")
        #expect(standIn.leftovers().isEmpty, "\(standIn.leftovers())")
    }

    @Test("a published port answers on the host's loopback and on its bridge address; it is gone after exit")
    func publishedPort() throws {
        guard geteuid() == 0 else { return }
        let standIn = try StandIn()
        let work = FileManager.default.temporaryDirectory.path + "/network-test-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let server = try standIn.start(
            [
                "run", "--rm", "-p", "8080:80", "-p", "127.0.0.1:8081:80", "--", "sh", "-c",
                "trap 'exit 0' TERM; mkdir -p /tmp/w && echo hello > /tmp/w/index.html && httpd -p 80 -h /tmp/w && echo ready; while :; do sleep 0.1; done",
            ], output: work + "/server")
        defer {
            if server.isRunning {
                kill(server.processIdentifier, SIGTERM)
                server.waitUntilExit()
            }
        }
        #expect(waitFor(work + "/server", containing: "ready").contains("ready"))
        for url in ["http://127.0.0.1:8080/", "http://10.55.0.1:8080/", "http://127.0.0.1:8081/"] {
            let answer = standIn.run(["busybox", "wget", "-q", "-O", "-", url])
            #expect(answer.stdout == "hello\n", "\(url): \(answer)")
        }
        // Taken: the same host port again is refused, and leaves nothing of its own.
        let again = standIn.scratch(["run", "--rm", "-p", "8080:80", "--", "true"])
        #expect(again.status == 125 && again.stderr.contains("published already"), "\(again)")
        kill(server.processIdentifier, SIGTERM)
        server.waitUntilExit()
        #expect(standIn.leftovers().isEmpty, "\(standIn.leftovers())")
    }

    @Test("--network none: only lo, up; bad input exits 125 and makes nothing")
    func noneAndBadInput() throws {
        guard geteuid() == 0 else { return }
        let standIn = try StandIn()
        let none = standIn.scratch(["run", "--rm", "--network", "none", "--", "ip", "-o", "link"])
        #expect(none.status == 0 && none.stdout.split(separator: "\n").count == 1 && none.stdout.contains("lo: <LOOPBACK,UP"), "\(none)")
        for words in [["--network", "bogus"], ["-p", "99999:80"], ["--network", "host", "-p", "8080:80"]] {
            let bad = standIn.scratch(["run", "--rm"] + words + ["--", "true"])
            #expect(bad.status == 125, "\(words): \(bad)")
        }
        #expect(standIn.leftovers().isEmpty, "\(standIn.leftovers())")
    }
}
