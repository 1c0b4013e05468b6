import Glibc
import Syscalls

// Chapter 9, the host's side of bridge mode: the bridge `scratch0` and its subnet, one
// address per container, the NAT rules, the published ports — made on first use,
// shared by every container of one network namespace, gone with the last.
//
// All of it is kept per network namespace of the runtime (the host's, or a test's
// stand-in host), under /run/scratch/network/<inode of the namespace>/: one file per
// address in use, named by the address, holding the container's id and its ports. A
// file made with O_EXCL under one lock is the whole address manager: no two runs get
// the same address, and a runtime killed with SIGKILL leaves a file naming its
// container, which the next run (or `scratch gc`) finds dead and releases.
//
// Published ports are DNAT rules in a table of our own, `ip scratch`: packets for a
// local address and a published port get the container's address and port instead,
// in prerouting (from outside) and in output (from the host itself). Two maps hold
// the ports, so a container adds and removes elements, never rules:
//   ports     transport . port → address . port    (-p 8080:80: every host address)
//   ports_on  address . transport . port → …       (-p 127.0.0.1:8080:80)
// The host's own loopback: a DNAT'ed packet from 127.0.0.1 would leave on the bridge
// with a loopback source, which the kernel drops as a martian unless the bridge has
// route_localnet=1 (as Kubernetes' kube-proxy sets it); then it is masqueraded to the
// bridge's address so the container's answer comes back. This keeps no process per
// port (Docker's userland proxy is one per port, about 10 MB each) and costs nothing
// while nobody connects.

/// A published port: `-p [IP:]HOSTPORT:CTRPORT[/tcp|udp]`.
public struct PublishedPort: Sendable, Equatable, CustomStringConvertible {
    public enum Transport: String, Sendable { case tcp, udp }

    /// Only this host address, or nil for all of them.
    public var hostAddress: IPv4Address?
    public var hostPort: UInt16
    public var containerPort: UInt16
    public var transport: Transport

    /// Reads Docker's form: `8080:80`, `8080:80/udp`, `127.0.0.1:8080:80/tcp`.
    public init(parsing text: String) throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError {
            ContainerError(step: "check the request", reason: "-p \(ContainerSpec.quoted(text)): \(reason)")
        }
        let form = "say [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp], e.g. -p 8080:80 or -p 127.0.0.1:8080:80/tcp"
        var rest = Substring(text)
        transport = .tcp
        if let slash = rest.lastIndex(of: "/") {
            guard let named = Transport(rawValue: String(rest[rest.index(after: slash)...])) else {
                throw invalid("the transport must be tcp or udp — \(form)")
            }
            transport = named
            rest = rest[..<slash]
        }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { throw invalid(form) }
        if parts.count == 3 {
            guard let address = IPv4Address(parts[0]) else { throw invalid("\(String(reflecting: String(parts[0]))) is no IPv4 address — \(form)") }
            hostAddress = address.value == 0 ? nil : address
        }
        func port(_ part: Substring, _ which: String) throws(ContainerError) -> UInt16 {
            guard let number = UInt16(part), number > 0 else {
                throw invalid("the \(which) port \(String(reflecting: String(part))) must be a number from 1 to 65535 — \(form)")
            }
            return number
        }
        hostPort = try port(parts[parts.count - 2], "host")
        containerPort = try port(parts[parts.count - 1], "container")
    }

    public var description: String {
        "\(hostAddress.map { "\($0):" } ?? "")\(hostPort):\(containerPort)/\(transport.rawValue)"
    }

    /// Whether two ports want the same host port.
    func collides(with other: PublishedPort) -> Bool {
        transport == other.transport && hostPort == other.hostPort
            && (hostAddress == nil || other.hostAddress == nil || hostAddress == other.hostAddress)
    }
}

/// A container's place on the bridge, as step 2 made it.
public struct BridgeAttachment: Sendable {
    public let containerID: String
    public let pair: VethPair
    public let address: InterfaceAddress
    public let ports: [PublishedPort]
    /// This network namespace's directory of addresses.
    let directory: String
}

/// Where bridge mode keeps its state, and the lock that guards it.
let networkStateRoot = stateRoot + "/network"
let networkTable = "ip scratch"

