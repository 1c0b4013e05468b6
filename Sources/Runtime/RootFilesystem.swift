import Glibc
import Syscalls

// Chapter 3 — a root of its own: the mount namespace and pivot_root.
//
// chroot(2) only changes where path lookups start for one process; the old root is
// still mounted and reachable by a root process that chroots again and walks up with
// "..". pivot_root(2) changes the root of the whole mount namespace and moves the old
// root to a directory, which we then unmount: after that no path leads to the host.

/// Makes every mount in our (new) namespace private, recursively.
///
/// systemd mounts / as "shared": mounts and unmounts propagate between the namespaces
/// that share it. Without this, our bind mounts would appear on the host, the old
/// root's unmount would travel back, and pivot_root itself refuses a shared root
/// (EINVAL).
public func makeMountsPrivate() throws {
    try mount(source: nil, target: "/", type: nil, flags: [.recursive, .private])
}

extension Reference: RootFilesystemSteps {
    /// Makes `rootfs` the container's `/`, with the host's tree gone from reach.
    ///
    /// Runs in the child, in its new mount namespace, after `makeMountsPrivate`.
    public func pivotToRootfs(_ rootfs: String) throws {
        // pivot_root needs the new root to be a mount point; a plain directory is
        // not. Binding it onto itself makes it one.
        try mount(source: rootfs, target: rootfs, type: nil, flags: [.bind, .recursive])
        // runc's way, from pivot_root(2)'s NOTES: with new_root and put_old both ".",
        // the old root lands stacked on top of the new one, and unmounting "." peels
        // it off. No put_old directory is made in the rootfs, so none is left there
        // when the runtime is killed half-way (the classic dance of the exercise
        // leaves its `.oldroot` behind then), and a read-only rootfs will do.
        try changeDirectory(rootfs)
        try pivotRoot(".", putOld: ".")
        // The old root has submounts (the host's /proc, /sys, ...), so a plain
        // unmount fails with EBUSY whatever we hold open; MNT_DETACH takes the whole
        // tree off at once and frees it when nothing uses it any more.
        try unmount(".", detach: true)
        // Our working directory must not point into the old tree (CVE-2024-21626 was
        // a host directory left as a container's working directory).
        try changeDirectory("/")
    }
}

/// The weak way, for the chapter's breakout lab only: chroot(2) into the rootfs.
/// Everything of the host stays mounted beneath it.
public func chrootToRootfs(_ rootfs: String) throws {
    try changeDirectory(rootfs)
    if chroot(".") == -1 { throw SyscallError("chroot", path: rootfs) }
    try changeDirectory("/")
}

/// With --read-only: remount the (bind-mounted) root read-only. A bind mount takes
/// its own flags only through a remount; the flags given with MS_BIND are ignored.
///
/// In a user namespace (chapter 8) the flags the host's mount had are locked:
/// `remountReadOnly` keeps them.
public func makeRootReadOnly() throws {
    try remountReadOnly("/")
}
