import CLinux
import Glibc
import Syscalls

// Chapter 4 — limits: control groups.
//
// A cgroup is a directory in a special filesystem. Making the directory makes the
// group; writing a pid to its `cgroup.procs` moves that process in (and every child
// it has later starts there too); writing to its control files (`memory.max`,
// `pids.max`, ...) sets the limits the kernel enforces on everyone inside. rmdir(2)
// removes the group once no process is left in it.
//
// Two generations share the idea and differ in layout:
// - cgroup v2 ("unified"): one tree at /sys/fs/cgroup with every controller. A
//   controller works in a group only if its parent lists it in
//   `cgroup.subtree_control`, and a group that hands controllers down may hold no
//   process itself (the no-internal-processes rule): processes live in leaves.
// - cgroup v1: one tree per controller, /sys/fs/cgroup/memory, /sys/fs/cgroup/pids,
//   ... The container gets a directory of the same name in each tree, and its pid is
//   written into each.
//
// The runtime drives both behind the few functions below. Each container's group is
// `scratch/<id>`: one parent for all our containers, a leaf per container.

/// Which cgroup layout the host has.
public enum CgroupMode: Sendable, Equatable, CustomStringConvertible {
    /// One unified tree with every controller (CGROUP2_SUPER_MAGIC at /sys/fs/cgroup).
    case v2
    /// One tree per controller under /sys/fs/cgroup (a tmpfs): v1, or a hybrid whose
    /// controllers all sit on v1.
    case v1

    public var description: String {
        switch self {
        case .v2: return "cgroup v2 (unified)"
        case .v1: return "cgroup v1 (one hierarchy per controller)"
        }
    }
}

/// One control file of the container's cgroup and the value to write there, such as
/// `memory.max` = `33554432`. The part of the name before the dot is the controller
/// it belongs to; on v1, that says which hierarchy holds the file.
public struct CgroupFile: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    /// "memory" for "memory.max".
    public var controller: String { String(name.prefix { $0 != "." }) }

    public var description: String { "\(name) = \(value)" }
}

/// Where cgroup filesystems are mounted.
let cgroupRoot = "/sys/fs/cgroup"
/// The group that holds every container's group.
let cgroupParentName = "scratch"

/// The controllers a container's group gets: what the limits need, and with no limit
/// still these, so the container's usage is counted (and shows) per container.
let containerControllers = ["memory", "pids", "cpu"]

/// Files the kernel offers only when swap accounting is on. Without them a memory
/// limit still holds; the container may just swap beyond it.
let optionalCgroupFiles: Set<String> = ["memory.swap.max", "memory.memsw.limit_in_bytes"]

/// One container's cgroup, in whichever mode the host has.
public struct Cgroup: Sendable {
    public let mode: CgroupMode
    public let id: String
    /// The hierarchies the group lives in: one on v2, one per mounted controller tree
    /// on v1 (cpu and cpuacct share one where they are mounted together).
    let hierarchies: [CgroupHierarchy]

    /// The container's group directory in every hierarchy.
    public var directories: [String] { hierarchies.map { $0.groupDirectory(id) } }

    /// The controllers the group gets (on v2, the ones to enable in its ancestors).
    public var controllers: [String] {
        var all: [String] = []
        for hierarchy in hierarchies { all += hierarchy.controllers.filter { !all.contains($0) } }
        return all
    }

    /// The directory that holds control file `name` (on v1 the hierarchy of its
    /// controller, by the name's prefix).
    func directory(holding name: String) throws(SyscallError) -> String {
        let controller = String(name.prefix { $0 != "." })
        guard let hierarchy = hierarchies.first(where: { mode == .v2 || $0.controllers.contains(controller) }) else {
            throw SyscallError(
                "open", path: name, errno: ENOENT,
                hint: "no \(controller) hierarchy is mounted under \(cgroupRoot) (\(mode))")
        }
        return hierarchy.groupDirectory(id) + "/" + name
    }
}

/// One mounted cgroup tree and the controllers it has.
struct CgroupHierarchy: Sendable {
    /// Where it is mounted: /sys/fs/cgroup (v2) or /sys/fs/cgroup/memory (v1).
    let mount: String
    let controllers: [String]

