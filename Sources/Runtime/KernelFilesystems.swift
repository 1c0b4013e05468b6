import CLinux
import Glibc
import Syscalls

// Chapter 3 — the kernel's own filesystems inside the container: /proc, /dev, /sys.

extension Reference {
    /// A fresh procfs. A procfs shows the PID namespace of whoever mounted it, so the
    /// host's /proc would list the host's processes (that is why `ps` in chapter 2
    /// still saw them). Mounting a new one after joining the new PID namespace shows
    /// only ours.
    public func mountProc() throws {
        try makeDirectory("/proc", mode: 0o555)
        try mount(source: "proc", target: "/proc", type: "proc", flags: [.noSuid, .noDev, .noExec])
    }
}

/// A small /dev on a tmpfs, with only the devices a program expects to find.
///
/// Binding the host's /dev would hand the container every disk (/dev/sda), and the
/// host's terminals. These six are harmless: they touch no hardware and no host state.
///
/// `root` is "" after the pivot; in a user namespace (chapter 8) this runs before it,
/// on the rootfs's path, because the host's device nodes must still be in reach.
public func mountDev(root: String = "") throws {
    try makeDirectory(root + "/dev")
    try mount(source: "tmpfs", target: root + "/dev", type: "tmpfs", flags: [.noSuid], data: "mode=755,size=65536k")
    try populateDev(root: root)
    // A devpts of our own ("newinstance"): the container's ptys are numbered from 0
    // and the host's terminals are not in it.
    try makeDirectory(root + "/dev/pts")
    try mount(
        source: "devpts", target: root + "/dev/pts", type: "devpts", flags: [.noSuid, .noExec],
        data: "newinstance,ptmxmode=0666,mode=0620")
    try makeDirectory(root + "/dev/shm", mode: 0o1777)
    try mount(
        source: "shm", target: root + "/dev/shm", type: "tmpfs", flags: [.noSuid, .noDev, .noExec],
        data: "mode=1777,size=65536k")
}

/// The six nodes and the links a program expects in /dev. Chapter 10: also in a
/// bundle's own /dev tmpfs, where entries listed before may already have made some
/// (runc's rule: a node or link already there is kept).
func populateDev(root: String = "") throws {
    if inUserNamespace() {
        try bindHostDevices(root: root)
    } else {
        try makeDeviceNodes(root: root)
    }
    let links = [
        ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
        ("pts/ptmx", "/dev/ptmx"),
    ]
    for (target, path) in links { try makeSymlink(target: target, at: root + path) }
}

/// Chapter 10: a bundle's `linux.devices`, made in the container's /dev (after the
/// pivot, as real root: mknod needs CAP_MKNOD in the host's user namespace).
///
/// In a user namespace (`root` is the rootfs's path, before the pivot) a device node is
/// the host's own, bound onto an empty file, as chapter 8's /dev is: the same node
/// must be on the host. Its mode and owner stay the host's (a chmod would change the
/// host's node).
func makeConfigDevices(_ devices: [OCIDevice], root: String = "") throws {
    for device in devices {
        let path = root + device.path
        try makeDirectories(parentDirectory(of: path))
        if !root.isEmpty && device.kind != S_IFIFO {
            try bindHostDevice(device, at: path)
            continue
        }
        // A node already there (one of the six above, listed again) is replaced.
        _ = unlink(path)
        let number = deviceNumber(major: device.major, minor: device.minor)
        if mknod(path, device.kind | device.mode, dev_t(number)) == -1 { throw SyscallError("mknod", path: path) }
        // mknod's mode went through the umask.
        if chmod(path, device.mode) == -1 { throw SyscallError("chmod", path: path) }
        if chown(path, device.uid, device.gid) == -1 { throw SyscallError("chown", path: path) }
    }
}

/// makedev(3) for any size: the major's and minor's low and high bits interleave.
private func deviceNumber(major: UInt64, minor: UInt64) -> UInt64 {
    ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
}

/// One of `linux.devices` in a user namespace: the host's node at the same path, bound.
private func bindHostDevice(_ device: OCIDevice, at path: String) throws {
    var host = stat()
    guard lstat(device.path, &host) == 0, host.st_mode & S_IFMT == device.kind,
        UInt64(host.st_rdev) == deviceNumber(major: device.major, minor: device.minor)
    else {
        throw ContainerError(
            step: "bind linux.devices from the host",
            reason:
                "\(device.path) (\(device.major):\(device.minor)): in a user namespace a device node cannot be made (mknod needs CAP_MKNOD on the host), so the host's own is bound — and the host has no such node at \(device.path)"
        )
    }
    // One of the six bound already (listed again): its bind goes first.
    if fileKind(path, followLinks: false) != nil {
        _ = umount2(path, Int32(MNT_DETACH))
        _ = unlink(path)
    }
    try touchFile(path, mode: 0o666)
    try mount(source: device.path, target: path, type: nil, flags: [.bind])
}

/// The devices a program expects to find: harmless, they touch no hardware.
private let deviceNodes: [(name: String, major: UInt32, minor: UInt32)] = [
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
    ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
]

/// As real root: make the nodes.
private func makeDeviceNodes(root: String) throws {
    for device in deviceNodes {
        let path = root + "/dev/" + device.name
        // makedev() for small numbers: major in bits 8-19, minor in bits 0-7.
        let number = dev_t((device.major << 8) | device.minor)
        if mknod(path, S_IFCHR | 0o666, number) == -1 {
            if errno == EEXIST { continue }
            throw SyscallError("mknod", path: path)
        }
        // The umask (022) trimmed the mode mknod was given; everyone may use these.
        if chmod(path, 0o666) == -1 { throw SyscallError("chmod", path: path) }
    }
}

