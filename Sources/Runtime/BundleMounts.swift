import Glibc
import Syscalls

// Chapter 10 — a bundle's `mounts`, as runtime-spec asks: every entry mounted, in the
// order the config lists them, with its flags, its propagation and its filesystem's
// own options. Chapter 6's volumes are Docker's three kinds; a bundle may name any
// filesystem, and the tool above (Podman, containerd) relies on the order: a /dev
// tmpfs first, then /dev/pts and /dev/shm on it.
//
// They are mounted in the child, in its own mount namespace, before the pivot (runc's
// order too: a bind's source is a host path, out of reach once the host's tree is
// gone). The destinations follow chapter 6's rule: looked up with openat2
// RESOLVE_IN_ROOT from the rootfs, mounted on the descriptor — never on a path that a
// link in the image could send onto the host, or that could be swapped between the
// check and the mount (CVE-2021-30465).

/// MS_* flags MountFlags has no name for (linux/mount.h).
private enum MS {
    static let synchronous = MountFlags(rawValue: 16)
    static let mandatoryLock = MountFlags(rawValue: 64)
    static let directorySync = MountFlags(rawValue: 128)
    static let noSymlinkFollow = MountFlags(rawValue: 256)
    static let noAccessTime = MountFlags(rawValue: 1024)
    static let noDirectoryAccessTime = MountFlags(rawValue: 2048)
    static let silent = MountFlags(rawValue: 32768)
    static let unbindable = MountFlags(rawValue: 1 << 17)
    static let relativeAccessTime = MountFlags(rawValue: 1 << 21)
    static let inodeVersion = MountFlags(rawValue: 1 << 23)
    static let strictAccessTime = MountFlags(rawValue: 1 << 24)
    static let lazyTime = MountFlags(rawValue: 1 << 25)
}

/// mount(8)'s words for flags: each sets its flag, or (the `no`-less or `rw` form)
/// clears it. A later word wins, as mount(8) reads them.
private let flagOptions: [String: (set: Bool, flag: MountFlags)] = [
    "defaults": (true, []),
    "ro": (true, .readOnly), "rw": (false, .readOnly),
    "nosuid": (true, .noSuid), "suid": (false, .noSuid),
    "nodev": (true, .noDev), "dev": (false, .noDev),
    "noexec": (true, .noExec), "exec": (false, .noExec),
    "sync": (true, MS.synchronous), "async": (false, MS.synchronous),
    "dirsync": (true, MS.directorySync),
    "mand": (true, MS.mandatoryLock), "nomand": (false, MS.mandatoryLock),
    "noatime": (true, MS.noAccessTime), "atime": (false, MS.noAccessTime),
    "nodiratime": (true, MS.noDirectoryAccessTime), "diratime": (false, MS.noDirectoryAccessTime),
    "relatime": (true, MS.relativeAccessTime), "norelatime": (false, MS.relativeAccessTime),
    "strictatime": (true, MS.strictAccessTime), "nostrictatime": (false, MS.strictAccessTime),
    "lazytime": (true, MS.lazyTime), "nolazytime": (false, MS.lazyTime),
    "iversion": (true, MS.inodeVersion), "noiversion": (false, MS.inodeVersion),
    "silent": (true, MS.silent), "loud": (false, MS.silent),
    "nosymfollow": (true, MS.noSymlinkFollow), "symfollow": (false, MS.noSymlinkFollow),
    "bind": (true, .bind), "rbind": (true, [.bind, .recursive]),
]

/// The propagation words: each is a mount(2) call of its own (the kernel takes a
/// propagation change only alone, with nothing but MS_REC beside it).
private let propagationOptions: [String: MountFlags] = [
    "private": .private, "rprivate": [.private, .recursive],
    "shared": .shared, "rshared": [.shared, .recursive],
    "slave": .slave, "rslave": [.slave, .recursive],
    "unbindable": MS.unbindable, "runbindable": [MS.unbindable, .recursive],
]

