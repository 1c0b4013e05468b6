import Glibc
// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import enum Runtime.CgroupMode
import struct Runtime.CgroupFile
import struct Runtime.NotDoneYet
import protocol Runtime.CgroupSteps
import struct Runtime.ResourceLimits
import Syscalls

// Chapter 4 — Limits: cgroups.
//
// Read first: `./workbook read 4`, sections "A cgroup by hand", "v2 and v1" and
// "Your turn".
// Check your work: `./workbook check 4`. Stuck? `./workbook hint 4`.
//
// The runtime finds the host's cgroup mode and where the container's group goes in
// each hierarchy (`scratch/<id>`), and calls your four functions in the order of a
// container's life: which files to write (`cgroupFiles`), make the group
// (`makeCgroup`; the runtime then writes your files into it), move the container in
// (`joinCgroup`), and remove the group when the container is gone (`removeCgroup`).

/// Your chapter 4, called through the `CgroupSteps` protocol.
public struct YourCgroups: CgroupSteps {
    public init() {}

    /// The control files that set `limits`, with their values, in the order to write them.
    ///
    /// Each limit is nil when the user did not ask for it: return no file for it. With no
    /// limit at all, return an empty list (the container still gets its group). Values
    /// are decimal text; the lesson's table in "v2 and v1" has the names:
    ///
    /// - `.v2`: memory is a limit and a swap limit of 0 (else the container swaps past
    ///   its limit); pids is one file; CPU is one file holding "QUOTA PERIOD", in µs.
    /// - `.v1`: memory is a limit, then memory plus swap with the same value (the
    ///   kernel refuses the second below the first); pids is one file; CPU is the
    ///   period, then the quota.
    ///
    /// The limits: `limits.memoryBytes`, `limits.pids`, `limits.cpuQuotaMicroseconds`
    /// (with `ResourceLimits.cpuPeriodMicroseconds`). A file is `CgroupFile(name, value)`.
    public func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) throws -> [CgroupFile] {
        // TODO: a list of CgroupFile for each mode.
        throw NotDoneYet(chapter: 4, file: "exercises/04-cgroups/Cgroups.swift")
    }

    /// Make the container's group: every directory in `groups`, one per hierarchy — on
    /// v2 one, `/sys/fs/cgroup/scratch/<id>`; on v1 one in each controller's tree,
    /// `/sys/fs/cgroup/memory/scratch/<id>`, `/sys/fs/cgroup/pids/scratch/<id>`, ...
    ///
    /// 1. The parent, `scratch` (`parentDirectory(of:)`), may not exist yet: make it.
    ///    It may exist already, from another container: fine (`makeDirectory` allows it).
    /// 2. `.v2` only, before making the group: a controller works in a group only if the
    ///    group's parent lists it in `cgroup.subtree_control`, and the parent's parent
    ///    must list it too. So write `controllers`, each with a "+" and separated by
    ///    spaces ("+memory +pids +cpu"), to the `cgroup.subtree_control` of the tree's
    ///    root (`/sys/fs/cgroup`) and then of `scratch`. Never the group's own: a group
    ///    that hands memory down may hold no process (the no-internal-processes rule).
    ///    On a systemd host the root has them already; writing them again is harmless.
    /// 3. Make the group itself: `makeDirectory`, `mode` 0o755.
    public func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws {
        // TODO: steps 1 to 3 for each group.
        throw NotDoneYet(chapter: 4, file: "exercises/04-cgroups/Cgroups.swift")
    }

    /// Move process `pid` into the container's cgroup: write its pid, as decimal text, to
    /// `cgroup.procs` in each of `directories` (one on v2, one per hierarchy on v1).
    /// The runtime calls this before the child's go-ahead, so the command never runs
    /// outside its limits. `writeControlFile(_:_:)` writes a control file in one write.
    public func joinCgroup(_ directories: [String], pid: pid_t) throws {
        // TODO: one write per directory.
        throw NotDoneYet(chapter: 4, file: "exercises/04-cgroups/Cgroups.swift")
    }

    /// Remove the container's group: `removeDirectory` (rmdir) every directory in
    /// `groups`, then its parent `scratch`.
    ///
    /// - The container's PID 1 has been reaped, but the other processes the kernel killed
    ///   with it may take a moment to leave: until then rmdir fails with `EBUSY`. Try
    ///   again after a few milliseconds (`usleep(5_000)`), for up to a second.
    /// - `ENOENT`: nothing to remove (a start that failed half-way may call this too).
    /// - The parent: other containers may have their groups in it, and then rmdir fails
    ///   (`EBUSY` or `ENOTEMPTY`). That is fine: ignore those errors.
    ///
    /// A `SyscallError` carries the `errno` it failed with: `catch where error.errno == EBUSY`.
    /// End each do/catch with a plain `catch { throw error }`: the Swift 6.3 compiler
    /// crashes ("Found ownership error") on some loops whose do/catch has only
    /// `catch where` clauses.
    public func removeCgroup(_ groups: [String]) throws {
        // TODO: rmdir each group, retrying while EBUSY; then the parents.
        throw NotDoneYet(chapter: 4, file: "exercises/04-cgroups/Cgroups.swift")
    }
}
