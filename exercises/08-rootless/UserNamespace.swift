import Glibc
// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import struct Runtime.ContainerError
import struct Runtime.IDMaps
import struct Runtime.NotDoneYet
import protocol Runtime.UserNamespaceSteps
import Syscalls

// Chapter 8 — Rootless: the user namespace.
//
// Read first: `./workbook read 8`, sections "Maps", "setgroups" and "Your turn".
// Check your work: `./workbook check 8` (as root: the checks make a user of their
// own and run your runtime as that user). Stuck? `./workbook hint 8`.
//
// The parent calls `writeIDMaps` once the child exists, in its new user namespace,
// and before the go-ahead: until the maps are written, the child's ids are unmapped
// and it may not even create a file. `mapLines` is yours too: the runtime shows its
// lines beside any error writeIDMaps throws.
//
// Building blocks (Sources/Syscalls): `writeFile(path, bytes, create: false)` for a
// file of /proc/PID; `runProgram([path, arguments...])` for a helper, which returns
// its exit status (`.exited(0)` when it worked); `ContainerError(step:reason:)` to
// say a helper failed. `IDMaps` (Sources/Runtime/
// UserNamespace.swift): `uid`, `gid` (the caller's), `range` (nil, or the first host
// uid and gid of the caller's /etc/subuid and /etc/subgid range), `helpers` (the
// paths of newuidmap and newgidmap), `IDMaps.rangeSize` (65,536).

/// Your chapter 8, called through the `UserNamespaceSteps` protocol.
public struct YourUserNamespace: UserNamespaceSteps {
    public init() {}

    /// The text of uid_map and gid_map for `maps`: "INSIDE OUTSIDE COUNT" lines.
    /// Container root is the caller; with a range, the container's ids from 1 up
    /// are the range's.
    public func mapLines(_ maps: IDMaps) throws -> (uid: String, gid: String) {
        // TODO: one line without a range, two with one.
        throw NotDoneYet(chapter: 8, file: "exercises/08-rootless/UserNamespace.swift")
    }

    /// Write `child`'s maps from the parent. One id: /proc/CHILD/setgroups, uid_map,
    /// gid_map, each written once, in an order the kernel accepts from a user who is
    /// not root. A range: the helpers, which take the child's pid and the map's
    /// numbers as arguments.
    public func writeIDMaps(_ maps: IDMaps, child: pid_t) throws {
        // TODO: setgroups, then the maps; or newuidmap and newgidmap.
        throw NotDoneYet(chapter: 8, file: "exercises/08-rootless/UserNamespace.swift")
    }
}