/// The recursive forms (runtime-spec 1.1): mount_setattr(2) with AT_RECURSIVE on the
/// mount and every mount under it, as MOUNT_ATTR_* bits to set and to clear. The
/// access-time modes are one field (MOUNT_ATTR__ATIME, 0x70): setting one clears it
/// whole first, as the kernel requires.
private let recursiveOptions: [String: (set: UInt64, clear: UInt64)] = [
    "rro": (0x1, 0), "rrw": (0, 0x1), "rnosuid": (0x2, 0), "rsuid": (0, 0x2), "rnodev": (0x4, 0), "rdev": (0, 0x4),
    "rnoexec": (0x8, 0), "rexec": (0, 0x8), "rnodiratime": (0x80, 0), "rdiratime": (0, 0x80),
    "rnosymfollow": (0x20_0000, 0), "rsymfollow": (0, 0x20_0000),
    "rrelatime": (0, 0x70), "rnoatime": (0x10, 0x70), "rstrictatime": (0x20, 0x70),
]

/// `features`' mountOptions: the words a bundle's mounts may use, beside a
/// filesystem's own key=value options.
public let ociMountOptions: [String] = (Array(flagOptions.keys) + Array(propagationOptions.keys) + Array(recursiveOptions.keys) + ["tmpcopyup"])
    .sorted()

/// Words that are a filesystem's own options, not flags: passed in mount(2)'s data.
private let dataWords: Set<String> = ["newinstance", "inode64", "inode32", "noswap"]

/// runc's list of files under /proc a bundle may bind over (lxcfs gives a container
/// its own view of them); anything else under /proc is refused.
private let procBindTargets: Set<String> = [
    "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime", "/proc/loadavg",
    "/proc/slabinfo", "/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
]

/// One of a bundle's `mounts`, read: what mount(2) is called with, then the
/// propagation changes that follow it.
public struct OCIMount: Sendable, Equatable {
    public enum Kind: String, Sendable { case bind, tmpfs, proc, sysfs, devpts, mqueue, cgroup }

    /// `mounts[N]`, for errors.
    public var place: String
    public var kind: Kind
    /// A bind's host path (absolute); for the others the name mountinfo shows
    /// ("tmpfs", "shm", "proc").
    public var source: String
    /// Absolute and cleaned.
    public var destination: String
    /// The filesystem type as the config names it (`cgroup2`, `tmpfs`).
    public var type: String
    /// MS_BIND (and MS_REC for rbind), MS_RDONLY, MS_NOSUID, … as mount(8)'s words set them.
    public var flags: MountFlags
    /// MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE (each maybe with MS_REC), in
    /// the order given.
    public var propagation: [MountFlags]
    /// The filesystem's own options (`mode=755`, `size=65536k`, `newinstance`).
    public var data: [String]
    /// `tmpcopyup` (runc's and crun's extension, which Podman sends with every
    /// tmpfs): the tmpfs starts with a copy of what the image has at the destination.
    public var copyUp = false
    /// The recursive options' MOUNT_ATTR_* bits, set after the mount on its whole tree.
    public var recursiveSet: UInt64 = 0
    public var recursiveClear: UInt64 = 0

    /// Whether `propagation` holds an unbindable change.
    var isUnbindable: Bool { propagation.contains { $0.contains(MS.unbindable) } }

