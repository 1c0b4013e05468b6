import Glibc
import Syscalls

// Chapter 4 — cgroup v2: one tree, every controller.
//
// A controller works in a group only when the group's parent has it in
// `cgroup.subtree_control`; the parent may then hold no process of its own (the
// no-internal-processes rule; the root group is the one exception). So we enable
// memory, pids and cpu in the root's and in `scratch`'s subtree_control — the
// ancestors — and never in the container's own leaf, which holds its processes.

/// Where `scratch/<id>` goes in the unified tree, with `needed` controllers (and the
/// rest of memory, pids, cpu that the host has) to enable for it.
/// `root` is where the unified tree is mounted (another place only in tests).
func cgroupLayoutV2(named id: String, needing needed: [String], root: String = cgroupRoot) throws -> Cgroup {
    let rootControllers = try v2Controllers(in: root)
    for controller in needed where !rootControllers.contains(controller) {
        throw ContainerError(
            step: "create the cgroup",
            reason:
                "this host has no \(controller) controller in \(root)/cgroup.controllers (\(CgroupMode.v2)) — it may be bound to a v1 hierarchy, or disabled on the kernel command line (cgroup_disable=)"
        )
    }
    // Chapter 10: a bundle's resources may need more (cpuset, hugetlb): enabled too.
    let controllers = (containerControllers + needed.filter { !containerControllers.contains($0) }).filter { rootControllers.contains($0) }
    return Cgroup(mode: .v2, id: id, hierarchies: [CgroupHierarchy(mount: root, controllers: controllers)])
}

/// Enables `controllers` in the ancestors — the tree's root and `scratch` — then
/// makes the leaf `group` (…/scratch/<id>).
func makeLeafV2(_ group: String, controllers: [String]) throws(SyscallError) {
    let parent = parentDirectory(of: group)
    let root = parentDirectory(of: parent)
    var attempts = 0
    while true {
        do {
            try enableControllers(controllers, in: root)
            try makeDirectory(parent)
            try enableControllers(controllers, in: parent)
            try checkedMakeDirectory(group)
            return
        } catch  where error.errno == ENOENT && attempts < 3 {
            // Another runtime removed the empty `scratch` parent under us: again.
            attempts += 1
        }
    }
}

/// The controllers a v2 group offers its children (its cgroup.controllers).
func v2Controllers(in directory: String) throws(SyscallError) -> [String] {
    let bytes = try readFile(directory + "/cgroup.controllers")
    return String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
}

/// Adds `controllers` to `directory`'s cgroup.subtree_control, in one write, unless
/// they are all there already (the common case after the first container).
func enableControllers(_ controllers: [String], in directory: String) throws(SyscallError) {
    let path = directory + "/cgroup.subtree_control"
    let enabled = String(decoding: try readFile(path), as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
    let missing = controllers.filter { controller in !enabled.contains { $0 == controller } }
    if missing.isEmpty { return }
    do {
        try writeControlFile(path, missing.map { "+" + $0 }.joined(separator: " "))
    } catch {
        var error = error
        if error.errno == EBUSY {
            error.hint =
                "\(directory) holds processes of its own; cgroup v2's no-internal-processes rule lets only a group without processes hand controllers to its children"
        }
        throw error
    }
}