    var parentDirectory: String { mount + "/" + cgroupParentName }
    /// `scratch/<id>`; chapter 10: a bundle's `linux.cgroupsPath` (`/libpod_parent/libpod-ID`)
    /// is the group's own path from the hierarchy's root.
    func groupDirectory(_ id: String) -> String { id.hasPrefix("/") ? mount + id : parentDirectory + "/" + id }
}

// MARK: the story's functions

/// statfs(2) of /sys/fs/cgroup says which mode the host has.
public func detectCgroupMode() throws -> CgroupMode {
    let magic: Int
    do {
        magic = try filesystemMagic(cgroupRoot)
    } catch {
        throw SyscallError(
            error.call, path: cgroupRoot, errno: error.errno,
            hint: "cgroups need /sys/fs/cgroup mounted (sysfs on /sys, then cgroup2 or a tmpfs of v1 trees)")
    }
    switch magic {
    case cgroup2SuperMagic: return .v2
    case tmpfsMagic: return .v1
    default:
        throw ContainerError(
            step: "find the cgroup mode",
            reason:
                "\(cgroupRoot) is neither cgroup2 nor a tmpfs of v1 hierarchies (statfs magic 0x\(String(magic, radix: 16))) — mount cgroup2 there")
    }
}

// linux/magic.h
let cgroup2SuperMagic = 0x6367_7270
let cgroupSuperMagic = 0x0027_e0eb
let tmpfsMagic = 0x0102_1994

/// Step 2, first half: where the container's group goes in each hierarchy, from the
/// host's mounts and the controllers `files` need. Nothing is made yet: the state
/// directory records these paths before they exist.
func planCgroup(named id: String, mode: CgroupMode, setting files: [CgroupFile]) throws -> Cgroup {
    var needed: [String] = []
    for file in files where !needed.contains(file.controller) { needed.append(file.controller) }
    switch mode {
    case .v2: return try cgroupLayoutV2(named: id, needing: needed)
    case .v1: return try cgroupLayoutV1(named: id, needing: needed)
    }
}

/// Step 2, second half: `steps.cgroups.makeCgroup` makes the group, then `files` are
/// written into it. On any failure, what was made is removed again.
func createCgroup(_ cgroup: Cgroup, setting files: [CgroupFile], steps: Steps) throws {
    do {
        try steps.cgroups.makeCgroup(cgroup.directories, mode: cgroup.mode, controllers: cgroup.controllers)
        if files.contains(where: { $0.controller == "cpuset" }) { try fillCpusetAncestors(cgroup) }
        for file in files { try writeLimit(file, in: cgroup) }
    } catch {
        removeCgroupForSure(cgroup, steps: steps)
        throw error
    }
}

/// Writes one control file of the container's group.
func writeLimit(_ file: CgroupFile, in cgroup: Cgroup) throws(SyscallError) {
    let path = try cgroup.directory(holding: file.name)
    do {
        try writeControlFile(path, file.value)
    } catch  where error.errno == ENOENT && optionalCgroupFiles.contains(file.name) {
        return
    } catch  where error.errno == ENOENT {
        // A typo in the name, or a controller the group does not have: the kernel
        // makes a control file only for the controllers a group has.
        var missing = error
        missing.hint =
            "no control file of that name here: check the name, and that the \(file.controller) controller is enabled for the group"
            + (cgroup.mode == .v2 ? " (v2: listed in the parent's cgroup.subtree_control)" : "")
        throw missing
    }
}