    /// `mounts[index]` read and checked; `invalid` makes the error naming the property.
    public static func read(
        index: Int, type: String?, source: String?, destination: String, options: [String], bundle: String,
        invalid: (String) -> ContainerError
    ) throws(ContainerError) -> OCIMount {
        let place = "mounts[\(index)]"
        let isBind = type == "bind" || options.contains("bind") || options.contains("rbind")
        let kind: Kind
        if isBind {
            kind = .bind
        } else if type == "cgroup2" {
            kind = .cgroup
        } else if let type, let known = Kind(rawValue: type) {
            kind = known
        } else {
            throw invalid(
                "\(place).type: \(type.map(ContainerSpec.quoted) ?? "missing") on \(destination) is not a filesystem scratch mounts — it mounts bind, tmpfs, proc, sysfs, devpts, mqueue and cgroup entries (a bind needs type \"bind\" or the option bind or rbind)"
            )
        }
        var mount = OCIMount(
            place: place, kind: kind, source: "", destination: cleanedPath(destination), type: type ?? "bind", flags: [], propagation: [],
            data: [])
        // A bind without the option is the plain (not recursive) MS_BIND.
        if kind == .bind { mount.flags = .bind }
        for (number, option) in options.enumerated() {
            if let (set, flag) = flagOptions[option] {
                if set { mount.flags.formUnion(flag) } else { mount.flags.subtract(flag) }
            } else if let change = propagationOptions[option] {
                mount.propagation.append(change)
            } else if let (set, clear) = recursiveOptions[option] {
                // A later word wins, as with the flags.
                mount.recursiveSet = (mount.recursiveSet & ~clear) | set
                mount.recursiveClear = (mount.recursiveClear & ~set) | clear
            } else if option == "tmpcopyup" && kind == .tmpfs {
                mount.copyUp = true
            } else if option.contains("=") || dataWords.contains(option) {
                mount.data.append(option)
            } else if option.hasPrefix("r"), flagOptions[String(option.dropFirst())] != nil {
                throw invalid(
                    "\(place).options[\(number)]: \(ContainerSpec.quoted(option)) is not supported by scratch — of the recursive forms it takes \(recursiveOptions.keys.sorted().joined(separator: ", "))"
                )
            } else {
                throw invalid(
                    "\(place).options[\(number)]: unknown option \(ContainerSpec.quoted(option)) — mount(8)'s flags (ro, nosuid, nodev, noexec, relatime, …), bind or rbind, a propagation (shared, slave, private, unbindable, or their r- forms), or the filesystem's own key=value"
                )
            }
        }
        if mount.flags.contains(.bind) && kind != .bind { mount.kind = .bind }
        switch mount.kind {
        case .bind:
            guard let source, !source.isEmpty else {
                throw invalid("\(place).source: missing — a bind mount needs the host path to mount")
            }
            // Relative to the bundle, as runc reads it.
            mount.source = source.hasPrefix("/") ? source : bundle + "/" + source
            var info = stat()
            if stat(mount.source, &info) != 0 {
                throw invalid(
                    "\(place).source: \(mount.source): \(Errno.describe(errno)) — a bind's source must exist (scratch never makes it: a typo would become an empty directory)"
                )
            }
            // The kernel ignores mount(2)'s data for a bind (runtime-tools' own tests
            // send tmpfs's mode= and size= with binds): dropped, not an error.
            mount.data = []
        default:
            mount.source = (source?.isEmpty ?? true) ? mount.type : source ?? mount.type
        }
        if mount.destination == "/" {
            throw invalid("\(place).destination: / — the rootfs is root.path; a mount goes on a directory or file inside it")
        }
        // /proc holds the kernel's knobs: a procfs goes on /proc and nowhere else, and
        // nothing else goes on or under it but runc's lxcfs files (a bind there could
        // hide what chapter 7 masks or make a writable /proc/sys; CVE-2019-19921 was a
        // volume racing onto /proc).
        let underProc = mount.destination.hasPrefix("/proc/")
        if mount.kind == .proc && mount.destination != "/proc" {
            throw invalid("\(place).destination: a proc mount goes on /proc, not \(mount.destination)")
        }
        if mount.destination == "/proc" && mount.kind != .proc {
            throw invalid("\(place).destination: /proc takes a proc mount only (here a \(mount.kind.rawValue) one)")
        }
        if underProc && !(mount.kind == .bind && procBindTargets.contains(mount.destination)) {
            throw invalid(
                "\(place).destination: \(mount.destination) is inside /proc — only binds over \(procBindTargets.sorted().joined(separator: ", ")) may go there"
            )
        }
        return mount
    }
}

