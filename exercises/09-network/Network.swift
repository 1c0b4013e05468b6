import Glibc
// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import struct Runtime.IPv4Address
import struct Runtime.InterfaceAddress
import class Runtime.Netlink
import protocol Runtime.NetworkSteps
import struct Runtime.NotDoneYet
import struct Runtime.VethPair
import Syscalls

// Chapter 9 — Networking: the network namespace.
//
// Read first: `./workbook read 9`, sections "Network namespaces", "A veth pair and a
// bridge" and "Your turn".
// Check your work: `./workbook check 9`. Stuck? `./workbook hint 9`.
//
// The runtime calls these in this order: `networkNamespace` when it clones the child;
// `connectContainer` in the parent, after the clone and before the child is let go
// (bridge mode only); then, in the child, `bringUpLoopback` (every mode but host) and
// `configureContainerSide` (bridge mode only).
//
// Building blocks (Sources/Runtime/Netlink.swift), one rtnetlink request each, named
// as `ip` names them: `createVethPair(_:peer:peerInNamespaceOf:)`, `setMaster(_:bridge:)`,
// `moveToNamespace(_:ofProcess:)`, `rename(_:to:)`, `setUp(_:)`,
// `addAddress(_:to:)`, `addDefaultRoute(via:)`. The `netlink` you are given is
// already open in the right namespace: the host's in the parent, the container's in
// the child.

/// Your chapter 9, called through the `NetworkSteps` protocol.
public struct YourNetwork: NetworkSteps {
    public init() {}

    /// The clone flags that give the container a network of its own.
    public func networkNamespace() throws -> CloneFlags {
        // TODO: one flag.
        throw NotDoneYet(chapter: 9, file: "exercises/09-network/Network.swift")
    }

    /// In the parent: make `pair` (host side and container side) with the container
    /// side in the network namespace of process `pid` (made there, or moved there),
    /// and plug the host side into `pair.bridge` and bring it up.
    public func connectContainer(_ pair: VethPair, toNamespaceOf pid: pid_t, netlink: Netlink) throws {
        // TODO: three or four requests.
        throw NotDoneYet(chapter: 9, file: "exercises/09-network/Network.swift")
    }

    /// In the child: a new namespace's loopback device starts down.
    public func bringUpLoopback(netlink: Netlink) throws {
        // TODO: one request.
        throw NotDoneYet(chapter: 9, file: "exercises/09-network/Network.swift")
    }

    /// In the child: the link the parent moved in becomes `pair.nameInside`, with
    /// `address`, up, and the way out (the default route) through `gateway`.
    public func configureContainerSide(_ pair: VethPair, address: InterfaceAddress, gateway: IPv4Address, netlink: Netlink) throws {
        // TODO: four requests, in an order the kernel accepts.
        throw NotDoneYet(chapter: 9, file: "exercises/09-network/Network.swift")
    }
}
