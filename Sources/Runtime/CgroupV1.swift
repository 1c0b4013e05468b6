import Glibc
import Syscalls

// Chapter 4 — cgroup v1: one tree per controller.
//
// Each controller has its own hierarchy, mounted at /sys/fs/cgroup/<controller>
// (cpu and cpuacct are often mounted together as cpu,cpuacct, with symlinks for both
// names). A process sits in one group per hierarchy, so the container gets a
// `scratch/<id>` directory in each tree we use, and its pid is written into each.
// v1 has no subtree_control: every controller of a tree works in every group of it.

/// The v1 trees a container's group goes in: ours to limit (memory, pids, cpu) and
/// cpuacct, which counts the CPU time the group used.
let v1Controllers = ["memory", "pids", "cpu", "cpuacct"]

/// Where `scratch/<id>` goes: one directory in every v1 hierarchy we use. `needed`
/// are the controllers the limits write to: a host without one gets an error.
func cgroupLayoutV1(named id: String, needing needed: [String]) throws -> Cgroup {
    // Chapter 7 adds the devices controller's tree, only for a container that needs it.
    let hierarchies = try v1Hierarchies(among: v1Controllers + needed.filter { !v1Controllers.contains($0) })
    for controller in needed where !hierarchies.contains(where: { $0.controllers.contains(controller) }) {
        throw ContainerError(
            step: "create the cgroup",
            reason:
                "this host has no \(controller) controller: \(cgroupRoot)/\(controller) is not a cgroup v1 mount (\(CgroupMode.v1)) — mount it (mount -t cgroup -o \(controller) cgroup \(cgroupRoot)/\(controller)) or leave out the flag that needs it"
        )
    }
    return Cgroup(mode: .v1, id: id, hierarchies: hierarchies)
}

/// The mounted v1 trees among `v1Controllers`, co-mounted ones once.
func v1Hierarchies(among controllers: [String] = v1Controllers) throws -> [CgroupHierarchy] {
    var hierarchies: [CgroupHierarchy] = []
    var seen: [(device: UInt, inode: UInt)] = []
    for controller in controllers {
        let mount = cgroupRoot + "/" + controller
        // A plain directory here (an unmounted mount point) is not a cgroup tree.
        guard (try? filesystemMagic(mount)) == cgroupSuperMagic, let identity = try? fileIdentity(mount) else { continue }
        if let index = seen.firstIndex(where: { $0 == identity }) {
            let shared = hierarchies[index]
            hierarchies[index] = CgroupHierarchy(mount: shared.mount, controllers: shared.controllers + [controller])
        } else {
            seen.append(identity)
            hierarchies.append(CgroupHierarchy(mount: mount, controllers: [controller]))
        }
    }
    return hierarchies
}

/// mkdir `scratch` (if need be), then `group` (…/scratch/<id>). Another runtime may
/// remove an empty `scratch` between the two (its step 7): then make it again.
func makeGroupDirectory(_ group: String) throws(SyscallError) {
    var attempts = 0
    while true {
        // (All its ancestors: a bundle's cgroupsPath may go deeper than scratch/<id>.)
        try makeDirectories(parentDirectory(of: group))
        do {
            try checkedMakeDirectory(group)
            return
        } catch  where error.errno == ENOENT && attempts < 3 {
            attempts += 1
        }
    }
}

/// mkdir(2) that fails on EEXIST too: a group of this id must be new.
func checkedMakeDirectory(_ path: String) throws(SyscallError) {
    if mkdir(path, 0o755) == -1 {
        let code = errno
        throw SyscallError(
            "mkdir", path: path, errno: code,
            hint: code == EEXIST ? "a cgroup of this container id is already there" : nil)
    }
}

/// Chapter 10: a v1 cpuset group starts with no CPUs and no memory nodes, and no
/// process may join it until both are set — nor may a group list a CPU its parent
/// lacks. So each group from the hierarchy's root down to the container's, where empty,
/// gets its parent's lists (what runc does too) before the config's own are written.
func fillCpusetAncestors(_ cgroup: Cgroup) throws(SyscallError) {
    guard cgroup.mode == .v1, let hierarchy = cgroup.hierarchies.first(where: { $0.controllers.contains("cpuset") }) else { return }
    let group = hierarchy.groupDirectory(cgroup.id)
    var parent = hierarchy.mount
    for part in group.dropFirst(hierarchy.mount.count).split(separator: "/") {
        let path = parent + "/" + part
        for name in ["cpuset.cpus", "cpuset.mems"] {
            let own = readControlFile(path + "/" + name)?.filter { !$0.isWhitespace } ?? ""
            if own.isEmpty, let inherited = readControlFile(parent + "/" + name)?.filter({ !$0.isWhitespace }), !inherited.isEmpty {
                try writeControlFile(path + "/" + name, inherited)
            }
        }
        parent = path
    }
}