/// Removes the group with `steps.removeCgroup`, then makes sure: whatever is still
/// there (a learner's removeCgroup that missed a hierarchy) is reported and removed
/// by the reference, so that no run leaves a group on the host. Returns what went
/// wrong, for the caller to report.
@discardableResult
func removeCgroupForSure(_ cgroup: Cgroup, steps: Steps) -> String? {
    var problem: String?
    do {
        try steps.cgroups.removeCgroup(cgroup.directories)
    } catch {
        problem = "\(error)"
    }
    let left = cgroup.directories.filter { fileKind($0) != nil }
    if !left.isEmpty {
        try? Reference().removeCgroup(left)
        problem = (problem.map { $0 + "; " } ?? "") + "the group was still there afterwards: " + left.joined(separator: ", ")
    }
    // A `scratch` parent still there that rmdir takes was empty: it should have gone
    // too. (One that other containers use refuses, and rightly stays.)
    let emptyParents = scratchParents(of: cgroup.directories).filter { fileKind($0) != nil && (try? removeDirectory($0)) != nil }
    if !emptyParents.isEmpty {
        problem = (problem.map { $0 + "; " } ?? "") + "the empty parent was still there afterwards: " + emptyParents.joined(separator: ", ")
    }
    // Chapter 10: the levels a relative cgroupsPath made between the group's parent and
    // `scratch` are the runtime's to remove, not the exercise's.
    for group in cgroup.directories { removeEmptyLevels(above: group) }
    return problem
}

/// The `scratch` parents of `groups`, each once (cpu and cpuacct may share a tree).
func scratchParents(of groups: [String]) -> [String] {
    var parents: [String] = []
    for group in groups where !parents.contains(parentDirectory(of: group)) { parents.append(parentDirectory(of: group)) }
    return parents
}

/// rmdir(2) of a cgroup, retried while it is busy. The container's PID 1 has been
/// reaped, but the other processes the kernel killed with it may take a moment to
/// leave the group; until then rmdir says EBUSY.
func removeGroupDirectory(_ directory: String) -> SyscallError? {
    var attempts = 0
    while true {
        do {
            try removeDirectory(directory)
            return nil
        } catch  where error.errno == ENOENT {
            return nil
        } catch  where error.errno == EBUSY && attempts < 200 {
            attempts += 1
            sleepMicroseconds(5_000)
        } catch {
            var error = error
            if error.errno == EBUSY {
                error.hint = "processes are still in the group after a second: see \(directory)/cgroup.procs"
            }
            return error
        }
    }
}

/// For `scratch gc`: groups under every hierarchy's `scratch/` that no state directory
/// records, alive or dead. Every runtime records its group before it makes it
/// (StateDirectory.swift), so such a group was left by something else — an older
/// scratch, a runtime whose state directory was removed by hand. Returns them removed.
func removeUnrecordedGroups(recorded: Set<String>) -> [String] {
    var removed: [String] = []
    let trees = ((try? listDirectory(cgroupRoot)) ?? []).map { cgroupRoot + "/" + $0 + "/" + cgroupParentName }
    for parent in [cgroupRoot + "/" + cgroupParentName] + trees {
        guard let names = try? listDirectory(parent) else { continue }
        for name in names where looksLikeContainerID(name) && !recorded.contains(name) {
            let group = parent + "/" + name
            if fileKind(group, followLinks: false) == .directory {
                removeAbandonedGroup(group)
                if fileKind(group) == nil { removed.append(group) }
            }
        }
        _ = try? removeDirectory(parent)
    }
    return removed
}

/// Twelve hex digits or so (ContainerSpec.newID); control files all have dots or
/// letters past f.
func looksLikeContainerID(_ name: String) -> Bool {
    !name.isEmpty && name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
}

/// How many processes the kernel's OOM killer killed in the group because of its
/// memory limit; nil if it cannot be told.
public func oomKillCount(_ cgroup: Cgroup) -> Int? {
    switch cgroup.mode {
    case .v2:
        // memory.events: "oom_kill N", counted for this group and its descendants.
        guard let path = try? cgroup.directory(holding: "memory.events"),
            let text = readControlFile(path)
        else { return nil }
        return keyedValue("oom_kill", in: text)
    case .v1:
        // memory.oom_control has an oom_kill line since Linux 4.13; before that,
        // memory.failcnt (how often the limit was hit) is the best hint there is.
        guard let path = try? cgroup.directory(holding: "memory.oom_control") else { return nil }
        if let text = readControlFile(path), let kills = keyedValue("oom_kill", in: text) { return kills }
        guard let failures = (try? cgroup.directory(holding: "memory.failcnt")).flatMap(readControlFile) else { return nil }
        return Int(failures.filter { !$0.isWhitespace }).map { $0 > 0 ? 1 : 0 }
    }
}

