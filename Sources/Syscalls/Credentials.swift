import CLinux
import Glibc

// Who a process is: its user, its group and its supplementary groups. The argument
// goes into the error only when the call failed: these run on every container's start.

/// setgroups(2): the supplementary groups, all of them at once (an empty list drops
/// every one the process had).
public func setSupplementaryGroups(_ groups: [gid_t]) throws(SyscallError) {
    let result = groups.withUnsafeBufferPointer { setgroups($0.count, $0.baseAddress) }
    if result == -1 { throw SyscallError("setgroups", path: groups.map { String($0) }.joined(separator: ",")) }
}

/// setgid(2): the real, effective and saved group id (as root).
public func setGroupID(_ gid: gid_t) throws(SyscallError) {
    if setgid(gid) == -1 { throw SyscallError("setgid", path: String(gid)) }
}

/// setuid(2): the real, effective and saved user id (as root). There is no way back.
public func setUserID(_ uid: uid_t) throws(SyscallError) {
    if setuid(uid) == -1 { throw SyscallError("setuid", path: String(uid)) }
}

/// prctl(PR_SET_DUMPABLE, 1 or 0). A process that changed its user is made undumpable,
/// and its /proc/PID files then belong to root: a user namespace's maps there (chapter 8)
/// could no longer be written by the user it now is — `setDumpable(true)` gives them
/// back. `setDumpable(false)` takes them away on purpose (`scratch exec`).
public func setDumpable(_ dumpable: Bool = true) throws(SyscallError) {
    if cl_set_dumpable(dumpable ? 1 : 0) == -1 { throw SyscallError("prctl(PR_SET_DUMPABLE, \(dumpable ? 1 : 0))") }
}
