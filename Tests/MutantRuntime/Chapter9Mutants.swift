import Glibc
import Runtime
import Syscalls

// Chapter 9 — networking. Each is the reference with one mistake.

/// The reference's chapter 9, for mutants that change one function.
private protocol ReferenceNetwork: NetworkSteps {}
extension ReferenceNetwork {
    func networkNamespace() throws -> CloneFlags { Reference().networkNamespace() }
    func connectContainer(_ pair: VethPair, toNamespaceOf pid: pid_t, netlink: Netlink) throws {
        try Reference().connectContainer(pair, toNamespaceOf: pid, netlink: netlink)
    }
    func bringUpLoopback(netlink: Netlink) throws { try Reference().bringUpLoopback(netlink: netlink) }
    func configureContainerSide(_ pair: VethPair, address: InterfaceAddress, gateway: IPv4Address, netlink: Netlink) throws {
        try Reference().configureContainerSide(pair, address: address, gateway: gateway, netlink: netlink)
    }
}

/// No CLONE_NEWNET: the container lives in the host's network.
struct Ch9NoNetworkFlag: ReferenceNetwork {
    func networkNamespace() throws -> CloneFlags { [] }
}

/// lo left as the kernel makes it: down.
struct Ch9LoopbackLeftDown: ReferenceNetwork {
    func bringUpLoopback(netlink: Netlink) throws {}
}

/// The pair is made, but the container side stays on the host.
struct Ch9PeerNotMoved: ReferenceNetwork {
    func connectContainer(_ pair: VethPair, toNamespaceOf pid: pid_t, netlink: Netlink) throws {
        try netlink.createVethPair(pair.hostSide, peer: pair.containerSide)
        try netlink.setMaster(pair.hostSide, bridge: pair.bridge)
        try netlink.setUp(pair.hostSide)
    }
}

/// The host side is never plugged into the bridge (the pair made, then moved).
struct Ch9NotOnBridge: ReferenceNetwork {
    func connectContainer(_ pair: VethPair, toNamespaceOf pid: pid_t, netlink: Netlink) throws {
        try netlink.createVethPair(pair.hostSide, peer: pair.containerSide)
        try netlink.setUp(pair.hostSide)
        try netlink.moveToNamespace(pair.containerSide, ofProcess: pid)
    }
}

/// The host side is left down.
struct Ch9HostSideDown: ReferenceNetwork {
    func connectContainer(_ pair: VethPair, toNamespaceOf pid: pid_t, netlink: Netlink) throws {
        try netlink.createVethPair(pair.hostSide, peer: pair.containerSide, peerInNamespaceOf: pid)
        try netlink.setMaster(pair.hostSide, bridge: pair.bridge)
    }
}

/// The address as a bare /32: nothing is on-link, so the gateway cannot be reached.
struct Ch9AddressWithoutPrefix: ReferenceNetwork {
    func configureContainerSide(_ pair: VethPair, address: InterfaceAddress, gateway: IPv4Address, netlink: Netlink) throws {
        try netlink.rename(pair.containerSide, to: pair.nameInside)
        try netlink.addAddress(InterfaceAddress(address.address, prefixLength: 32), to: pair.nameInside)
        try netlink.setUp(pair.nameInside)
        try netlink.addDefaultRoute(via: gateway)
    }
}

/// No default route: the subnet answers, nothing beyond it.
struct Ch9NoDefaultRoute: ReferenceNetwork {
    func configureContainerSide(_ pair: VethPair, address: InterfaceAddress, gateway: IPv4Address, netlink: Netlink) throws {
        try netlink.rename(pair.containerSide, to: pair.nameInside)
        try netlink.addAddress(address, to: pair.nameInside)
        try netlink.setUp(pair.nameInside)
    }
}

/// The container side keeps its temporary name.
struct Ch9PeerNotRenamed: ReferenceNetwork {
    func configureContainerSide(_ pair: VethPair, address: InterfaceAddress, gateway: IPv4Address, netlink: Netlink) throws {
        try netlink.addAddress(address, to: pair.containerSide)
        try netlink.setUp(pair.containerSide)
        try netlink.addDefaultRoute(via: gateway)
    }
}