/// The list as a whole: what scratch mounts itself must not hide an entry. A bundle
/// that lists no /proc, /dev or /sys gets scratch's own (chapter 3's, after the
/// pivot, as `scratch spec`'s empty list expects) — those would cover an entry under
/// them.
public func checkBundleMounts(_ mounts: [OCIMount], invalid: (String) -> ContainerError) throws(ContainerError) {
    let listed = Set(mounts.map(\.destination))
    let proc = mounts.firstIndex { $0.destination == "/proc" }
    for (index, mount) in mounts.enumerated() {
        for top in ["/proc", "/dev", "/sys"] where mount.destination.hasPrefix(top + "/") && !listed.contains(top) {
            throw invalid(
                "\(mount.place).destination: \(mount.destination) is under \(top), which the config does not list: scratch then mounts its own \(top) after the bundle's mounts, over it — add a \(top) entry before it"
            )
        }
        if let proc, index < proc, mount.destination.hasPrefix("/proc/") {
            throw invalid("\(mount.place).destination: \(mount.destination) comes before mounts[\(proc)], the /proc it goes in")
        }
    }
}

// MARK: - In the child: the mounts (before the pivot)

/// Every entry, in the config's order, inside `rootfs`. In the child, in its own mount
/// namespace, after the overlay and before the pivot.
func mountBundleMounts(_ mounts: [OCIMount], rootfs: String, cgroup: Cgroup?, hostCgroupNamespace: Bool) throws {
    let root = try openPath(rootfs)
    for mount in mounts {
        do {
            try mountBundleEntry(mount, root: root, cgroup: cgroup, hostCgroupNamespace: hostCgroupNamespace)
        } catch {
            // EINVAL from mount(2) is the kernel refusing a flag or one of the
            // filesystem's own options: say which words to look at.
            let refused =
                (error as? SyscallError)?.errno == EINVAL
                ? " — check \(mount.place).options (the filesystem's own key=value options go to the kernel as they are)" : ""
            throw ContainerError(
                step: "mount \(mount.place)",
                reason:
                    "\(mount.type) \(mount.source) on \(mount.destination)\(mount.data.isEmpty ? "" : " (\(mount.data.joined(separator: ",")))"): \(error)\(refused)"
            )
        }
    }
}

private func mountBundleEntry(_ entry: OCIMount, root: borrowing FileDescriptor, cgroup: Cgroup?, hostCgroupNamespace: Bool) throws {
    // A file is mounted on a file, anything else on a directory.
    let isDirectory = entry.kind != .bind || fileKind(entry.source) == .directory
    let place = try mountPoint(entry.destination, in: root, directory: isDirectory)
    // The /proc rule again on where the destination led: a link in the image
    // (`/m -> /proc`) must not take a mount into /proc that its path would not (runc
    // checks the resolved path too).
    let top = try symlinkTarget(descriptorPath(root))
    let resolved = try symlinkTarget(descriptorPath(place))
    if resolved.hasPrefix(top + "/proc/") || (resolved == top + "/proc" && entry.kind != .proc) {
        let inside = String(resolved.dropFirst(top.count))
        if inside != entry.destination || !(entry.kind == .bind && procBindTargets.contains(inside)) {
            throw SyscallError(
                "mount", path: entry.destination, errno: EPERM,
                hint: "it leads to \(inside) in the rootfs, inside /proc, where only a proc mount and binds over runc's lxcfs files go")
        }
    }
    switch entry.kind {
    case .bind:
        try mount(source: entry.source, target: descriptorPath(place), type: nil, flags: entry.flags.intersection([.bind, .recursive]))
        // The mount just made, looked up again: `place` is the directory under it.
        let mounted = try openInRoot(root, entry.destination)
        // A new bind takes none of the flags beside MS_BIND and MS_REC (the kernel
        // copies the source's): ro, nosuid, … need a remount of the bind, and a
        // remount without MS_BIND would change the source's filesystem, the host's.
        let extra = entry.flags.subtracting([.bind, .recursive])
        if !extra.isEmpty { try remountBind(mounted, flags: extra) }
        // The remount reaches the top mount only: a host mount under an rbind's source
        // would stay writable. mount_setattr(2) makes the whole tree read-only (5.12+).
        if entry.flags.isSuperset(of: [.readOnly, .recursive]) { _ = try makeMountTreeReadOnly(mounted) }
        try setPropagation(entry, mounted)
    case .cgroup:
        try mountCgroupEntry(entry, place: place, root: root, cgroup: cgroup, hostNamespace: hostCgroupNamespace)
        try setPropagation(entry, try openInRoot(root, entry.destination))
    default:
        // tmpcopyup: the image's directory, opened before the tmpfs hides it (a
        // descriptor keeps reaching what was there), inheritable for cp.
        let image = entry.copyUp ? try openInRoot(root, entry.destination, inheritable: true) : nil
        let data = entry.data.joined(separator: ",")
        do {
            // A read-only tmpfs to fill is made read-only once filled.
            let flags = image != nil ? entry.flags.subtracting(.readOnly) : entry.flags
            try mount(source: entry.source, target: descriptorPath(place), type: entry.type, flags: flags, data: data.isEmpty ? nil : data)
        } catch  where entry.kind == .sysfs && error.errno == EPERM && inUserNamespace() {
            // Chapter 8: a user namespace may mount sysfs only with a network namespace
            // of its own; the host's /sys is bound instead, as runc and rootless Podman do.
            try mount(source: "/sys", target: descriptorPath(place), type: nil, flags: [.bind, .recursive])
            if entry.flags.contains(.readOnly) { _ = try makeMountTreeReadOnly(try openInRoot(root, entry.destination)) }
        } catch {
            throw error
        }
        if let image {
            let mounted = try openInRoot(root, entry.destination, inheritable: true)
            try copyUp(from: image, to: mounted, entry: entry)
            if entry.flags.contains(.readOnly) {
                try mount(source: nil, target: descriptorPath(mounted), type: nil, flags: entry.flags.union(.remount))
            }
        }
        try setPropagation(entry, try openInRoot(root, entry.destination))
    }
}

