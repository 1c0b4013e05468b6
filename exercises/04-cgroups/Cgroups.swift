import Glibc
// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import enum Runtime.CgroupMode
import struct Runtime.CgroupFile
import struct Runtime.NotDoneYet
import struct Runtime.ResourceLimits
import Syscalls

// Chapter 4 — Limits: cgroups.
//
// Read first: `./workbook read 4`, sections "v2 and v1" and "Your turn".
// Check your work: `./workbook check 4`. Stuck? `./workbook hint 4`.
//
// The runtime already finds the host's cgroup mode, makes the container's group
// (`scratch/<id>`, in every hierarchy on v1; with memory, pids and cpu enabled in the
// ancestors' cgroup.subtree_control on v2), writes the files you return into it, and
// removes it when the container is gone. You say what to write, and move the
// container in.

/// The control files that set `limits`, with their values, in the order to write them.
///
/// Each limit is nil when the user did not ask for it: return no file for it. With no
/// limit at all, return an empty list (the container still gets its group).
///
/// - `.v2`: `memory.max` (bytes) and `memory.swap.max` = "0" (else the container
///   swaps past its limit); `pids.max`; `cpu.max` = "QUOTA PERIOD", both in µs.
/// - `.v1`: `memory.limit_in_bytes`, then `memory.memsw.limit_in_bytes` (memory plus
///   swap) with the same value; `pids.max`; `cpu.cfs_period_us`, then
///   `cpu.cfs_quota_us`.
///
/// `limits.memoryBytes`, `limits.pids`, and for the CPU `limits.cpuQuotaMicroseconds`
/// with `ResourceLimits.cpuPeriodMicroseconds`. Make one with `CgroupFile("pids.max", "20")`.
public func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) throws -> [CgroupFile] {
    // TODO: a list of CgroupFile for each mode.
    throw NotDoneYet(chapter: 4, file: "exercises/04-cgroups/Cgroups.swift")
}

/// Move process `pid` into the container's cgroup: write its pid, as decimal text, to
/// `cgroup.procs` in each of `directories` (one on v2, one per hierarchy on v1).
/// `writeControlFile(_:_:)` writes a kernel control file in one write.
public func joinCgroup(_ directories: [String], pid: pid_t) throws {
    // TODO: one write per directory.
    throw NotDoneYet(chapter: 4, file: "exercises/04-cgroups/Cgroups.swift")
}