/// In a user namespace (chapter 8): bind the host's own nodes onto empty files.
///
/// mknod(2) of a device needs CAP_MKNOD in the *host's* user namespace: a device node
/// is a door to a driver, and a user who could make one could make /dev/sda. And a
/// tmpfs mounted in a user namespace is nodev for good (the kernel sets SB_I_NODEV), so
/// even a node made elsewhere would not open there. A bind mount of the host's node is
/// the same door the host gives: opening it still goes through the host's permission
/// bits, as that user. This is what rootless Podman and crun do.
private func bindHostDevices(root: String) throws {
    for device in deviceNodes {
        let path = root + "/dev/" + device.name
        if fileKind(path, followLinks: false) != nil { continue }
        try touchFile(path, mode: 0o666)
        do {
            try mount(source: "/dev/" + device.name, target: path, type: nil, flags: [.bind])
        } catch {
            // No controlling terminal for the runtime: the host's /dev/tty cannot be
            // opened to bind it. Leave the empty file, as crun does.
            if device.name == "tty" && error.errno == ENXIO { continue }
            throw error
        }
    }
}

/// sysfs, read-only. It describes the host's hardware and kernel knobs; a container
/// may read it (some programs look up CPUs there) but must not write to it.
public func mountSys(root: String = "") throws {
    try makeDirectory(root + "/sys", mode: 0o555)
    guard inUserNamespace() else {
        try mount(source: "sysfs", target: root + "/sys", type: "sysfs", flags: [.readOnly, .noSuid, .noDev, .noExec])
        return
    }
    // Chapter 8. The kernel lets a user namespace mount sysfs only with a network
    // namespace of its own (sysfs shows the network devices of the mounter's network
    // namespace, and this one is the host's). So the host's /sys is bound instead, as
    // rootless Podman does without --network: recursively, because its submounts
    // (/sys/fs/cgroup, ...) are locked to it — a user namespace may not uncover what
    // the host mounted over — then made read-only, the whole tree where the kernel
    // can (mount_setattr, 5.12+): the host's cgroup hierarchies below it too.
    try mount(source: "/sys", target: root + "/sys", type: nil, flags: [.bind, .recursive])
    let fd = open(root + "/sys", CL_O_PATH | O_CLOEXEC)
    if fd == -1 { throw SyscallError("open", path: root + "/sys") }
    let sys = FileDescriptor(owning: fd)
    if try !makeMountTreeReadOnly(sys) {
        try remountReadOnly(root + "/sys", adding: [.noSuid, .noDev, .noExec])
    }
}

/// A bind mount made read-only by a remount of its own.
///
/// The remount replaces the mount's flags. In a user namespace those that came with a
/// mount from the host (nosuid, nodev, noexec, atime) are locked: a remount that would
/// drop one fails with EPERM, so the rootless container cannot loosen the host's
/// mount. runc's answer, ours too: on EPERM read the mount's flags with statvfs and
/// try again keeping them.
func remountReadOnly(_ path: String, adding flags: MountFlags = []) throws {
    do {
        try mount(source: nil, target: path, type: nil, flags: flags.union([.remount, .bind, .readOnly]))
    } catch {
        guard error.errno == EPERM else { throw error }
        let fd = open(path, CL_O_PATH | O_CLOEXEC)
        if fd == -1 { throw SyscallError("open", path: path) }
        let descriptor = FileDescriptor(owning: fd)
        let locked = try lockedMountFlags(descriptor)
        try mount(source: nil, target: path, type: nil, flags: flags.union(locked).union([.remount, .bind, .readOnly]))
    }
}

/// Checks, after the pivot, that the rootfs's /proc, /dev and /sys are plain
/// directories the kernel's filesystems can be mounted on, and makes those missing.
///
/// mount(2) follows symlinks in its target. A rootfs whose /proc is a symlink to /etc
/// would have procfs mounted over its own /etc; one whose /dev points at / would get
/// device nodes in its top directory. Before the pivot, such a link could lead onto
/// the host: runc refuses a symlinked /proc since CVE-2019-19921. We refuse them all,
/// naming the one at fault.
func checkKernelMountPoints(readOnly: Bool, root: String = "") throws {
    for name in ["/proc", "/dev", "/sys"] {
        let path = root + name
        switch fileKind(path, followLinks: false) {
        case .directory?:
            continue
        case nil:
            do {
                try makeDirectory(path, mode: 0o555)
            } catch {
                throw ContainerError(
                    step: "check the rootfs",
                    reason: "the rootfs has no \(name) and it cannot be made (\(error.errnoDescription))"
                        + (readOnly || error.errno == EROFS ? " — a read-only rootfs must have \(name) already" : ""))
            }
        case .symlink?:
            let target = (try? symlinkTarget(path)) ?? "?"
            throw ContainerError(
                step: "check the rootfs",
                reason:
                    "\(name) in the rootfs is a symbolic link (to \(target)): a rootfs's /proc, /dev and /sys must be plain directories, or the kernel's filesystem would be mounted wherever the link points (CVE-2019-19921)"
            )
        default:
            throw ContainerError(
                step: "check the rootfs",
                reason:
                    "\(name) in the rootfs is not a directory: the kernel's filesystem needs an empty directory to be mounted on — remove the file from the rootfs"
            )
        }
    }
}
