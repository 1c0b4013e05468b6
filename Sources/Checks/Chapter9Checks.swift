import Foundation
import Glibc

// Chapter 9 — networking: a network namespace with lo up, a veth pair whose host end
// is on the bridge and whose other end is the container's eth0, with an address and a
// default route; a published port; nothing left after exit.
//
// Every check makes a throwaway network namespace that plays the host (its own lo, its
// own bridge and nft table once the runtime makes them) and runs the runtime in it with
// nsenter, so no link, address, route or rule ever reaches the machine's network; the
// namespace is deleted after the check, whatever happened. Each stand-in also has a
// link of its own, `chk9host` (an empty bridge): a container that sees it is in the host's network.

/// A network namespace (`ip netns add`) standing in for the host for one check.
final class StandInNetwork: @unchecked Sendable {
    let name: String
    var path: String { "/run/netns/" + name }

    /// The link only the stand-in host has.
    static let hostOnlyLink = "chk9host"

    init() throws {
        name = "scratch-check-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
        let made = CheckContext.runHost(["ip", "netns", "add", name])
        guard made.status == 0 else {
            throw CheckSetupError("ip netns add \(name): \(describe(made)) — the network checks need iproute2 (apt-get install iproute2) and root")
        }
        for command in [["ip", "-n", name, "link", "set", "lo", "up"], ["ip", "-n", name, "link", "add", Self.hostOnlyLink, "type", "bridge"]] {
            let result = CheckContext.runHost(command)
            guard result.status == 0 else {
                remove()
                throw CheckSetupError("\(command.joined(separator: " ")): \(describe(result))")
            }
        }
    }

    /// Runs `arguments` on the stand-in host.
    func host(_ arguments: [String], timeout: Double = 10) -> RunResult {
        CheckContext.runHost(["nsenter", "--net=" + path, "--"] + arguments, timeout: timeout)
    }

    /// The stand-in's links, one `ip -o link` line each.
    func links() -> [String] { host(["ip", "-o", "link"]).stdout.split(separator: "\n").map(String.init) }

    func remove() { _ = CheckContext.runHost(["ip", "netns", "del", name]) }
}

/// Runs `body` with a stand-in network, deleted afterwards on every path.
func withStandInNetwork(_ body: (StandInNetwork) throws -> Outcome) throws -> Outcome {
    let network = try StandInNetwork()
    defer { network.remove() }
    return try body(network)
}

/// The name of each link in `ip -o link` lines ("3: eth0@if4: <...>" → "eth0").
func linkNames(_ lines: [String]) -> [String] {
    lines.compactMap { line in
        let fields = line.split(separator: ":", maxSplits: 2)
        guard fields.count >= 2 else { return nil }
        return String(fields[1].trimmingCharacters(in: .whitespaces).split(separator: "@").first ?? "")
    }
}

/// A container's last words about its start: what the runtime's failure says, in
/// chapter 9's terms.
func networkFailureHint(_ result: RunResult) -> String {
    let text = result.stderr
    if text.contains("has no link vc") || text.contains("no link vc") {
        return
            "the container side of the pair never arrived in the container's network namespace: the parent must make it there (createVethPair's peerInNamespaceOf: the child's pid) or move it there (moveToNamespace) — your runtime said: \(quote(text.trimmed))"
    }
    if text.contains("in no subnet") {
        return
            "the default route's gateway is not on-link: the address was given without its prefix length (a /32) — your runtime said: \(quote(text.trimmed))"
    }
    return describe(result)
}

