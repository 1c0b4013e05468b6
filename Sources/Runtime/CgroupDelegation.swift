import Glibc
import Syscalls

// Chapter 8 — cgroups without root: a delegated cgroup v2 subtree.
//
// The host's cgroups are root's. On cgroup v2 an administrator (systemd, with
// `Delegate=yes` on user@UID.service) may hand a subtree to a user: chown the group's
// directory and its cgroup.procs, cgroup.subtree_control and cgroup.threads. The user
// may then make groups below it, move their own processes between them and set limits
// there — never above it, nor on v1, whose trees have no such boundary. The kernel's
// rule for moving a process (cgroup-v2.rst, "Delegation Containment"): the writer needs
// write access to cgroup.procs of the common ancestor of the process's group and the
// target group. So the container's group goes under a delegated group that holds the
// caller's own: `<delegated>/scratch/<id>`, as crun does with its cgroupfs manager.
//
// Which group: $SCRATCH_CGROUP_PARENT when set, else the nearest ancestor of the
// caller's own group (from /proc/self/cgroup) that the user owns and that hands down
// the controllers the limits need (its cgroup.subtree_control). The caller's own group
// holds the caller, so by the no-internal-processes rule it never hands any down.

/// Where a rootless container's cgroup may go, or why it may not go anywhere.
enum CgroupDelegation: Equatable {
    /// The delegated group, and the container controllers its subtree_control enables.
    case delegated(parent: String, controllers: [String])
    case refused(String)
}

/// Finds the delegated group for a rootless container needing `needed` controllers.
func delegatedCgroup(needing needed: [String], root: String = cgroupRoot) -> CgroupDelegation {
    guard (try? detectCgroupMode()) == .v2 || root != cgroupRoot else {
        return .refused(
            "this host's controllers are on cgroup v1 (\(root) is not cgroup2), and v1 has no delegation a user can use safely")
    }
    let uid = getuid()
    guard let own = ownCgroupPath() else { return .refused("/proc/self/cgroup names no cgroup v2 group for this process") }
    let ownDirectory = root + (own == "/" ? "" : own)
    var candidates: [String] = []
    let explicit = environmentValue("SCRATCH_CGROUP_PARENT").flatMap { $0.isEmpty ? nil : $0 }
    if let explicit {
        // A path in the tree (as /proc/self/cgroup writes it) or under its mount.
        var path = explicit.hasPrefix(root + "/") ? explicit : root + (explicit.hasPrefix("/") ? "" : "/") + explicit
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        candidates = [path]
    } else {
        var path = ownDirectory
        while path.hasPrefix(root + "/") {
            candidates.append(path)
            path = parentDirectory(of: path)
        }
    }
    var nearest: String?
    for candidate in candidates {
        var info = stat()
        guard lstat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            if explicit != nil { return .refused("SCRATCH_CGROUP_PARENT=\(explicit ?? "") names \(candidate), which is not a cgroup directory") }
            continue
        }
        guard info.st_uid == uid else {
            if explicit != nil {
                return .refused(
                    "SCRATCH_CGROUP_PARENT names \(candidate), which belongs to uid \(info.st_uid), not to uid \(uid): it is not delegated")
            }
            break  // Above the delegation boundary: nothing higher is ours either.
        }
        let enabled = words(readControlFile(candidate + "/cgroup.subtree_control") ?? "")
        let missing = needed.filter { !enabled.contains($0) }
        if !missing.isEmpty {
            nearest = nearest ?? "\(candidate) is the user's, but its cgroup.subtree_control lacks \(missing.joined(separator: ", "))"
            if explicit != nil { return .refused(nearest ?? "") }
            continue
        }
        guard access(candidate + "/cgroup.procs", W_OK) == 0 else {
            nearest = nearest ?? "\(candidate)/cgroup.procs is not writable by uid \(uid)"
            if explicit != nil { return .refused(nearest ?? "") }
            continue
        }
        // The move into the container's group is decided at the common ancestor.
        guard ownDirectory == candidate || ownDirectory.hasPrefix(candidate + "/") else {
            return .refused(
                "this process's group \(ownDirectory) is not inside \(candidate): the kernel lets a user move a process only within a subtree the user owns"
            )
        }
        return .delegated(parent: candidate, controllers: containerControllers.filter { enabled.contains($0) })
    }
    return .refused(
        nearest
            ?? "no group from this process's own (\(ownDirectory)) upward is owned by uid \(uid) (systemd delegates user@\(uid).service's subtree: start from it, e.g. `systemd-run --user --scope`, or set SCRATCH_CGROUP_PARENT to a delegated group)"
    )
}

/// This process's cgroup v2 path (the `0::` line of /proc/self/cgroup).
func ownCgroupPath() -> String? {
    guard let text = readControlFile("/proc/self/cgroup") else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("0::") { return String(line.dropFirst(3)) }
    return nil
}

/// The container's group under a delegated one: `<parent>/scratch/<id>`, with the
/// controllers the parent hands down. Its parent's subtree_control is only read: the
/// user may not change what the administrator delegated.
func delegatedCgroupLayout(named id: String, parent: String, controllers: [String]) -> Cgroup {
    Cgroup(mode: .v2, id: id, hierarchies: [CgroupHierarchy(mount: parent, controllers: controllers)])
}

extension ResourceLimits {
    /// The cgroup v2 controllers these limits need.
    var controllers: [String] {
        (memoryBytes == nil ? [] : ["memory"]) + (pids == nil ? [] : ["pids"]) + (cpus == nil ? [] : ["cpu"])
    }
}

private func words(_ text: String) -> [String] {
    text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
}
