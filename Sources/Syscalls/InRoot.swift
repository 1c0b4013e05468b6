import CLinux
import Glibc

// Paths inside a rootfs, looked up from the host's side (chapter 6's volumes).
//
// A rootfs is the image's, and the image is not ours: any directory in it may be a
// symbolic link to `/etc` or `../../..`. Followed by the host's own lookup, such a
// link leads out of the rootfs onto the host. openat2(2) with RESOLVE_IN_ROOT makes
// the kernel treat a descriptor of the rootfs as `/` for one lookup: absolute links
// and `..` stop at it, as they would for a process chrooted there.

/// open(2) with O_PATH: a handle on a place in the tree, to look up from or to mount
/// on, which reads nothing and needs no permission on the file itself.
public func openPath(_ path: String, directory: Bool = true) throws(SyscallError) -> FileDescriptor {
    let fd = open(path, CL_O_PATH | O_CLOEXEC | (directory ? O_DIRECTORY : 0))
    try check("open", path: path, fd)
    return FileDescriptor(owning: fd)
}

/// openat2(2) with RESOLVE_IN_ROOT: `path` looked up as if `root` were `/`, every
/// symbolic link on the way included. O_PATH, close-on-exec unless `inheritable`.
public func openInRoot(_ root: borrowing FileDescriptor, _ path: String, inheritable: Bool = false) throws(SyscallError) -> FileDescriptor {
    let flags = CL_O_PATH | (inheritable ? 0 : O_CLOEXEC)
    let fd = retryingOnInterrupt {
        cl_openat2(root.raw, path, flags, UInt64(CL_RESOLVE_IN_ROOT | CL_RESOLVE_NO_MAGICLINKS))
    }
    if fd == -1 {
        let code = errno
        let hint = code == ENOSYS ? "openat2(2) needs Linux 5.6 or later" : nil
        throw SyscallError("openat2", path: "\(path) in the rootfs", errno: code, hint: hint)
    }
    return FileDescriptor(owning: fd)
}

/// mkdirat(2): `name` (one component) in the directory `parent`. An existing one is
/// fine: the caller looks it up again, in the root.
public func makeDirectory(in parent: borrowing FileDescriptor, _ name: String, mode: mode_t = 0o755) throws(SyscallError) {
    if mkdirat(parent.raw, name, mode) == -1 && errno != EEXIST { throw SyscallError("mkdirat", path: name) }
}

/// An empty file `name` in `parent`, never through a symlink (O_NOFOLLOW, O_EXCL): a
/// file bind mount's mount point. An existing one is left as it is.
public func makeEmptyFile(in parent: borrowing FileDescriptor, _ name: String, mode: mode_t = 0o644) throws(SyscallError) {
    let fd = openat(parent.raw, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
    if fd == -1 {
        if errno == EEXIST { return }
        throw SyscallError("openat", path: name)
    }
    _ = close(fd)
}

/// readlinkat(2): where the symbolic link `name` in `parent` points, or nil when
/// `name` is not a symbolic link.
public func symlinkTarget(in parent: borrowing FileDescriptor, _ name: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 4097)
    let count = readlinkat(parent.raw, name, &buffer, 4096)
    if count < 0 { return nil }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The path through which mount(2) reaches what `descriptor` holds: the kernel
/// resolves /proc/self/fd/N to that very file, not to a name that could be swapped.
public func descriptorPath(_ descriptor: borrowing FileDescriptor) -> String {
    "/proc/self/fd/\(descriptor.raw)"
}

/// The flags of the mount `descriptor` is on that a read-only remount must keep:
/// nosuid, nodev, noexec. In a user namespace (chapter 8) they are locked, and a
/// remount that drops them fails with EPERM; outside one, dropping them would quietly
/// loosen the mount.
public func lockedMountFlags(_ descriptor: borrowing FileDescriptor) throws(SyscallError) -> MountFlags {
    let flags = cl_mount_flags(descriptor.raw)
    try check("fstatvfs", path: descriptorPath(descriptor), flags)
    var result: MountFlags = []
    if UInt(flags) & UInt(CL_ST_NOSUID) != 0 { result.insert(.noSuid) }
    if UInt(flags) & UInt(CL_ST_NODEV) != 0 { result.insert(.noDev) }
    if UInt(flags) & UInt(CL_ST_NOEXEC) != 0 { result.insert(.noExec) }
    return result
}

/// mount_setattr(2) with AT_RECURSIVE: the mount `descriptor` is the root of, and every
/// mount below it, read-only. False (nothing changed) on a kernel before 5.12, which
/// lacks the call.
/// mount_setattr(2) with AT_RECURSIVE: the MOUNT_ATTR_* bits `set` set and `clear`
/// cleared on the mount `descriptor` is the root of and every mount below it.
public func setMountTreeAttributes(_ descriptor: borrowing FileDescriptor, set: UInt64, clear: UInt64) throws(SyscallError) {
    if cl_set_mount_tree_attributes(descriptor.raw, set, clear) == 0 { return }
    throw SyscallError(
        "mount_setattr", path: "\(descriptorPath(descriptor)), AT_RECURSIVE",
        hint: errno == ENOSYS ? "recursive mount attributes need Linux 5.12" : nil)
}

public func makeMountTreeReadOnly(_ descriptor: borrowing FileDescriptor) throws(SyscallError) -> Bool {
    if cl_make_mount_tree_read_only(descriptor.raw) == 0 { return true }
    if errno == ENOSYS { return false }
    throw SyscallError("mount_setattr", path: "\(descriptorPath(descriptor)), MOUNT_ATTR_RDONLY, AT_RECURSIVE")
}
