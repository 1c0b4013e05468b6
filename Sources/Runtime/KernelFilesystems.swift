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
public func mountDev() throws {
    try makeDirectory("/dev")
    try mount(source: "tmpfs", target: "/dev", type: "tmpfs", flags: [.noSuid], data: "mode=755,size=65536k")
    let devices: [(name: String, major: UInt32, minor: UInt32)] = [
        ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
        ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
    ]
    for device in devices {
        let path = "/dev/" + device.name
        // makedev() for small numbers: major in bits 8-19, minor in bits 0-7.
        let number = dev_t((device.major << 8) | device.minor)
        if mknod(path, S_IFCHR | 0o666, number) == -1 { throw SyscallError("mknod", path: path) }
        // The umask (022) trimmed the mode mknod was given; everyone may use these.
        if chmod(path, 0o666) == -1 { throw SyscallError("chmod", path: path) }
    }
    let links = [
        ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
        ("pts/ptmx", "/dev/ptmx"),
    ]
    for (target, path) in links { try makeSymlink(target: target, at: path) }
    // A devpts of our own ("newinstance"): the container's ptys are numbered from 0
    // and the host's terminals are not in it.
    try makeDirectory("/dev/pts")
    try mount(
        source: "devpts", target: "/dev/pts", type: "devpts", flags: [.noSuid, .noExec],
        data: "newinstance,ptmxmode=0666,mode=0620")
    try makeDirectory("/dev/shm", mode: 0o1777)
    try mount(
        source: "shm", target: "/dev/shm", type: "tmpfs", flags: [.noSuid, .noDev, .noExec],
        data: "mode=1777,size=65536k")
}

/// sysfs, read-only. It describes the host's hardware and kernel knobs; a container
/// may read it (some programs look up CPUs there) but must not write to it.
public func mountSys() throws {
    try makeDirectory("/sys", mode: 0o555)
    try mount(source: "sysfs", target: "/sys", type: "sysfs", flags: [.readOnly, .noSuid, .noDev, .noExec])
}

/// Checks, after the pivot, that the rootfs's /proc, /dev and /sys are plain
/// directories the kernel's filesystems can be mounted on, and makes those missing.
///
/// mount(2) follows symlinks in its target. A rootfs whose /proc is a symlink to /etc
/// would have procfs mounted over its own /etc; one whose /dev points at / would get
/// device nodes in its top directory. Before the pivot, such a link could lead onto
/// the host: runc refuses a symlinked /proc since CVE-2019-19921. We refuse them all,
/// naming the one at fault.
func checkKernelMountPoints(readOnly: Bool) throws {
    for path in ["/proc", "/dev", "/sys"] {
        switch fileKind(path, followLinks: false) {
        case .directory?:
            continue
        case nil:
            do {
                try makeDirectory(path, mode: 0o555)
            } catch {
                throw ContainerError(
                    step: "check the rootfs",
                    reason: "the rootfs has no \(path) and it cannot be made (\(error.errnoDescription))"
                        + (readOnly || error.errno == EROFS ? " — a read-only rootfs must have \(path) already" : ""))
            }
        case .symlink?:
            let target = (try? symlinkTarget(path)) ?? "?"
            throw ContainerError(
                step: "check the rootfs",
                reason:
                    "\(path) in the rootfs is a symbolic link (to \(target)): a rootfs's /proc, /dev and /sys must be plain directories, or the kernel's filesystem would be mounted wherever the link points (CVE-2019-19921)"
            )
        default:
            throw ContainerError(
                step: "check the rootfs",
                reason:
                    "\(path) in the rootfs is not a directory: the kernel's filesystem needs an empty directory to be mounted on — remove the file from the rootfs"
            )
        }
    }
}