let chapter9Checks: [Check] = [
    Check(
        "none-only-lo", chapter: 9, "--network none: the container sees only lo, and lo is up",
        hints: [
            "A new network namespace has exactly one link, lo, and the kernel creates it down: 127.0.0.1 does not answer until someone brings it up. The runtime asks your networkNamespace() for the clone flag, then calls your bringUpLoopback(netlink:) in the child.",
            "networkNamespace() returns the one CloneFlags value for a network namespace (Sources/Syscalls/Processes.swift lists them). bringUpLoopback is one Netlink request: the same as `ip link set lo up`.",
            "The reference (Sources/Runtime/Network.swift):\n    public func networkNamespace() -> CloneFlags { .newNetwork }\n    public func bringUpLoopback(netlink: Netlink) throws {\n        try netlink.setUp(\"lo\")\n    }",
        ]
    ) { context in
        try withStandInNetwork { network in
            let result = context.run(["ip", "-o", "link"], options: ["--network", "none"], network: network.path)
            guard result.status == 0 else { return .failed(expected: "`ip -o link` to run in the container", saw: networkFailureHint(result)) }
            let lines = result.stdout.split(separator: "\n").map(String.init)
            let names = linkNames(lines)
            if names.contains(StandInNetwork.hostOnlyLink) {
                return .failed(
                    expected: "only lo",
                    saw:
                        "the host's links (\(names.joined(separator: ", "))): the container has no network namespace of its own — networkNamespace() must give the clone flag for one"
                )
            }
            guard names == ["lo"], let line = lines.first else {
                return .failed(expected: "only lo", saw: "links \(names.joined(separator: ", "))")
            }
            let flags = line.split(separator: "<").dropFirst().first?.split(separator: ">").first ?? ""
            return expect(
                flags.split(separator: ",").contains("UP"), "lo up (<LOOPBACK,UP,LOWER_UP>)",
                saw: "lo is down (\(line.trimmed)): bringUpLoopback left it as the kernel made it")
        }
    },
    Check(
        "bridge-eth0", chapter: 9, "bridge mode: eth0 with an address from 10.55.0.0/16 and a default route via 10.55.0.1",
        hints: [
            "In bridge mode the parent makes a veth pair and moves one end into the container; the child then finds it under its temporary name (pair.containerSide), renames it eth0 (pair.nameInside), gives it its address, brings it up and adds the default route. The kernel renames only a link that is down, and accepts a gateway only inside a subnet some up link has.",
            "Order matters in configureContainerSide: rename, address (with its prefix length: the InterfaceAddress you are given has it), up, then the route. Netlink has rename(_:to:), addAddress(_:to:), setUp(_:), addDefaultRoute(via:).",
            "The reference (Sources/Runtime/Network.swift):\n    public func configureContainerSide(_ pair: VethPair, address: InterfaceAddress, gateway: IPv4Address, netlink: Netlink) throws {\n        try netlink.rename(pair.containerSide, to: pair.nameInside)\n        try netlink.addAddress(address, to: pair.nameInside)\n        try netlink.setUp(pair.nameInside)\n        try netlink.addDefaultRoute(via: gateway)\n    }",
        ]
    ) { context in
        try withStandInNetwork { network in
            let result = context.run(["sh", "-c", "ip -o link; echo ---; ip -o -4 addr; echo ---; ip route"], network: network.path)
            guard result.status == 0 else { return .failed(expected: "the container to start in bridge mode", saw: networkFailureHint(result)) }
            let parts = result.stdout.components(separatedBy: "---\n")
            guard parts.count == 3 else { return .failed(expected: "the output of ip link, ip addr, ip route", saw: describe(result)) }
            let names = linkNames(parts[0].split(separator: "\n").map(String.init))
            guard names.contains("eth0") else {
                if let temporary = names.first(where: { $0.hasPrefix("vc") }) {
                    return .failed(
                        expected: "a link named eth0",
                        saw: "\(temporary), the container side not renamed: rename it to pair.nameInside (eth0) while it is down")
                }
                return .failed(expected: "a link named eth0", saw: "links \(names.joined(separator: ", "))")
            }
            let address = parts[1].split(separator: "\n").first { $0.contains(" eth0 ") || $0.contains(" eth0\t") || $0.contains("eth0 ") }
            guard let address, let inet = address.split(separator: " ").drop(while: { $0 != "inet" }).dropFirst().first else {
                return .failed(expected: "an IPv4 address on eth0", saw: "none: \(quote(parts[1]))")
            }
            guard inet.hasPrefix("10.55."), inet.hasSuffix("/16") else {
                return .failed(
                    expected: "an address 10.55.x.y/16 on eth0",
                    saw: "\(inet)\(inet.hasSuffix("/32") ? " — an address without its prefix length" : "")")
            }
            let routes = parts[2]
            return expect(
                routes.contains("default via 10.55.0.1"), "a default route via 10.55.0.1 (the bridge)",
                saw: "no default route: \(quote(routes)) — the container reaches its subnet, and nothing beyond")
        }
    },
    Check(
        "bridge-reach", chapter: 9, "bridge mode: a container reaches the stand-in host (10.55.0.1) and a second container",
        hints: [
            "Two containers and the host talk through the bridge scratch0: a switch whose ports are the host ends of the veth pairs. A host end that is not on the bridge, or is down, is a cable plugged into nothing.",
            "connectContainer makes the pair with the container side in the namespace of the child's pid (made there, or moved there), puts the host side on pair.bridge (setMaster) and brings it up. `ip -o link` in the stand-in host shows each host side with `master scratch0` and UP.",
            "The reference (Sources/Runtime/Network.swift):\n    public func connectContainer(_ pair: VethPair, toNamespaceOf pid: pid_t, netlink: Netlink) throws {\n        try netlink.createVethPair(pair.hostSide, peer: pair.containerSide, peerInNamespaceOf: pid)\n        try netlink.setMaster(pair.hostSide, bridge: pair.bridge)\n        try netlink.setUp(pair.hostSide)\n    }\n(Made on the host and then moved with moveToNamespace works too; it costs the kernel a wait of about 20 ms.)",
        ]
    ) { context in
        try withStandInNetwork { network in
            let first = context.start(
                ["sh", "-c", "trap 'exit 0' TERM; ip -o -4 addr show dev eth0; echo ready; while :; do sleep 0.1; done"], network: network.path)
            defer {
                if first.isRunning { _ = kill(first.pid, SIGTERM) }
                _ = first.wait(timeout: 5)
            }
            guard first.waitForOutput("ready", timeout: 10) else {
                return .failed(expected: "a first container to start in bridge mode", saw: networkFailureHint(first.wait(timeout: 3)))
            }
            let words = first.outputSoFar.split(whereSeparator: { $0 == " " || $0 == "\n" })
            guard let inet = words.drop(while: { $0 != "inet" }).dropFirst().first, let address = inet.split(separator: "/").first else {
                return .failed(expected: "an address on the first container's eth0", saw: quote(first.outputSoFar))
            }
            let hostSides = network.links().filter { linkNames([$0]).first?.hasPrefix("vs") == true }
            if let side = hostSides.first, !side.contains("master scratch0") {
                return .failed(expected: "the host side on the bridge", saw: "\(linkNames([side])[0]) is on no bridge: plug it in with setMaster")
            }
            if let side = hostSides.first,
                !(side.split(separator: "<").dropFirst().first?.split(separator: ">").first ?? "").split(separator: ",").contains("UP")
            {
                return .failed(expected: "the host side up", saw: "\(linkNames([side])[0]) is down: bring it up with setUp")
            }
            let script = "ping -c 1 -W 2 10.55.0.1 >/dev/null && echo host-ok; ping -c 1 -W 2 \(address) >/dev/null && echo peer-ok; true"
            let second = context.run(["sh", "-c", script], network: network.path)
            guard second.status == 0 else { return .failed(expected: "a second container to start", saw: networkFailureHint(second)) }
            return all(
                expect(second.stdout.contains("host-ok"), "an answer from 10.55.0.1, the stand-in host's bridge", saw: "none (\(describe(second)))"),
                expect(second.stdout.contains("peer-ok"), "an answer from the first container at \(address)", saw: "none (\(describe(second)))"))
        }
    },
    Check(
        "published-port", chapter: 9, "-p 8080:80: busybox httpd in the container answers on the stand-in host's 127.0.0.1:8080",
        hints: [
            "The port is published by the runtime (a DNAT rule in its nft table), not by your code: this check fails when the container never got a working eth0 — look at the checks above first.",
            "The host's 127.0.0.1:8080 is rewritten to the container's address, port 80, and leaves through the bridge; the container must have its address, be up, and the host side must be on the bridge.",
            "Your connectContainer and configureContainerSide, as the reference has them (Sources/Runtime/Network.swift), make it work: see the last hints of bridge-eth0 and bridge-reach.",
        ]
    ) { context in
        try withStandInNetwork { network in
            let server = context.start(
                [
                    "sh", "-c",
                    "trap 'exit 0' TERM; mkdir -p /tmp/www && echo scratch-check-9 > /tmp/www/index.html && httpd -p 80 -h /tmp/www && echo ready; while :; do sleep 0.1; done",
                ], options: ["-p", "8080:80"], network: network.path)
            defer {
                if server.isRunning { _ = kill(server.pid, SIGTERM) }
                _ = server.wait(timeout: 5)
            }
            guard server.waitForOutput("ready", timeout: 10) else {
                return .failed(expected: "httpd to start in a container with -p 8080:80", saw: networkFailureHint(server.wait(timeout: 3)))
            }
            var answer = RunResult(status: -1, stdout: "", stderr: "", timedOut: false)
            // httpd is listening once "ready" is printed; a few tries cover a slow host,
            // and a deadline keeps a connection that never answers from taking minutes.
            let deadline = Date().addingTimeInterval(5 * CheckContext.slowdown)
            repeat {
                answer = network.host(["busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/"], timeout: 2)
                if answer.stdout.contains("scratch-check-9") { break }
                usleep(150_000)
            } while Date() < deadline
            return expect(
                answer.stdout.contains("scratch-check-9"), "the page from the container at http://127.0.0.1:8080/", saw: describe(answer))
        }
    },
    Check(
        "nothing-left", chapter: 9, "after a bridge-mode container exits: no veth, no address, no bridge, no nft rule left", provesChapter: false,
        hints: [
            "The runtime removes what bridge mode made on every way out: the host side of the pair goes by itself when the container's namespace goes (deleting one end of a pair deletes both); the runtime releases the address, the published ports, and the bridge and table with the last container.",
            "Something your connectContainer made is still in the stand-in host after the container ended: `ip -o link` there shows it. A link made in the wrong namespace outlives the container.",
            "Make the pair in the parent's namespace and move the container side into the child's (the reference's connectContainer, Sources/Runtime/Network.swift): when the child's namespace goes, its end goes, and the pair with it.",
        ]
    ) { context in
        try withStandInNetwork { network in
            let result = context.run(["true"], options: ["-p", "8081:80"], network: network.path)
            // The kernel deletes the pair with the container's namespace, a moment
            // after its last process: wait for that, boundedly.
            var links: [String] = []
            let deadline = Date().addingTimeInterval(3 * CheckContext.slowdown)
            repeat {
                links = linkNames(network.links()).filter { $0 != "lo" && $0 != StandInNetwork.hostOnlyLink }
                if links.isEmpty { break }
                usleep(50_000)
            } while Date() < deadline
            let rules = network.host(["nft", "list", "ruleset"]).stdout
            var identity = stat()
            let directory = stat(network.path, &identity) == 0 ? "/run/scratch/network/\(identity.st_ino)" : ""
            let addresses = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return all(
                expect(
                    links.isEmpty, "no link but lo and \(StandInNetwork.hostOnlyLink) (run: \(describe(result)))", saw: links.joined(separator: ", ")),
                expect(!rules.contains("scratch"), "no nft table of the runtime's", saw: quote(rules)),
                expect(addresses.isEmpty, "no address kept in \(directory)", saw: addresses.joined(separator: ", ")))
        }
    },
    Check(
        "host-network", chapter: 9, "--network host: the container sees the host's links", provesChapter: false,
        hints: [
            "With --network host there is no network namespace: the container sees the host's links, as before this chapter.",
            "The runtime adds networkNamespace()'s flag only for none and bridge; host mode calls none of your chapter 9 functions.",
            "The reference's creation story (Sources/Runtime/Parent.swift) asks `spec.network.hasOwnNamespace` before it adds the flag.",
        ]
    ) { context in
        try withStandInNetwork { network in
            let result = context.run(["ip", "-o", "link"], options: ["--network", "host"], network: network.path)
            let names = linkNames(result.stdout.split(separator: "\n").map(String.init))
            return expect(
                names.contains(StandInNetwork.hostOnlyLink), "the stand-in host's link \(StandInNetwork.hostOnlyLink) among the container's",
                saw: result.status == 0 ? names.joined(separator: ", ") : describe(result))
        }
    },
]