/// The number after `key` in a flat-keyed file ("oom_kill 1\n").
func keyedValue(_ key: String, in text: String) -> Int? {
    for line in text.split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count == 2 && fields[0] == key { return Int(fields[1]) }
    }
    return nil
}

// MARK: the learner's part (exercises/04-cgroups/Cgroups.swift)

extension Reference: CgroupSteps {
    /// The control files that set `limits`, in the order to write them, for `mode`.
    ///
    /// v2: memory.max and memory.swap.max (0: no swap, or the limit would not be real),
    /// pids.max, cpu.max ("quota period"). v1: memory.limit_in_bytes, then
    /// memory.memsw.limit_in_bytes (memory plus swap, the same: no swap; the kernel wants
    /// it set after the memory limit, as it may never be below it), pids.max,
    /// cpu.cfs_period_us then cpu.cfs_quota_us.
    public func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) -> [CgroupFile] {
        var files: [CgroupFile] = []
        switch mode {
        case .v2:
            if let bytes = limits.memoryBytes {
                files.append(CgroupFile("memory.max", String(bytes)))
                files.append(CgroupFile("memory.swap.max", "0"))
            }
            if let pids = limits.pids { files.append(CgroupFile("pids.max", String(pids))) }
            if let quota = limits.cpuQuotaMicroseconds {
                files.append(CgroupFile("cpu.max", "\(quota) \(ResourceLimits.cpuPeriodMicroseconds)"))
            }
        case .v1:
            if let bytes = limits.memoryBytes {
                files.append(CgroupFile("memory.limit_in_bytes", String(bytes)))
                files.append(CgroupFile("memory.memsw.limit_in_bytes", String(bytes)))
            }
            if let pids = limits.pids { files.append(CgroupFile("pids.max", String(pids))) }
            if let quota = limits.cpuQuotaMicroseconds {
                files.append(CgroupFile("cpu.cfs_period_us", String(ResourceLimits.cpuPeriodMicroseconds)))
                files.append(CgroupFile("cpu.cfs_quota_us", String(quota)))
            }
        }
        return files
    }

    /// Step 4, in the parent: moves process `pid` into the container's group, in every
    /// hierarchy. Its children (everything the container starts) are born there too.
    public func joinCgroup(_ directories: [String], pid: pid_t) throws {
        for directory in directories {
            try writeControlFile(directory + "/cgroup.procs", String(pid))
        }
    }

    /// Makes the container's group: each of `groups` (one per hierarchy) and, if need
    /// be, its parent `scratch`; on v2, with `controllers` enabled in the ancestors
    /// first. Half made, it removes what it made. (The exercise's `makeCgroup`.)
    public func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws {
        var made: [String] = []
        do {
            for group in groups {
                switch mode {
                case .v2: try makeLeafV2(group, controllers: controllers)
                case .v1: try makeGroupDirectory(group)
                }
                made.append(group)
            }
        } catch {
            try? self.removeCgroup(made)
            throw error
        }
    }

    /// Step 7: removes the container's group from every hierarchy, then each `scratch`
    /// parent that no other container uses. Tries everything, then throws the first
    /// error: it runs on every way out. (The exercise's `removeCgroup`.)
    public func removeCgroup(_ groups: [String]) throws {
        var firstError: SyscallError?
        for group in groups {
            if let error = removeGroupDirectory(group), firstError == nil { firstError = error }
        }
        for parent in scratchParents(of: groups) {
            // Other containers' groups keep it busy (EBUSY, ENOTEMPTY): fine, the last
            // one out removes it.
            _ = try? removeDirectory(parent)
        }
        if let firstError { throw firstError }
    }
}

// MARK: chapter 7 — the container's view of its cgroup