/// tmpcopyup: `cp -a` from the directory under the tmpfs into it. Nothing of the
/// container runs yet and the tmpfs is ours alone, so nothing can plant a link for cp
/// to write through (VolumeSeed.swift's worry); cp -a copies links as links, never
/// following one onto the host. A read-only tmpfs is filled before its remount.
private func copyUp(from image: borrowing FileDescriptor, to mounted: borrowing FileDescriptor, entry: OCIMount) throws {
    let (status, output) = try runProgram(
        ["cp", "-a", "--", descriptorPath(image) + "/.", descriptorPath(mounted) + "/"], withStandardError: true)
    guard status == .exited(0) else {
        throw SyscallError(
            "cp -a", path: "the image's \(entry.destination) into its tmpfs", errno: EIO,
            hint: String(decoding: output, as: UTF8.self).split(separator: "\n").joined(separator: "; "))
    }
    // cp -a gave the tmpfs's top the image directory's bits over the tmpfs's own
    // (1777, or mode=): the config's mode= wins, else the image's mode, sticky bit
    // and all, as the directory was before the tmpfs covered it.
    var info = stat()
    try check("fstat", path: descriptorPath(image), fstat(image.raw, &info))
    let given = entry.data.first { $0.hasPrefix("mode=") }.flatMap { mode_t($0.dropFirst(5), radix: 8) }
    try check("chmod", path: descriptorPath(mounted), chmod(descriptorPath(mounted), given ?? (info.st_mode & 0o7777)))
}

/// `mount -o remount,bind,FLAGS`. In a user namespace the flags the host's mount
/// came with are locked (EPERM when a remount would drop one): kept, as runc does.
private func remountBind(_ mounted: borrowing FileDescriptor, flags: MountFlags) throws {
    do {
        try mount(source: nil, target: descriptorPath(mounted), type: nil, flags: flags.union([.remount, .bind]))
    } catch  where error.errno == EPERM {
        let locked = try lockedMountFlags(mounted)
        try mount(source: nil, target: descriptorPath(mounted), type: nil, flags: flags.union(locked).union([.remount, .bind]))
    } catch {
        throw error
    }
}

