// An OCI runtime-spec config.json, as plain data (opencontainers/runtime-spec,
// config.md and config-linux.md): what `scratch run --config` reads and `scratch spec`
// writes. Data first; what the runtime does with it is in RuntimeConfig.swift.
//
// Every property the spec defines that a runtime of this chapter does not do yet is
// decoded as `Present`, so that setting it is an error naming it, not a silent no-op:
// a config that asks for a seccomp filter and gets none must not look as if it worked.
// `unsupportedProperties` lists them by hand: Mirror would find them by itself, but
// each of its casts scans the binary's protocol conformances (about 0.3 ms here).
// Properties the spec does not define are ignored, as it requires (extensions).

/// The whole file.
public struct OCIConfig: Codable, Sendable {
    public var ociVersion: String?
    public var process: Process?
    public var root: Root?
    public var hostname: String?
    public var mounts: [Mount]?
    public var linux: Linux?
    // Known, not done yet.
    public var domainname: Present?
    public var hooks: Present?

    public struct Process: Codable, Sendable {
        public var args: [String]?
        public var env: [String]?
        public var cwd: String?
        public var user: User?
        public var terminal: Bool?
        // Known, not done yet (capabilities, seccomp and no_new_privs come in chapter 7).
        public var consoleSize: Present?
        public var capabilities: Present?
        public var rlimits: Present?
        public var noNewPrivileges: Present?
        public var apparmorProfile: Present?
        public var oomScoreAdj: Present?
        public var selinuxLabel: Present?
        public var ioPriority: Present?
        public var scheduler: Present?
        public var execCPUAffinity: Present?
        public var commandLine: Present?
    }

    public struct User: Codable, Sendable {
        // Int64, checked after decoding: the decoder reports a number out of a
        // UInt32's range as "not valid JSON", with no path.
        public var uid: Int64?
        public var gid: Int64?
        public var additionalGids: [Int64]?
        public var umask: Present?
    }

    public struct Root: Codable, Sendable {
        public var path: String?
        public var readonly: Bool?
    }

    /// One entry of `mounts`: parsed into a neutral form (`ConfigMount`); applied once
    /// volumes (bind, tmpfs) are in.
    public struct Mount: Codable, Sendable {
        public var destination: String?
        public var type: String?
        public var source: String?
        public var options: [String]?
    }

    public struct Linux: Codable, Sendable {
        public var resources: Resources?
        /// Read by a bundle (chapter 10); `run --config` takes only `scratchSpecNamespaces`.
        public var namespaces: [Namespace]?
        // Known, not done yet.
        public var uidMappings: Present?
        public var gidMappings: Present?
        public var timeOffsets: Present?
        public var devices: Present?
        public var cgroupsPath: Present?
        public var rootfsPropagation: Present?
        public var seccomp: Present?
        public var sysctl: Present?
        public var maskedPaths: Present?
        public var readonlyPaths: Present?
        public var mountLabel: Present?
        public var personality: Present?
        public var intelRdt: Present?
    }

    public struct Namespace: Codable, Sendable {
        public var type: String?
        public var path: String?
    }

    public struct Resources: Codable, Sendable {
        public var memory: Memory?
        public var cpu: CPU?
        public var pids: Pids?
        // Known, not done yet.
        public var devices: Present?
        public var blockIO: Present?
        public var hugepageLimits: Present?
        public var network: Present?
        public var rdma: Present?
        public var unified: Present?
    }

    public struct Memory: Codable, Sendable {
        public var limit: Int64?
        public var reservation: Present?
        public var swap: Present?
        public var kernel: Present?
        public var kernelTCP: Present?
        public var swappiness: Present?
        public var disableOOMKiller: Present?
        public var useHierarchy: Present?
        public var checkBeforeUpdate: Present?
    }

    public struct CPU: Codable, Sendable {
        public var quota: Int64?
        public var period: UInt64?
        public var shares: Present?
        public var burst: Present?
        public var realtimeRuntime: Present?
        public var realtimePeriod: Present?
        public var cpus: Present?
        public var mems: Present?
        public var idle: Present?
    }

    public struct Pids: Codable, Sendable {
        public var limit: Int64?
    }
}

/// Any JSON value, kept only as "set or not": null, false, 0, "", [] and {} are not set
/// (they ask for nothing); anything else is.
public struct Present: Codable, Sendable {
    public var isSet: Bool

    public init(isSet: Bool) { self.isSet = isSet }

