import Glibc
import Runtime
import Syscalls

// Chapter 3 — a root of its own. Each is the reference with one mistake.

/// The classic sequence, without chdir("/") at the end: the working directory stays
/// in the host's tree, and relative paths reach it.
struct Ch3NoChdir: RootFilesystemSteps {
    func pivotToRootfs(_ rootfs: String) throws {
        try mount(source: rootfs, target: rootfs, type: nil, flags: [.bind, .recursive])
        let putOld = rootfs + "/.oldroot"
        if fileKind(putOld) == nil { try makeDirectory(putOld, mode: 0o700) }
        try pivotRoot(rootfs, putOld: putOld)
        try unmount("/.oldroot", detach: true)
        try removeDirectory("/.oldroot")
    }
    func mountProc() throws { try Reference().mountProc() }
}

/// No bind mount first: the rootfs is not a mount point, and pivot_root refuses
/// (EBUSY on this kernel, EINVAL on others).
struct Ch3NoBindMount: RootFilesystemSteps {
    func pivotToRootfs(_ rootfs: String) throws {
        try changeDirectory(rootfs)
        try pivotRoot(".", putOld: ".")
        try unmount(".", detach: true)
        try changeDirectory("/")
    }
    func mountProc() throws { try Reference().mountProc() }
}

/// mountProc left out: /proc is an empty directory.
struct Ch3NoProc: RootFilesystemSteps {
    func pivotToRootfs(_ rootfs: String) throws { try Reference().pivotToRootfs(rootfs) }
    func mountProc() throws {
        if fileKind("/proc") == nil { try makeDirectory("/proc", mode: 0o555) }
    }
}

/// pivot_root with a put_old, never unmounted: the host's tree is at /.oldroot.
struct Ch3OldRootStillMounted: RootFilesystemSteps {
    func pivotToRootfs(_ rootfs: String) throws {
        try mount(source: rootfs, target: rootfs, type: nil, flags: [.bind, .recursive])
        let putOld = rootfs + "/.oldroot"
        if fileKind(putOld) == nil { try makeDirectory(putOld, mode: 0o700) }
        try pivotRoot(rootfs, putOld: putOld)
        try changeDirectory("/")
    }
    func mountProc() throws { try Reference().mountProc() }
}

/// umount without MNT_DETACH: the old root has mounts under it, so EBUSY.
struct Ch3UnmountWithoutDetach: RootFilesystemSteps {
    func pivotToRootfs(_ rootfs: String) throws {
        try mount(source: rootfs, target: rootfs, type: nil, flags: [.bind, .recursive])
        try changeDirectory(rootfs)
        try pivotRoot(".", putOld: ".")
        try unmount(".", detach: false)
        try changeDirectory("/")
    }
    func mountProc() throws { try Reference().mountProc() }
}

/// chroot for pivot_root: `/` moves, the host's tree stays mounted beneath.
struct Ch3ChrootInsteadOfPivot: RootFilesystemSteps {
    func pivotToRootfs(_ rootfs: String) throws { try chrootToRootfs(rootfs) }
    func mountProc() throws { try Reference().mountProc() }
}
