import CLinux
import Glibc
import Syscalls

// Chapter 10 — a bundle that lists no mount namespace.
//
// runtime-spec: a namespace the config does not list is the runtime's. For the mount
// namespace that means the container's mounts (its rootfs's /proc, /dev, /sys, its
// volumes) are made in the caller's mount namespace — the host's, usually — where
// every process sees them. Two things must then never happen:
//  - pivot_root(2): it would move the root of every process of the namespace whose
//    root is "/" — every process on the machine — onto the container's rootfs.
//  - a change to "/" (making it private, remounting it read-only): it is the host's.
// So the child binds the rootfs onto itself, makes that one bind private (what is
// mounted under it stays under it: nothing propagates to the host's other mounts),
// mounts everything below it, and chroots into it (runc's path without a mount
// namespace). Its "/" is then that bind: a read-only root or rootfsPropagation acts on
// the bind, never on the host's root. A chroot is not a pivot: the host's tree is
// still there beneath, and a process holding CAP_SYS_CHROOT can climb out of it
// (chapter 3's lab) — a config that shares the host's mount namespace asks for that.
//
// What the container mounted stays in the host's table after it ends. crun leaves it
// there; `create` records it instead (each mount's id and place, read from
// /proc/self/mountinfo before and after the child's setup) and `delete` — or a
// `create` that fails — unmounts it, deepest first, lazily (MNT_DETACH: a process
// still holding a file there does not stop it).

/// One mount made by a container in its caller's mount namespace.
public struct OCIHostMount: Sendable, Equatable {
    /// The kernel's mount id (mountinfo's first field): unique while it is mounted.
    public var id: Int
    /// Where it is mounted, as the host sees it.
    public var path: String

    func encoded() -> String { "\(id) \(path)" }

    static func decoded(_ text: String) -> OCIHostMount? {
        guard let space = text.firstIndex(of: " "), let id = Int(text[..<space]) else { return nil }
        return OCIHostMount(id: id, path: String(text[text.index(after: space)...]))
    }
}

/// The mounts of this process's mount namespace, as /proc/self/mountinfo lists them:
/// id and mount point (its octal escapes — \040 for a space — undone).
func currentMounts() -> [OCIHostMount] {
    guard let text = readControlFile("/proc/self/mountinfo") else { return [] }
    return text.split(separator: "\n").compactMap { line in
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count > 4, let id = Int(fields[0]) else { return nil }
        return OCIHostMount(id: id, path: unescapedMountPath(fields[4]))
    }
}

/// The mounts at or under `rootfs` that were not there before (`before`: the ids of
/// an earlier `currentMounts()`). mountinfo names places by their real path, so the
/// rootfs's is compared in that form (a bundle's `root.path` may be "." or a link).
func mountsMade(under rootfs: String, since before: Set<Int>) -> [OCIHostMount] {
    guard let resolved = realpath(rootfs, nil) else { return [] }
    let root = String(cString: resolved)
    free(resolved)
    return currentMounts().filter { !before.contains($0.id) && ($0.path == root || $0.path.hasPrefix(root == "/" ? "/" : root + "/")) }
}

/// This process's mount namespace, as /proc/self/ns/mnt names it ("mnt:[4026531841]").
func currentMountNamespace() -> String? {
    try? symlinkTarget("/proc/self/ns/mnt")
}

/// Unmounts `mounts` that are still mounted (the same id at the same place), deepest
/// first and, at one place, the newest first; lazily. Returns what could not be.
@discardableResult
func unmountRecorded(_ mounts: [OCIHostMount]) -> [String] {
    let ordered = mounts.sorted { a, b in
        let (depthA, depthB) = (a.path.split(separator: "/").count, b.path.split(separator: "/").count)
        return depthA != depthB ? depthA > depthB : a.id > b.id
    }
    var problems: [String] = []
    for mount in ordered {
        // Unmounting a parent first detaches its children too: check each again.
        guard currentMounts().contains(mount) else { continue }
        if Glibc.umount2(mount.path, CL_MNT_DETACH) == -1 && errno != EINVAL && errno != ENOENT {
            problems.append("\(SyscallError("umount2", path: mount.path))")
        }
    }
    return problems
}

/// `unmountRecorded` in the mount namespace `namespace` (an open /proc/PID/ns/mnt),
/// from a child: setns(2) into a mount namespace changes the caller's root and working
/// directory, which this process keeps.
func unmountRecorded(_ mounts: [OCIHostMount], inNamespace namespace: Int32) -> [String] {
    let child: pid_t
    do { child = try forkProcess() } catch { return ["\(error)"] }
    if child == 0 {
        guard cl_setns(namespace, CloneFlags.newMount.rawValue) == 0 else { exitImmediately(2) }
        exitImmediately(unmountRecorded(mounts).isEmpty ? 0 : 1)
    }
    guard case .exited(0)? = (try? waitpid(child))?.status else {
        return ["could not unmount every mount of the container in its mount namespace (under \(mounts.map(\.path).sorted().first ?? "?"))"]
    }
    return []
}

/// The child's side, before the mounts: the rootfs bound onto itself and made private,
/// so every mount below it stays below it (see the top of this file).
func bindRootfsPrivately(_ rootfs: String) throws {
    // The caller's own root as the rootfs: the bind would be stacked over the caller's
    // "/", and "private" would then reach the caller's root mount, not a copy of ours.
    guard let resolved = realpath(rootfs, nil) else { throw SyscallError("realpath", path: rootfs) }
    let isRoot = String(cString: resolved) == "/"
    free(resolved)
    if isRoot {
        throw ContainerError(
            step: "check the rootfs",
            reason:
                "root.path \(rootfs) is the caller's own / — with no mount namespace of its own the container's mounts would land on the host's root: give the container a mount namespace ({\"type\": \"mount\"}) or a rootfs directory"
        )
    }
    try mount(source: rootfs, target: rootfs, type: nil, flags: [.bind, .recursive])
    try mount(source: nil, target: rootfs, type: nil, flags: [.recursive, .private])
}