/// Mounts the container's own cgroup tree at /sys/fs/cgroup, read-only, as runc and
/// Docker do: programs inside (systemd, JVMs sizing their heap) read their limits
/// there. Runs in the child after it entered its cgroup namespace, so each tree's root
/// is the container's own group: the host's tree above it is not there to see, and
/// read-only, none of its files (cgroup.procs, the limits) can be written.
/// On v1: a small tmpfs holding one mount per hierarchy the container is in (cpu and
/// cpuacct co-mounted as `cpu,cpuacct`, with a link for each name), made read-only last.
/// `root`: the rootfs's path when called before the pivot (chapter 10's user namespace
/// on v1, below).
func mountCgroupTree(_ cgroup: Cgroup, root: String = "") throws {
    let target = root + cgroupRoot
    let readOnly: MountFlags = [.readOnly, .noSuid, .noDev, .noExec]
    switch cgroup.mode {
    case .v2 where inUserNamespace():
        // Chapter 8, rootless in a delegated subtree: a new cgroup2 mount would be a
        // second superblock of the host's one tree for another user namespace, which
        // the kernel refuses (sget_fc: EBUSY). The host's tree is here already, in the
        // /sys bound from the host: its view of the container's own group is bound in
        // its place, read-only, as crun does rootless.
        guard let group = cgroup.directories.first else { return }
        try mount(source: group, target: target, type: nil, flags: [.bind])
        try remountReadOnly(target, adding: [.noSuid, .noDev, .noExec])
    case .v2:
        try mount(source: "cgroup", target: target, type: "cgroup2", flags: readOnly)
    case .v1 where inUserNamespace():
        // Chapter 10, a bundle's user namespace made by root: cgroup v1 cannot be
        // mounted in a user namespace (only cgroup2 may), so each hierarchy's view of
        // the container's group is bound from the host's tree, through descriptors
        // opened before the tmpfs covers it. The child does this before its pivot,
        // while the host's tree is in its mount namespace: after it, a bind from a
        // descriptor of the old root's detached mounts is refused (EINVAL), and a
        // bundle's own sysfs has no cgroup mounts under it.
        var sources: [(name: String, hierarchy: CgroupHierarchy, fd: Int32)] = []
        defer { for source in sources { _ = close(source.fd) } }
        for hierarchy in cgroup.hierarchies {
            let group = hierarchy.groupDirectory(cgroup.id)
            let fd = open(group, CL_O_PATH | O_DIRECTORY | O_CLOEXEC)
            if fd == -1 { throw SyscallError("open", path: group) }
            sources.append((hierarchy.controllers.sorted().joined(separator: ","), hierarchy, fd))
        }
        try mount(source: "tmpfs", target: target, type: "tmpfs", flags: [.noSuid, .noDev, .noExec], data: "mode=755,size=64k")
        for source in sources {
            try makeDirectory(target + "/" + source.name, mode: 0o555)
            try mount(source: "/proc/self/fd/\(source.fd)", target: target + "/" + source.name, type: nil, flags: [.bind])
            try remountReadOnly(target + "/" + source.name, adding: [.noSuid, .noDev, .noExec])
            for controller in source.hierarchy.controllers where controller != source.name {
                try makeSymlink(target: source.name, at: target + "/" + controller)
            }
        }
        try mount(source: nil, target: target, type: nil, flags: [.remount, .readOnly, .noSuid, .noDev, .noExec])
    case .v1:
        try mount(source: "tmpfs", target: target, type: "tmpfs", flags: [.noSuid, .noDev, .noExec], data: "mode=755,size=64k")
        for hierarchy in cgroup.hierarchies {
            let name = hierarchy.controllers.sorted().joined(separator: ",")
            try makeDirectory(target + "/" + name, mode: 0o555)
            // The same controllers as the host's mount: the kernel then finds that
            // hierarchy and shows it (from this namespace's root), it makes no new one.
            try mount(source: "cgroup", target: target + "/" + name, type: "cgroup", flags: readOnly, data: name)
            for controller in hierarchy.controllers where controller != name {
                try makeSymlink(target: name, at: target + "/" + controller)
            }
        }
        try mount(source: nil, target: target, type: nil, flags: [.remount, .readOnly, .noSuid, .noDev, .noExec])
    }
}
