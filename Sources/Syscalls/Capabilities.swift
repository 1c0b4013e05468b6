import CLinux
import Glibc

// Chapter 7's capability calls, one wrapper each. A set is a 64-bit mask, bit N for
// capability N (CAP_CHOWN is 0, CAP_SYS_ADMIN 21), as /proc/PID/status prints it.

/// A process's own capability sets, as capget(2) reads them.
public struct CapabilitySets: Sendable, Equatable {
    public var effective: UInt64
    public var permitted: UInt64
    public var inheritable: UInt64
}

/// prctl(PR_CAPBSET_DROP, capability): removes one capability from the bounding set,
/// for good. False when the kernel has no capability of that number (EINVAL): the
/// end of its list. Needs CAP_SETPCAP in the effective set (EPERM without it).
public func dropFromBoundingSet(_ capability: Int) throws(SyscallError) -> Bool {
    if cl_bounding_drop(Int32(capability)) == 0 { return true }
    if errno == EINVAL { return false }
    throw SyscallError(
        "prctl(PR_CAPBSET_DROP, \(capability))",
        hint: errno == EPERM ? "dropping from the bounding set needs CAP_SETPCAP: do it before the user change" : nil)
}

/// capget(2) of this process's effective, permitted and inheritable sets.
public func capabilitySets() throws(SyscallError) -> CapabilitySets {
    var sets = CapabilitySets(effective: 0, permitted: 0, inheritable: 0)
    if cl_capget(&sets.effective, &sets.permitted, &sets.inheritable) == -1 { throw SyscallError("capget") }
    return sets
}

/// capset(2): this process's effective, permitted and inheritable sets. The kernel
/// refuses (EPERM) a permitted set larger than the one the process has, an effective
/// set outside the new permitted one, and an inheritable set beyond what it may pass.
public func setCapabilitySets(effective: UInt64, permitted: UInt64, inheritable: UInt64) throws(SyscallError) {
    if cl_capset(effective, permitted, inheritable) == -1 {
        let permittedNow = (try? capabilitySets())?.permitted
        throw SyscallError(
            "capset(effective \(hex(effective)), permitted \(hex(permitted)), inheritable \(hex(inheritable)))",
            hint: errno == EPERM
                ? "capset may only lower the permitted set, which is \(permittedNow.map(hex) ?? "unknown") now (after a change to a non-root user it is empty)"
                : nil)
    }
}

/// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL): empties the ambient set.
public func clearAmbientCapabilities() throws(SyscallError) {
    if cl_ambient_clear() == -1 { throw SyscallError("prctl(PR_CAP_AMBIENT_CLEAR_ALL)") }
}

/// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability): kept across execve even
/// by a program without file capabilities (when permitted and inheritable hold it).
public func raiseAmbientCapability(_ capability: Int) throws(SyscallError) {
    if cl_ambient_raise(Int32(capability)) == -1 { throw SyscallError("prctl(PR_CAP_AMBIENT_RAISE, \(capability))") }
}

/// prctl(PR_SET_KEEPCAPS, 1): the next setuid(2) from root to another user keeps the
/// permitted set (the effective set is emptied all the same).
public func keepCapabilitiesAcrossSetuid() throws(SyscallError) {
    if cl_set_keep_capabilities() == -1 { throw SyscallError("prctl(PR_SET_KEEPCAPS)") }
}

/// A mask as /proc/PID/status shows it: 16 hex digits.
private func hex(_ bits: UInt64) -> String {
    let digits = String(bits, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}
