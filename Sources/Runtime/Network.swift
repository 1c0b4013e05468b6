import Glibc
import Syscalls

// Chapter 9 — networking: the network namespace.
//
// A network namespace holds its own links, addresses, routes, firewall rules and
// ports. A new one has a single link, `lo`, and it is down: a container made with
// CLONE_NEWNET cannot even reach itself until someone brings it up. To reach the
// host, it needs a link that crosses namespaces: a veth pair is two virtual Ethernet
// devices joined like a cable; one end stays on the host, the other is moved into
// the container's namespace. On the host, the end is plugged into a bridge (a
// software switch) with the other containers' ends, and the bridge has an address:
// it is the containers' gateway. Docker's default network is exactly this.

/// Which network a container gets (`--network`).
public enum NetworkMode: Sendable, Equatable, CustomStringConvertible {
    /// A network namespace with only `lo`, up.
    case none
    /// The default, as Docker's: a veth pair to the bridge `scratch0`, an address from
    /// its subnet, NAT out, published ports.
    case bridge
    /// The host's own network namespace: no isolation at all.
    case host
    /// A network made by CNI plugins from the configuration NAME in /etc/cni/net.d.
    case cni(String)

    /// `--network`'s value: none, bridge, host or cni:NAME.
    public init(parsing text: String) throws(ContainerError) {
        switch text {
        case "none": self = .none
        case "bridge": self = .bridge
        case "host": self = .host
        default:
            if text.hasPrefix("cni:"), text.count > 4 {
                self = .cni(String(text.dropFirst(4)))
                return
            }
            throw ContainerError(
                step: "check the request", reason: "--network \(ContainerSpec.quoted(text)): say none, bridge, host or cni:NAME")
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .bridge: "bridge"
        case .host: "host"
        case .cni(let name): "cni:\(name)"
        }
    }

    /// Whether the container gets a network namespace of its own.
    public var hasOwnNamespace: Bool { self != .host }
}

/// An IPv4 address, in host byte order.
public struct IPv4Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    /// Dotted quad: "10.55.0.1".
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let byte = UInt8(part) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        self.value = value
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }

    public static func < (left: IPv4Address, right: IPv4Address) -> Bool { left.value < right.value }
}

/// An address on an interface, with its prefix length: 10.55.0.2/16.
public struct InterfaceAddress: Sendable, Equatable, CustomStringConvertible {
    public var address: IPv4Address
    public var prefixLength: Int