/// The entry's propagation, one mount(2) call per word: the kernel refuses
/// MS_SHARED & co. beside any flag but MS_REC, so it is never part of the mount
/// itself. Every mount in the namespace was made private first (chapter 3): `shared`
/// starts a peer group of the container's own, `slave` of a private mount is private.
/// Unbindable waits until after the pivot (`setDeferredPropagation`).
private func setPropagation(_ entry: OCIMount, _ mounted: borrowing FileDescriptor) throws {
    // The recursive options first: they are flags, set on the tree as it stands.
    if entry.recursiveSet != 0 || entry.recursiveClear != 0 {
        try setMountTreeAttributes(mounted, set: entry.recursiveSet, clear: entry.recursiveClear)
    }
    guard !entry.isUnbindable else { return }
    for change in entry.propagation {
        try mount(source: nil, target: descriptorPath(mounted), type: nil, flags: change)
    }
}

/// After the pivot: the propagation of the entries that make a mount unbindable. The
/// pivot binds the rootfs onto itself recursively (pivot_root needs a mount point),
/// and a recursive bind leaves unbindable mounts out — that is what unbindable means.
/// Set before, they would vanish from the container. "/" is the rootfs now, so the
/// lookup cannot leave it.
func setDeferredPropagation(_ mounts: [OCIMount]) throws {
    let root = try openPath("/")
    for entry in mounts where entry.isUnbindable {
        do {
            let mounted = try openInRoot(root, entry.destination)
            for change in entry.propagation {
                try mount(source: nil, target: descriptorPath(mounted), type: nil, flags: change)
            }
        } catch {
            throw ContainerError(step: "set \(entry.place)'s propagation", reason: "\(entry.destination): \(error)")
        }
    }
}

/// A bundle's cgroup entry: the container's own groups, never the host's tree. With a
/// cgroup namespace of its own a fresh cgroup mount shows the namespace's root, the
/// container's group (chapter 7's `mountCgroupTree` does the same after the pivot).
/// In the host's cgroup namespace a fresh mount would show the whole host, so each
/// hierarchy's group directory is bound instead, as runc does.
private func mountCgroupEntry(
    _ entry: OCIMount, place: borrowing FileDescriptor, root: borrowing FileDescriptor, cgroup: Cgroup?, hostNamespace: Bool
) throws {
    guard let cgroup else {
        throw SyscallError("mount", path: entry.destination, errno: ENOENT, hint: "the container has no cgroup to show there")
    }
    let flags = entry.flags.subtracting([.bind, .recursive])
    let bindGroups = hostNamespace || inUserNamespace()
    switch cgroup.mode {
    case .v2:
        if bindGroups {
            guard let group = cgroup.directories.first else { return }
            try mount(source: group, target: descriptorPath(place), type: nil, flags: .bind)
            try remountBind(try openInRoot(root, entry.destination), flags: flags)
        } else {
            try mount(source: "cgroup", target: descriptorPath(place), type: "cgroup2", flags: flags)
        }
    case .v1:
        try mount(source: "tmpfs", target: descriptorPath(place), type: "tmpfs", flags: [.noSuid, .noDev, .noExec], data: "mode=755,size=64k")
        let top = try openInRoot(root, entry.destination)
        for hierarchy in cgroup.hierarchies {
            let name = hierarchy.controllers.sorted().joined(separator: ",")
            try makeDirectory(in: top, name, mode: 0o555)
            let directory = try openInRoot(root, entry.destination + "/" + name)
            if bindGroups {
                try mount(source: hierarchy.groupDirectory(cgroup.id), target: descriptorPath(directory), type: nil, flags: .bind)
                try remountBind(try openInRoot(root, entry.destination + "/" + name), flags: flags)
            } else {
                // The same controllers as the host's mount: the kernel finds that
                // hierarchy and shows it from this namespace's root.
                try mount(source: "cgroup", target: descriptorPath(directory), type: "cgroup", flags: flags, data: name)
            }
            for controller in hierarchy.controllers where controller != name {
                if symlinkat(name, top.raw, controller) == -1 { throw SyscallError("symlinkat", path: entry.destination + "/" + controller) }
            }
        }
        if flags.contains(.readOnly) {
            try mount(source: nil, target: descriptorPath(top), type: nil, flags: [.remount, .readOnly, .noSuid, .noDev, .noExec])
        }
    }
}
