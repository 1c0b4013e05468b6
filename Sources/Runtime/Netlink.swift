import CNetlink
import Glibc

// Chapter 9's building blocks: rtnetlink, the socket through which `ip` changes links,
// addresses and routes, spoken through Debian's libnl-route-3. Each method is one
// request, named as `ip` would name it, so a learner writes the network's story and
// not the message plumbing.
//
// A netlink socket belongs to the network namespace of the process that opened it,
// for life: open one in the namespace you mean to change (the parent's for the host
// side, the child's for the container side).

/// A failed rtnetlink request: what was asked, of which link, and libnl's words.
public struct NetlinkError: Error, CustomStringConvertible, Sendable {
    public let request: String
    public let message: String
    public var hint: String?

    public init(_ request: String, code: Int32, hint: String? = nil) {
        self.request = request
        self.message = nl_geterror(code).map { String(cString: $0) } ?? "libnl error \(code)"
        self.hint = hint
    }

    public var description: String {
        "\(request): \(message)" + (hint.map { " — \($0)" } ?? "")
    }
}

/// A route netlink socket in the caller's network namespace.
public final class Netlink {
    let socket: OpaquePointer

    /// Connects a NETLINK_ROUTE socket in the network namespace this process is in now.
    public init() throws {
        guard let socket = nl_socket_alloc() else { throw NetlinkError("nl_socket_alloc", code: -NLE_NOMEM) }
        let result = nl_connect(socket, NETLINK_ROUTE)
        if result < 0 {
            nl_socket_free(socket)
            throw NetlinkError("connect a NETLINK_ROUTE socket", code: result)
        }
        self.socket = socket
    }

    deinit { nl_socket_free(socket) }

    // IFF_UP from <net/if.h>: the administrative "up" flag of a link.
    static let up: UInt32 = 0x1

    /// `ip link add NAME type veth peer name PEER [netns PID]`: a pair of virtual
    /// Ethernet devices, joined like two ends of a cable. Both start down, in this
    /// namespace — or the peer straight in the network namespace of process `pid`,
    /// which costs nothing more, where moving it there later (`moveToNamespace`) makes
    /// the kernel wait for every CPU to pass a grace period (about 20 ms here).
    public func createVethPair(_ name: String, peer: String, peerInNamespaceOf pid: pid_t? = nil) throws {
        guard let link = rtnl_link_veth_alloc() else { throw NetlinkError("rtnl_link_veth_alloc", code: -NLE_NOMEM) }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        if let peerLink = rtnl_link_veth_get_peer(link) {
            rtnl_link_set_name(peerLink, peer)
            if let pid { rtnl_link_set_ns_pid(peerLink, pid) }
            rtnl_link_put(peerLink)
        }
        try check(
            rtnl_link_add(socket, link, NLM_F_CREATE | NLM_F_EXCL), "create the veth pair \(name)/\(peer)",
            exists: "a link of that name is there already (a leftover? `scratch gc` removes them)")
    }

    /// `ip link add NAME type bridge`: a software switch; links put on it (`setMaster`)
    /// become its ports.
    public func createBridge(_ name: String) throws {
        try check(rtnl_link_bridge_add(socket, name), "create the bridge \(name)")
    }

    /// `ip link set NAME master BRIDGE`.
    public func setMaster(_ name: String, bridge: String) throws {
        let master = try index(of: bridge)
        try change(name, "put \(name) on the bridge \(bridge)") { rtnl_link_set_master($0, master) }
    }

    /// `ip link set NAME netns PID`: the link leaves this namespace for the network
    /// namespace of process `pid`, where it keeps its name (and goes down).
    public func moveToNamespace(_ name: String, ofProcess pid: pid_t) throws {
        try change(name, "move \(name) into the network namespace of process \(pid)") { rtnl_link_set_ns_pid($0, pid) }
    }

    /// `ip link set NAME name NEWNAME`. The kernel renames only a link that is down.
    public func rename(_ name: String, to newName: String) throws {
        try change(name, "rename \(name) to \(newName)") { rtnl_link_set_name($0, newName) }
    }

    /// `ip link set NAME up`.
    public func setUp(_ name: String) throws {
        try change(name, "bring \(name) up") { rtnl_link_set_flags($0, Self.up) }
    }

    /// `ip addr add ADDRESS/PREFIX dev NAME`. The prefix length is what makes the
    /// kernel add a route to the subnet: without it (a /32) no neighbour is on-link.
    public func addAddress(_ address: InterfaceAddress, to name: String) throws {
        let link = try index(of: name)
        guard let request = rtnl_addr_alloc() else { throw NetlinkError("rtnl_addr_alloc", code: -NLE_NOMEM) }
        defer { rtnl_addr_put(request) }
        let local = try address.address.netlinkAddress(prefixLength: address.prefixLength)
        defer { nl_addr_put(local) }
        rtnl_addr_set_ifindex(request, link)
        try check(rtnl_addr_set_local(request, local), "give \(name) the address \(address)")
        try check(rtnl_addr_add(socket, request, 0), "give \(name) the address \(address)", exists: "it has that address already")
    }

