import Glibc
import Runtime
import Syscalls

// Chapter 4 — cgroups. Each is the reference with one mistake.

/// rmdir once: a group whose last process is still leaving answers EBUSY, and the
/// mistake throws instead of trying again.
struct Ch4NoRetryOnEBUSY: CgroupSteps {
    func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) -> [CgroupFile] {
        Reference().cgroupFiles(for: limits, mode: mode)
    }
    func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws {
        try Reference().makeCgroup(groups, mode: mode, controllers: controllers)
    }
    func joinCgroup(_ directories: [String], pid: pid_t) throws { try Reference().joinCgroup(directories, pid: pid) }
    func removeCgroup(_ groups: [String]) throws {
        for group in groups {
            do {
                try removeDirectory(group)
            } catch {
                if error.errno != ENOENT { throw error }
            }
        }
        for group in groups { try? removeDirectory(parentDirectory(of: group)) }
    }
}

/// getpid() for the child's pid: the runtime moves itself into the group.
struct Ch4JoinsRuntimeItself: CgroupSteps {
    func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) -> [CgroupFile] {
        Reference().cgroupFiles(for: limits, mode: mode)
    }
    func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws {
        try Reference().makeCgroup(groups, mode: mode, controllers: controllers)
    }
    func joinCgroup(_ directories: [String], pid: pid_t) throws {
        for directory in directories { try writeControlFile(directory + "/cgroup.procs", String(getpid())) }
    }
    func removeCgroup(_ groups: [String]) throws { try Reference().removeCgroup(groups) }
}

/// No control file at all: the group exists, nothing limits it.
struct Ch4NoLimitFiles: CgroupSteps {
    func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) -> [CgroupFile] { [] }
    func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws {
        try Reference().makeCgroup(groups, mode: mode, controllers: controllers)
    }
    func joinCgroup(_ directories: [String], pid: pid_t) throws { try Reference().joinCgroup(directories, pid: pid) }
    func removeCgroup(_ groups: [String]) throws { try Reference().removeCgroup(groups) }
}

/// The memory limit in MiB where the kernel wants bytes: 32m becomes 32 bytes.
struct Ch4MemoryInMebibytes: CgroupSteps {
    func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) -> [CgroupFile] {
        Reference().cgroupFiles(for: limits, mode: mode).map { file in
            guard file.controller == "memory", let bytes = UInt64(file.value) else { return file }
            return CgroupFile(file.name, String(bytes >> 20))
        }
    }
    func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws {
        try Reference().makeCgroup(groups, mode: mode, controllers: controllers)
    }
    func joinCgroup(_ directories: [String], pid: pid_t) throws { try Reference().joinCgroup(directories, pid: pid) }
    func removeCgroup(_ groups: [String]) throws { try Reference().removeCgroup(groups) }
}

/// Quota and period the wrong way round: 0.2 CPUs becomes 5.
struct Ch4CPUQuotaAndPeriodSwapped: CgroupSteps {
    func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) -> [CgroupFile] {
        Reference().cgroupFiles(for: limits, mode: mode).map { file in
            switch file.name {
            case "cpu.max":
                let parts = file.value.split(separator: " ")
                return parts.count == 2 ? CgroupFile(file.name, "\(parts[1]) \(parts[0])") : file
            case "cpu.cfs_period_us":
                return CgroupFile(file.name, limits.cpuQuotaMicroseconds.map { String($0) } ?? file.value)
            case "cpu.cfs_quota_us":
                return CgroupFile(file.name, String(ResourceLimits.cpuPeriodMicroseconds))
            default:
                return file
            }
        }
    }
    func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws {
        try Reference().makeCgroup(groups, mode: mode, controllers: controllers)
    }
    func joinCgroup(_ directories: [String], pid: pid_t) throws { try Reference().joinCgroup(directories, pid: pid) }
    func removeCgroup(_ groups: [String]) throws { try Reference().removeCgroup(groups) }
}

/// The group is made and never joined: the container runs in the runtime's groups.
struct Ch4JoinsNothing: CgroupSteps {
    func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) -> [CgroupFile] {
        Reference().cgroupFiles(for: limits, mode: mode)
    }
    func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws {
        try Reference().makeCgroup(groups, mode: mode, controllers: controllers)
    }
    func joinCgroup(_ directories: [String], pid: pid_t) throws {}
    func removeCgroup(_ groups: [String]) throws { try Reference().removeCgroup(groups) }
}

/// Never removes the group.
struct Ch4RemovesNothing: CgroupSteps {
    func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) -> [CgroupFile] {
        Reference().cgroupFiles(for: limits, mode: mode)
    }
    func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws {
        try Reference().makeCgroup(groups, mode: mode, controllers: controllers)
    }
    func joinCgroup(_ directories: [String], pid: pid_t) throws { try Reference().joinCgroup(directories, pid: pid) }
    func removeCgroup(_ groups: [String]) throws {}
}
