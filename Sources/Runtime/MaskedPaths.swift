import CLinux
import Glibc
import Syscalls

// Chapter 7 — masked and read-only paths.
//
// /proc and /sys are the host kernel's, seen through the container's namespaces, and
// some of their files are not namespaced at all: /proc/kcore is the host's memory,
// /proc/keys every keyring's names, /proc/sysrq-trigger reboots the machine. runc (and
// so Docker) hides a list of them and makes another read-only; these are its lists.

/// Files and directories hidden from the container: a file gets /dev/null bound over
/// it (it reads empty), a directory an empty read-only tmpfs.
public let maskedPaths = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
]

/// Left visible but read-only: the kernel's knobs (/proc/sys: sysctls, most of them
/// the host's), interrupts, buses, sysrq.
public let readOnlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

/// Masks `maskedPaths` (those this kernel has) with the container's own /dev/null.
///
/// What is bound is checked first, by descriptor: it must be the null character device
/// (1:3). runc's CVE-2025-31133: a container that replaced its /dev/null with a symlink
/// to /proc/sys/kernel/core_pattern had that file bound over "masked" paths instead —
/// made writable where it should have been hidden. We bind the very file we checked
/// (through /proc/self/fd), and check the target once more afterwards.
public func maskPaths(_ paths: [String] = maskedPaths) throws {
    let null = open("/dev/null", CL_O_PATH | O_NOFOLLOW | O_CLOEXEC)
    if null == -1 { throw SyscallError("open", path: "/dev/null") }
    defer { close(null) }
    var info = stat()
    if fstat(null, &info) == -1 { throw SyscallError("fstat", path: "/dev/null") }
    guard isNullDevice(info) else {
        throw ContainerError(
            step: "mask paths", reason: "/dev/null in the container is not the null device (1:3): refusing to bind it over masked paths")
    }
    for path in paths {
        switch fileKind(path, followLinks: false) {
        case nil:
            continue  // This kernel has no such file: nothing to hide.
        case .directory?:
            try mount(source: "tmpfs", target: path, type: "tmpfs", flags: [.readOnly, .noSuid, .noDev, .noExec], data: "size=0")
        default:
            try mount(source: "/proc/self/fd/\(null)", target: path, type: nil, flags: [.bind])
            var bound = stat()
            guard stat(path, &bound) == 0, isNullDevice(bound) else {
                throw ContainerError(step: "mask paths", reason: "\(path) is not the null device after the bind")
            }
        }
    }
}

private func isNullDevice(_ info: stat) -> Bool {
    info.st_mode & S_IFMT == S_IFCHR && info.st_rdev == dev_t(1 << 8 | 3)  // makedev(1, 3)
}

/// Makes `readOnlyPaths` read-only: each bound onto itself, then that bind remounted
/// read-only (a bind mount's flags are its own; the /proc around it stays writable).
public func makePathsReadOnly(_ paths: [String] = readOnlyPaths) throws {
    for path in paths where fileKind(path, followLinks: false) != nil {
        try mount(source: path, target: path, type: nil, flags: [.bind, .recursive])
        try mount(source: nil, target: path, type: nil, flags: [.bind, .remount, .readOnly, .noSuid, .noDev, .noExec])
    }
}