    /// `ip route add default via GATEWAY`. The gateway must be on-link: in the subnet
    /// of an address some link up has.
    public func addDefaultRoute(via gateway: IPv4Address) throws {
        guard let route = rtnl_route_alloc(), let hop = rtnl_route_nh_alloc() else {
            throw NetlinkError("rtnl_route_alloc", code: -NLE_NOMEM)
        }
        defer { rtnl_route_put(route) }
        let anywhere = try IPv4Address(0).netlinkAddress(prefixLength: 0)
        defer { nl_addr_put(anywhere) }
        let via = try gateway.netlinkAddress(prefixLength: 32)
        defer { nl_addr_put(via) }
        rtnl_route_set_family(route, UInt8(AF_INET))
        try check(rtnl_route_set_dst(route, anywhere), "add the default route via \(gateway)")
        rtnl_route_nh_set_gateway(hop, via)
        rtnl_route_add_nexthop(route, hop)  // the route owns the hop from here
        try check(
            rtnl_route_add(socket, route, NLM_F_CREATE | NLM_F_EXCL), "add the default route via \(gateway)",
            unreachable: "\(gateway) is in no subnet of a link that is up: give the address its prefix length (/16), and bring the link up first")
    }

    /// `ip link del NAME`. Deleting one end of a veth pair deletes both.
    public func deleteLink(_ name: String) throws {
        guard let link = rtnl_link_alloc() else { throw NetlinkError("rtnl_link_alloc", code: -NLE_NOMEM) }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        try check(rtnl_link_delete(socket, link), "delete the link \(name)")
    }

    /// `ip neigh del ADDRESS dev NAME`: forget the link-layer address learned for
    /// `address` (ARP). For the runtime: an address given to a new container with a
    /// new MAC would otherwise be sent to the old MAC until the entry goes stale.
    func deleteNeighbour(_ address: IPv4Address, on name: String) throws {
        let link = try index(of: name)
        guard let neighbour = rtnl_neigh_alloc() else { throw NetlinkError("rtnl_neigh_alloc", code: -NLE_NOMEM) }
        defer { rtnl_neigh_put(neighbour) }
        let destination = try address.netlinkAddress(prefixLength: 32)
        defer { nl_addr_put(destination) }
        rtnl_neigh_set_ifindex(neighbour, link)
        try check(rtnl_neigh_set_dst(neighbour, destination), "forget the neighbour \(address) on \(name)")
        try check(rtnl_neigh_delete(socket, neighbour, 0), "forget the neighbour \(address) on \(name)")
    }

    /// True when this namespace has a link called `name`.
    public func linkExists(_ name: String) -> Bool {
        (try? index(of: name)) != nil
    }

    /// The links of this namespace: name and whether it is up.
    public func links() throws -> [(name: String, up: Bool)] {
        var cache: OpaquePointer?
        try check(rtnl_link_alloc_cache(socket, AF_UNSPEC, &cache), "list the links")
        defer { nl_cache_free(cache) }
        var result: [(name: String, up: Bool)] = []
        var object = nl_cache_get_first(cache)
        while let current = object {
            let link = current
            if let name = rtnl_link_get_name(link) {
                result.append((String(cString: name), rtnl_link_get_flags(link) & Self.up != 0))
            }
            object = nl_cache_get_next(current)
        }
        return result
    }

    /// The interface index of `name`, as the kernel numbers links in this namespace.
    func index(of name: String) throws -> Int32 {
        var link: OpaquePointer?
        try check(
            rtnl_link_get_kernel(socket, 0, name, &link), "find the link \(name)",
            missing: "this network namespace has no link of that name (`ip link` inside it lists them)")
        defer { rtnl_link_put(link) }
        return rtnl_link_get_ifindex(link)
    }

    /// RTM_NEWLINK on an existing link: `body` sets what is to change.
    private func change(_ name: String, _ request: String, _ body: (OpaquePointer) -> Void) throws {
        var original: OpaquePointer?
        try check(
            rtnl_link_get_kernel(socket, 0, name, &original), request,
            missing: "this network namespace has no link \(name) (`ip link` inside it lists them)")
        defer { rtnl_link_put(original) }
        guard let changes = rtnl_link_alloc() else { throw NetlinkError("rtnl_link_alloc", code: -NLE_NOMEM) }
        defer { rtnl_link_put(changes) }
        body(changes)
        try check(rtnl_link_change(socket, original, changes, 0), request, exists: "a link of the new name is there already")
    }

    private func check(
        _ result: Int32, _ request: String, exists: String? = nil, missing: String? = nil, unreachable: String? = nil
    ) throws {
        guard result < 0 else { return }
        var hint: String?
        switch -result {
        case NLE_EXIST: hint = exists
        case NLE_OBJ_NOTFOUND, NLE_NODEV: hint = missing
        case NLE_NOADDR: hint = missing
        case NLE_PERM: hint = "needs CAP_NET_ADMIN in the network namespace's owner (root, before the capabilities are dropped)"
        default: hint = nil
        }
        if -result == NLE_FAILURE || -result == NLE_INVAL, let unreachable { hint = unreachable }
        throw NetlinkError(request, code: result, hint: hint)
    }
}

extension IPv4Address {
    /// A libnl address (to be released with nl_addr_put).
    func netlinkAddress(prefixLength: Int) throws -> OpaquePointer {
        var bytes = value.bigEndian
        guard let address = nl_addr_build(AF_INET, &bytes, 4) else { throw NetlinkError("nl_addr_build", code: -NLE_NOMEM) }
        nl_addr_set_prefixlen(address, Int32(prefixLength))
        return address
    }
}
