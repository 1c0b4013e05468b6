import CLinux
import Glibc

/// mount(2) flags.
public struct MountFlags: OptionSet, Sendable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }

    public static let readOnly = MountFlags(rawValue: UInt(CL_MS_RDONLY))
    public static let noSuid = MountFlags(rawValue: UInt(CL_MS_NOSUID))
    public static let noDev = MountFlags(rawValue: UInt(CL_MS_NODEV))
    public static let noExec = MountFlags(rawValue: UInt(CL_MS_NOEXEC))
    public static let remount = MountFlags(rawValue: UInt(CL_MS_REMOUNT))
    public static let bind = MountFlags(rawValue: UInt(CL_MS_BIND))
    public static let move = MountFlags(rawValue: UInt(CL_MS_MOVE))
    public static let recursive = MountFlags(rawValue: UInt(CL_MS_REC))
    public static let `private` = MountFlags(rawValue: UInt(CL_MS_PRIVATE))
    public static let slave = MountFlags(rawValue: UInt(CL_MS_SLAVE))
    public static let shared = MountFlags(rawValue: UInt(CL_MS_SHARED))
}

/// mount(2). `source` and `type` may be nil for a bind, remount or propagation change.
public func mount(
    source: String?, target: String, type: String?, flags: MountFlags, data: String? = nil
) throws(SyscallError) {
    if Glibc.mount(source, target, type, flags.rawValue, data) == -1 {
        let code = errno
        throw SyscallError(
            "mount", path: "\(source ?? "none") on \(target)\(type.map { ", type \($0)" } ?? "")",
            errno: code, hint: mountHint(code, target: target))
    }
}

private func mountHint(_ code: Int32, target: String) -> String? {
    switch code {
    case ENOENT: return "the mount point \(target) does not exist"
    case EPERM: return "mounting needs CAP_SYS_ADMIN in the mount namespace's owning user namespace"
    case ENODEV: return "the kernel does not know this filesystem type"
    default: return nil
    }
}

/// umount2(2). `detach` (MNT_DETACH) unmounts lazily: the mount disappears from the
/// tree at once, and is freed when nothing uses it any more.
public func unmount(_ target: String, detach: Bool = false) throws(SyscallError) {
    try check("umount2", path: target, Glibc.umount2(target, detach ? CL_MNT_DETACH : 0))
}

/// pivot_root(2): make `newRoot` the root of this mount namespace and move the old
/// root to `putOld`, which must be at or under `newRoot`.
public func pivotRoot(_ newRoot: String, putOld: String) throws(SyscallError) {
    if cl_pivot_root(newRoot, putOld) == -1 {
        let code = errno
        let hint: String?
        switch code {
        case EBUSY:
            // Linux checks "is new_root on the same mount as /" before "is new_root a
            // mount point", so a plain directory on the root filesystem gets EBUSY.
            hint = "the new root is on the same mount as the current / — make it a mount point of its own: bind-mount it onto itself first"
        case EINVAL:
            hint =
                "the new root must be a mount point (bind-mount it onto itself first), not on a shared mount (make / private first), and put_old must be at or under it"
        default:
            hint = nil
        }
        throw SyscallError("pivot_root", path: "\(newRoot), \(putOld)", errno: code, hint: hint)
    }
}

/// A mount point or source as /proc/self/mountinfo writes it, its escapes undone: the
/// kernel writes a space, tab, newline and backslash in a path as \040, \011, \012 and
/// \134 (fs/proc_namespace.c), since the file's fields are separated by spaces.
public func unescapedMountPath(_ field: some StringProtocol) -> String {
    guard field.contains("\\") else { return String(field) }
    var bytes: [UInt8] = []
    let source = Array(field.utf8)
    var index = 0
    while index < source.count {
        if source[index] == UInt8(ascii: "\\"), index + 3 < source.count,
            let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
        {
            bytes.append(value)
            index += 4
        } else {
            bytes.append(source[index])
            index += 1
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}