/// Step 2 in bridge mode: the bridge and the table if this is the first container,
/// an address, the ports checked free and published. Under the network lock: two
/// runs at once get two addresses, and never both make the bridge.
func joinBridge(containerID id: String, ports: [PublishedPort]) throws -> BridgeAttachment {
    try withNetworkLock { try joinBridgeLocked(containerID: id, ports: ports) }
}

private func joinBridgeLocked(containerID id: String, ports: [PublishedPort]) throws -> BridgeAttachment {
    let directory = try namespaceDirectory()
    let taken = allocations(in: directory)
    for port in ports {
        if let other = taken.first(where: { $0.ports.contains(where: port.collides) }) {
            throw ContainerError(
                step: "publish the ports",
                reason:
                    "-p \(port): host port \(port.hostPort)/\(port.transport.rawValue) is published already by container \(other.id) — choose another host port"
            )
        }
        if let problem = portInUse(port) {
            throw ContainerError(step: "publish the ports", reason: "-p \(port): \(problem) — choose another host port, or stop what holds it")
        }
    }
    // Made once per namespace, by its first container: the others find the mark
    // and skip the checks (and loading libnftables, a few milliseconds).
    let made = directory + "/.bridge"
    if fileKind(made) == nil {
        try makeBridge(netlink: Netlink(), nft: Nftables())
        try writeFile(made, [])
    }
    let used = Set(taken.map(\.address))
    let first = bridgeGateway.value + 1
    let last = bridgeSubnet.address.value | (UInt32.max >> UInt32(bridgeSubnet.prefixLength)) - 1
    guard let free = (first...last).lazy.map(IPv4Address.init).first(where: { !used.contains($0) }) else {
        throw ContainerError(
            step: "choose the container's address",
            reason:
                "the bridge's subnet \(bridgeSubnet) is full: every address has a container — stop some (`scratch ps`), or `scratch gc` if their runtimes died"
        )
    }
    let attachment = BridgeAttachment(
        containerID: id, pair: VethPair(containerID: id), address: InterfaceAddress(free, prefixLength: bridgeSubnet.prefixLength),
        ports: ports, directory: directory)
    let file = directory + "/" + free.description
    let record = "id=\(id)\n" + ports.map { "port=\($0)\n" }.joined()
    let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    try check("open", path: file, fd)
    let owned = FileDescriptor(owning: fd)
    try owned.writeAll(Array(record.utf8))
    if !ports.isEmpty {
        do {
            try Nftables().run(portElements(attachment, "add"), what: "publish \(ports.map(\.description).joined(separator: ", "))")
        } catch {
            _ = unlink(file)
            throw error
        }
    }
    return attachment
}

/// Step 7 in bridge mode, on every way out: the ports, the address; the bridge and the
/// table with the last container. Not the host end of the veth: the kernel deletes the
/// pair when the container's namespace goes (deleting one end deletes both), soon
/// after its last process ended, and deleting it here would make the runtime wait
/// for an RCU grace period (about 20 ms here) for nothing. A pair whose container side
/// never reached the container (the start failed before) is deleted here.
func leaveBridge(_ attachment: BridgeAttachment) -> [String] {
    do {
        return try withNetworkLock { leaveBridgeLocked(attachment) }
    } catch {
        return ["\(error)"]
    }
}

private func leaveBridgeLocked(_ attachment: BridgeAttachment) -> [String] {
    var problems: [String] = []
    if let netlink = try? Netlink() {
        if netlink.linkExists(attachment.pair.containerSide) {
            do { try netlink.deleteLink(attachment.pair.containerSide) } catch { problems.append("\(error)") }
        }
        // The next container to get this address has another MAC: the host must ask
        // again (ARP), not send to this one's until its entry goes stale (seconds).
        try? netlink.deleteNeighbour(attachment.address.address, on: bridgeName)
    }
    if !attachment.ports.isEmpty, let nft = try? Nftables() {
        do { try nft.run(portElements(attachment, "delete"), what: "unpublish the ports") } catch { problems.append("\(error)") }
    }
    _ = unlink(attachment.directory + "/" + attachment.address.address.description)
    if allocations(in: attachment.directory).isEmpty {
        problems += removeBridge(directory: attachment.directory)
        _ = removeIdleNetworkLock()
    }
    return problems
}