    public init(_ address: IPv4Address, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// A container's veth pair, by the names its ends have on the host.
public struct VethPair: Sendable, Equatable {
    /// The end that stays on the host, on the bridge: `vs` and the container's id.
    public var hostSide: String
    /// The end moved into the container, under this name until the child renames it.
    public var containerSide: String
    /// What the container side is called inside: eth0, as everywhere.
    public var nameInside: String
    /// The bridge the host side is plugged into.
    public var bridge: String

    /// The pair for container `id`. Link names have at most 15 bytes (IFNAMSIZ - 1):
    /// two letters and the 12 hex digits of the id fit, and tell whose a link is.
    public init(containerID id: String, bridge: String = bridgeName) {
        hostSide = "vs" + id.prefix(12)
        containerSide = "vc" + id.prefix(12)
        nameInside = "eth0"
        self.bridge = bridge
    }
}

/// The bridge every container in bridge mode is plugged into, made on first use.
public let bridgeName = "scratch0"

/// The bridge's subnet: 10.55.0.0/16. Private (RFC 1918), and none of the usual
/// neighbours': not Docker's 172.17.0.0/16, Podman's 10.88.0.0/16, CNI's examples'
/// 10.22.0.0/16 or k3s's 10.42.0.0/16 — scratch runs beside any of them. A /16 holds
/// 65,533 containers; the bridge has the first address, the gateway.
public let bridgeSubnet = InterfaceAddress(IPv4Address(10 << 24 | 55 << 16), prefixLength: 16)

/// The bridge's own address, the containers' gateway: 10.55.0.1.
public let bridgeGateway = IPv4Address(bridgeSubnet.address.value + 1)

extension Reference: NetworkSteps {
    /// A new network namespace for the child: only `lo`, down.
    public func networkNamespace() -> CloneFlags { .newNetwork }

    /// The parent's half, in the host's namespace: a process inside a fresh namespace
    /// cannot reach out to make a link on the host, but the host may put a link in.
    /// Made there at once rather than made here and moved (`moveToNamespace`): the
    /// same result, as CNI's veth helper does it, without the move's wait for an RCU
    /// grace period, which is most of what bridge mode would cost a run.
    public func connectContainer(_ pair: VethPair, toNamespaceOf pid: pid_t, netlink: Netlink) throws {
        try netlink.createVethPair(pair.hostSide, peer: pair.containerSide, peerInNamespaceOf: pid)
        try netlink.setMaster(pair.hostSide, bridge: pair.bridge)
        try netlink.setUp(pair.hostSide)
    }

    /// 127.0.0.1 works only once `lo` is up; a new namespace's is down.
    public func bringUpLoopback(netlink: Netlink) throws {
        try netlink.setUp("lo")
    }

    /// The child's half. Renamed while still down (the kernel refuses to rename a link
    /// that is up); the address with its prefix, so the kernel knows the subnet is
    /// on-link; up; then the default route, whose gateway must be on-link already.
    public func configureContainerSide(_ pair: VethPair, address: InterfaceAddress, gateway: IPv4Address, netlink: Netlink) throws {
        try netlink.rename(pair.containerSide, to: pair.nameInside)
        try netlink.addAddress(address, to: pair.nameInside)
        try netlink.setUp(pair.nameInside)
        try netlink.addDefaultRoute(via: gateway)
    }
}

extension ContainerSpec {
    /// Chapter 9's flags, checked before anything exists.
    func validateNetwork(stage: Stage) throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError { ContainerError(step: "check the request", reason: reason) }
        if networkFlagsGiven && !stage.includes(.network) {
            throw invalid("--network and -p come in chapter 9 — run at chapter 9's stage or later")
        }
        if !publishedPorts.isEmpty && network != .bridge && !network.publishesThroughCNI {
            throw invalid(
                "-p publishes a port through the bridge, and --network \(network) has none — drop -p, or use --network bridge (the default)")
        }
        for (index, port) in publishedPorts.enumerated() {
            if let other = publishedPorts[..<index].first(where: port.collides) {
                throw invalid("-p \(port) and -p \(other) both want host port \(port.hostPort)/\(port.transport.rawValue)")
            }
        }
        switch network {
        case .bridge where getuid() != 0:
            // Making a veth on the host and plugging it into a bridge needs CAP_NET_ADMIN
            // in the host's network namespace, which a user namespace never gives.
            throw invalid(
                "--network bridge needs root: the veth pair and the bridge are made in the host's network namespace (rootless Podman uses a user-space network stack, pasta or slirp4netns, instead) — run as root, or use --network none or host"
            )
        case .cni:
            try validateCNINetwork()
        default: break
        }
    }
}

/// Writes the container's /etc/hosts, /etc/hostname and /etc/resolv.conf into its
/// state directory and returns them as binds onto the container's /etc, where the
/// rootfs has each file (a volume of the user's on the same path wins). Writes to them
/// inside go to these copies, not to the container's layer, as in Docker. resolv.conf is the host's, without nameservers
/// on 127.0.0.0/8: those listen on the host's loopback, which the container's own
/// loopback is not; with none left, Docker's fallback (Google's public resolvers).
func writeNetworkFiles(_ spec: ContainerSpec, address: IPv4Address?, directory: String) throws -> [Mount] {
    let name = spec.effectiveHostname
    var hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    if let address { hosts += "\(address)\t\(name)\n" } else { hosts += "127.0.1.1\t\(name)\n" }
    var resolv = ""
    var nameservers = 0
    let host = (try? readFile("/etc/resolv.conf", limit: 1 << 16)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    for line in host.split(separator: "\n") {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if words.first == "nameserver" {
            if words.count < 2 || words[1].hasPrefix("127.") || words[1] == "::1" { continue }
            nameservers += 1
        }
        resolv += line + "\n"
    }
    if nameservers == 0 { resolv += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n" }
    var mounts: [Mount] = []
    let taken = Set(spec.mounts.map(\.target))
    for (file, text) in [("hosts", hosts), ("hostname", name + "\n"), ("resolv.conf", resolv)] where !taken.contains("/etc/" + file) {
        try writeFile(directory + "/" + file, Array(text.utf8), mode: 0o644)
        mounts.append(
            Mount(
                kind: .bind, source: directory + "/" + file, target: "/etc/" + file, options: [ifPresentOption],
                origin: "--network \(spec.network)"))
    }
    return mounts
}
