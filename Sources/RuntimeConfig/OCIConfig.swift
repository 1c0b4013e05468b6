// An OCI runtime-spec config.json, as plain data (opencontainers/runtime-spec,
// config.md and config-linux.md): what `scratch run --config` reads and `scratch spec`
// writes. Data first; what the runtime does with it is in RuntimeConfig.swift.
//
// Every property the spec defines that a runtime of this chapter does not do yet is
// decoded as `Present`, so that setting it is an error naming it, not a silent no-op:
// a config that asks for a seccomp filter and gets none must not look as if it worked.
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
        // Known, not done yet.
        public var namespaces: Present?
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