/// `scratch gc` and every run: the addresses (and ports, and host veths) of
/// containers whose runtime died, in this network namespace; then the bridge and
/// table if no container is left. Returns what it removed.
func removeNetworkLeftovers() -> [String] {
    guard fileKind(networkStateRoot) == .directory else { return [] }
    return (try? withNetworkLock { removeNetworkLeftoversLocked() }) ?? []
}

private func removeNetworkLeftoversLocked() -> [String] {
    guard let directory = try? namespaceDirectory(create: false), fileKind(directory) == .directory else {
        return removeIdleNetworkLock()
    }
    var removed: [String] = []
    let all = allocations(in: directory)
    let dead = all.filter { !containerIsAlive($0.id) }
    if !dead.isEmpty {
        let netlink = try? Netlink()
        let nft = try? Nftables()
        for entry in dead {
            let attachment = BridgeAttachment(
                containerID: entry.id, pair: VethPair(containerID: entry.id),
                address: InterfaceAddress(entry.address, prefixLength: bridgeSubnet.prefixLength), ports: entry.ports,
                directory: directory)
            if let netlink, netlink.linkExists(attachment.pair.hostSide) { try? netlink.deleteLink(attachment.pair.hostSide) }
            if !entry.ports.isEmpty { _ = try? nft?.run(portElements(attachment, "delete"), what: "unpublish") }
            _ = unlink(directory + "/" + entry.address.description)
            removed.append("address \(entry.address) of container \(entry.id)")
        }
    }
    if dead.count == all.count {
        let problems = removeBridge(directory: directory)
        if problems.isEmpty { removed.append("bridge \(bridgeName) and table \(networkTable)") }
    }
    return removed + removeIdleNetworkLock()
}

/// Nothing left in any namespace: the lock goes too, so a host with no container
/// keeps no trace of one (a run waiting on it checks it took the live file).
private func removeIdleNetworkLock() -> [String] {
    guard (try? listDirectory(networkStateRoot)) == ["lock"] else { return [] }
    _ = unlink(networkStateRoot + "/lock")
    _ = rmdir(networkStateRoot)
    return [networkStateRoot]
}

// MARK: - The pieces

/// The bridge with its address, up, and the table: made when missing. The bridge and
/// route_localnet only here, in this namespace; ip_forward is the namespace's own too.
private func makeBridge(netlink: Netlink, nft: Nftables) throws {
    if !netlink.linkExists(bridgeName) {
        try step("create the bridge \(bridgeName)") {
            try netlink.createBridge(bridgeName)
            try netlink.addAddress(InterfaceAddress(bridgeGateway, prefixLength: bridgeSubnet.prefixLength), to: bridgeName)
            try netlink.setUp(bridgeName)
        }
    }
    // Containers' traffic out is routed, not bridged: the host must forward. Loopback
    // to a published port: see the top of this file.
    try step("let the host forward the containers' traffic") {
        try writeFile("/proc/sys/net/ipv4/ip_forward", Array("1\n".utf8), create: false)
        try writeFile("/proc/sys/net/ipv4/conf/\(bridgeName)/route_localnet", Array("1\n".utf8), create: false)
    }
    if (try? nft.run("list table \(networkTable)", what: "look for the table")) == nil {
        try nft.run(
            """
            table \(networkTable) {
                map ports { type inet_proto . inet_service : ipv4_addr . inet_service; }
                map ports_on { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
                chain prerouting {
                    type nat hook prerouting priority dstnat; policy accept;
                    fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports_on
                    fib daddr type local dnat ip to meta l4proto . th dport map @ports
                }
                chain output {
                    type nat hook output priority -100; policy accept;
                    fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports_on
                    fib daddr type local dnat ip to meta l4proto . th dport map @ports
                }
                chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
                    ip saddr \(bridgeSubnet) oifname != "\(bridgeName)" masquerade
                    ip saddr 127.0.0.0/8 oifname "\(bridgeName)" masquerade
                }
            }
            """, what: "create the table \(networkTable) (NAT out, published ports)")
    }
}