    public init(from decoder: any Decoder) throws {
        if var list = try? decoder.unkeyedContainer() {
            isSet = !list.isAtEnd
            while !list.isAtEnd { _ = try list.decode(Present.self) }
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            isSet = !object.allKeys.isEmpty
            return
        }
        let value = try decoder.singleValueContainer()
        if value.decodeNil() {
            isSet = false
        } else if let flag = try? value.decode(Bool.self) {
            isSet = flag
        } else if let number = try? value.decode(Double.self) {
            isSet = number != 0
        } else {
            isSet = !(try value.decode(String.self)).isEmpty
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var value = encoder.singleValueContainer()
        try value.encodeNil()
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension OCIConfig {
    /// The JSON paths of the `Present` properties that are set, in the file's order.
    public var unsupportedProperties: [String] {
        var paths: [String] = []
        func note(_ value: Present?, _ path: String) {
            if value?.isSet == true { paths.append(path) }
        }
        if let process {
            note(process.consoleSize, "process.consoleSize")
            note(process.capabilities, "process.capabilities")
            note(process.rlimits, "process.rlimits")
            note(process.noNewPrivileges, "process.noNewPrivileges")
            note(process.apparmorProfile, "process.apparmorProfile")
            note(process.oomScoreAdj, "process.oomScoreAdj")
            note(process.selinuxLabel, "process.selinuxLabel")
            note(process.ioPriority, "process.ioPriority")
            note(process.scheduler, "process.scheduler")
            note(process.execCPUAffinity, "process.execCPUAffinity")
            note(process.commandLine, "process.commandLine")
            note(process.user?.umask, "process.user.umask")
        }
        note(domainname, "domainname")
        note(hooks, "hooks")
        if let linux {
            // `scratch run` makes its own namespaces (chapters 1–9, their flags): a list
            // is taken only when it names what `scratch spec` writes, which is what
            // `run` makes by itself (from chapter 7's stage; before it, without the IPC
            // and cgroup ones).
            if let namespaces = linux.namespaces, !namespaces.isEmpty,
                namespaces.contains(where: { $0.path.map { !$0.isEmpty } ?? false })
                    || Set(namespaces.compactMap(\.type)) != scratchSpecNamespaces || namespaces.count != scratchSpecNamespaces.count
            {
                paths.append("linux.namespaces")
            }
            note(linux.uidMappings, "linux.uidMappings")
            note(linux.gidMappings, "linux.gidMappings")
            note(linux.timeOffsets, "linux.timeOffsets")
            note(linux.devices, "linux.devices")
            note(linux.cgroupsPath, "linux.cgroupsPath")
            note(linux.rootfsPropagation, "linux.rootfsPropagation")
            note(linux.seccomp, "linux.seccomp")
            note(linux.sysctl, "linux.sysctl")
            note(linux.maskedPaths, "linux.maskedPaths")
            note(linux.readonlyPaths, "linux.readonlyPaths")
            note(linux.mountLabel, "linux.mountLabel")
            note(linux.personality, "linux.personality")
            note(linux.intelRdt, "linux.intelRdt")
            if let resources = linux.resources {
                note(resources.devices, "linux.resources.devices")
                note(resources.blockIO, "linux.resources.blockIO")
                note(resources.hugepageLimits, "linux.resources.hugepageLimits")
                note(resources.network, "linux.resources.network")
                note(resources.rdma, "linux.resources.rdma")
                note(resources.unified, "linux.resources.unified")
                if let memory = resources.memory {
                    note(memory.reservation, "linux.resources.memory.reservation")
                    note(memory.swap, "linux.resources.memory.swap")
                    note(memory.kernel, "linux.resources.memory.kernel")
                    note(memory.kernelTCP, "linux.resources.memory.kernelTCP")
                    note(memory.swappiness, "linux.resources.memory.swappiness")
                    note(memory.disableOOMKiller, "linux.resources.memory.disableOOMKiller")
                    note(memory.useHierarchy, "linux.resources.memory.useHierarchy")
                    note(memory.checkBeforeUpdate, "linux.resources.memory.checkBeforeUpdate")
                }
                if let cpu = resources.cpu {
                    note(cpu.shares, "linux.resources.cpu.shares")
                    note(cpu.burst, "linux.resources.cpu.burst")
                    note(cpu.realtimeRuntime, "linux.resources.cpu.realtimeRuntime")
                    note(cpu.realtimePeriod, "linux.resources.cpu.realtimePeriod")
                    note(cpu.cpus, "linux.resources.cpu.cpus")
                    note(cpu.mems, "linux.resources.cpu.mems")
                    note(cpu.idle, "linux.resources.cpu.idle")
                }
            }
        }
        return paths
    }
}

/// The namespaces `scratch spec` lists, a container's own in a bundle made from it:
/// those `scratch run` makes for a container by itself (its network aside, which
/// `--network` chooses).
public let scratchSpecNamespaces: Set<String> = ["pid", "ipc", "uts", "mount", "cgroup"]