/// The last container gone: the table and the bridge.
private func removeBridge(directory: String) -> [String] {
    var problems: [String] = []
    if let nft = try? Nftables(), (try? nft.run("list table \(networkTable)", what: "look for the table")) != nil {
        do { try nft.run("delete table \(networkTable)", what: "delete the table") } catch { problems.append("\(error)") }
    }
    if let netlink = try? Netlink(), netlink.linkExists(bridgeName) {
        do { try netlink.deleteLink(bridgeName) } catch { problems.append("\(error)") }
    }
    _ = unlink(directory + "/.bridge")
    _ = rmdir(directory)
    return problems
}

/// nft's words for a container's ports: `add element …` or `delete element …`.
private func portElements(_ attachment: BridgeAttachment, _ verb: String) -> String {
    attachment.ports.map { port in
        let key = "\(port.transport.rawValue) . \(port.hostPort)"
        let value = "\(attachment.address.address) . \(port.containerPort)"
        if let host = port.hostAddress {
            return "\(verb) element \(networkTable) ports_on { \(host) . \(key)\(verb == "add" ? " : \(value)" : "") }"
        }
        return "\(verb) element \(networkTable) ports { \(key)\(verb == "add" ? " : \(value)" : "") }"
    }.joined(separator: "\n")
}

/// Why `port` cannot be published: a socket of the host holds it already.
private func portInUse(_ port: PublishedPort) -> String? {
    let fd = socket(AF_INET, port.transport == .tcp ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { _ = close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.hostPort.bigEndian
    address.sin_addr.s_addr = (port.hostAddress?.value ?? 0).bigEndian
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if result == 0 { return nil }
    switch errno {
    case EADDRINUSE: return "host port \(port.hostPort)/\(port.transport.rawValue) is in use by a process on the host"
    case EADDRNOTAVAIL: return "\(port.hostAddress.map(\.description) ?? "") is not an address of this host"
    default: return nil
    }
}

/// One address in use: whose, and its ports.
private struct Allocation {
    let address: IPv4Address
    let id: String
    let ports: [PublishedPort]
}

private func allocations(in directory: String) -> [Allocation] {
    guard let names = try? listDirectory(directory) else { return [] }
    return names.compactMap { name in
        guard let address = IPv4Address(name), let bytes = try? readFile(directory + "/" + name, limit: 1 << 16) else { return nil }
        var id = ""
        var ports: [PublishedPort] = []
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("id=") { id = String(line.dropFirst(3)) }
            if line.hasPrefix("port="), let port = try? PublishedPort(parsing: String(line.dropFirst(5))) { ports.append(port) }
        }
        return Allocation(address: address, id: id, ports: ports)
    }
}

/// A container is alive while its runtime holds the lock on its state (or is still
/// making it).
private func containerIsAlive(_ id: String) -> Bool {
    if isLocked(stateRoot + "/" + id + "/state") { return true }
    let names = (try? listDirectory(stateRoot)) ?? []
    return names.contains { name in
        guard let (unborn, runtime) = unbornName(name), unborn == id else { return false }
        return kill(runtime, 0) == 0 || errno == EPERM
    }
}

/// This network namespace's directory: named by the namespace's inode, so a test's
/// stand-in host never sees the host's addresses, nor the host a test's.
private func namespaceDirectory(create: Bool = true) throws -> String {
    let identity = try fileIdentity("/proc/self/ns/net")
    let directory = networkStateRoot + "/\(identity.inode)"
    if create { try makeDirectories(directory, mode: 0o700) }
    return directory
}

/// Runs `body` holding the network lock.
private func withNetworkLock<T>(_ body: () throws -> T) throws -> T {
    let lock = try lockNetworkState()
    let result = Result { try body() }
    _ = consume lock
    return try result.get()
}

/// The network lock, held while the bridge, the table and the addresses change. A
/// `gc` may remove the lock file while nobody holds it: the file locked must still
/// be the one at the path.
private func lockNetworkState() throws(SyscallError) -> FileDescriptor {
    while true {
        try makeDirectories(networkStateRoot, mode: 0o700)
        // The last container's cleanup, holding the lock, may remove the directory
        // between the two calls: then it is made again.
        let lock: FileDescriptor
        do { lock = try lockFile(networkStateRoot + "/lock") } catch  where error.errno == ENOENT { continue }
        var held = stat()
        var current = stat()
        if fstat(lock.raw, &held) == 0, stat(networkStateRoot + "/lock", &current) == 0, held.st_ino == current.st_ino {
            return lock
        }
    }
}
