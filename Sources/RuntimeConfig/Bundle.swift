import FoundationEssentials
import Glibc
import RunOptions
import Runtime
import Syscalls

// Chapter 10 — a bundle: a directory with config.json and the rootfs it names. What
// `scratch run --config` reads (chapter 6) is read the same way; a bundle's config may
// say more, what Podman and containerd send: capabilities, rlimits, no_new_privs, the
// OOM score, hooks, annotations, the namespaces, a seccomp profile. Those are read
// here, from the same bytes, into the spec and its `OCILaunch`.

/// The properties a bundle's config may set that chapter 6's `run --config` refuses.
let bundleProperties: Set<String> = [
    "hooks", "process.user.umask", "process.terminal", "process.consoleSize", "process.capabilities", "process.rlimits", "process.noNewPrivileges",
    "process.oomScoreAdj", "process.selinuxLabel", "linux.mountLabel",
    "linux.namespaces", "linux.uidMappings", "linux.gidMappings", "linux.sysctl", "linux.maskedPaths", "linux.readonlyPaths", "linux.seccomp",
    "linux.cgroupsPath",
    "linux.rootfsPropagation", "linux.resources.devices", "linux.resources.memory.swap", "linux.resources.cpu.shares",
    "linux.resources.cpu.cpus", "linux.devices", "linux.resources.blockIO", "linux.resources.network",
    "linux.resources.memory.reservation", "linux.resources.memory.kernel", "linux.resources.memory.kernelTCP",
    "linux.resources.memory.swappiness", "linux.resources.memory.disableOOMKiller", "linux.resources.cpu.mems", "linux.resources.hugepageLimits",
]

/// The parts of config.json only a bundle reads.
struct BundleConfig: Decodable {
    var annotations: [String: String]?
    var hooks: Hooks?
    var process: Process?
    var linux: Linux?

    struct Hook: Decodable {
        var path: String
        var args: [String]?
        var env: [String]?
        var timeout: Int?
    }

    struct Hooks: Decodable {
        var prestart: [Hook]?
        var createRuntime: [Hook]?
        var createContainer: [Hook]?
        var startContainer: [Hook]?
        var poststart: [Hook]?
        var poststop: [Hook]?
    }

    struct Capabilities: Decodable {
        var bounding: [String]?
        var effective: [String]?
        var permitted: [String]?
        var inheritable: [String]?
        var ambient: [String]?
    }

    struct Rlimit: Decodable {
        var type: String
        var soft: UInt64
        var hard: UInt64
    }

    struct ConsoleSize: Decodable {
        var height: UInt16
        var width: UInt16
    }

    struct User: Decodable {
        var umask: UInt32?
        var uid: Int64?
        var gid: Int64?
        var additionalGids: [Int64]?
    }

    struct Process: Decodable {
        var user: User?
        var terminal: Bool?
        var consoleSize: ConsoleSize?
        var capabilities: Capabilities?
        var rlimits: [Rlimit]?
        var noNewPrivileges: Bool?
        var oomScoreAdj: Int?
        var selinuxLabel: String?
    }

    struct Namespace: Decodable {
        var type: String
        var path: String?
    }

    struct IDMapping: Decodable {
        var containerID: UInt32
        var hostID: UInt32
        var size: UInt32
    }

    struct DeviceRule: Decodable {
        var allow: Bool
        var type: String?
        var major: Int64?
        var minor: Int64?
        var access: String?
    }

    struct Memory: Decodable {
        var limit: Int64?
        var swap: Int64?
        var reservation: Int64?
        var kernel: Int64?
        var kernelTCP: Int64?
        var swappiness: UInt64?
        var disableOOMKiller: Bool?
    }

    struct WeightDevice: Decodable {
        var major: Int64
        var minor: Int64
        var weight: UInt16?
    }

    struct ThrottleDevice: Decodable {
        var major: Int64
        var minor: Int64
        var rate: UInt64
    }

    struct BlockIO: Decodable {
        var weight: UInt16?
        var leafWeight: UInt16?
        var weightDevice: [WeightDevice]?
        var throttleReadBpsDevice: [ThrottleDevice]?
        var throttleWriteBpsDevice: [ThrottleDevice]?
        var throttleReadIOPSDevice: [ThrottleDevice]?
        var throttleWriteIOPSDevice: [ThrottleDevice]?
    }

    struct InterfacePriority: Decodable {
        var name: String
        var priority: UInt32
    }

    struct Network: Decodable {
        var classID: UInt32?
        var priorities: [InterfacePriority]?
    }

    struct CPU: Decodable {
        var shares: UInt64?
        var quota: Int64?
        var period: UInt64?
        var cpus: String?
        var mems: String?
    }

    struct HugepageLimit: Decodable {
        var pageSize: String
        var limit: UInt64
    }

    struct Resources: Decodable {
        var devices: [DeviceRule]?
        var memory: Memory?
        var cpu: CPU?
        var hugepageLimits: [HugepageLimit]?
        var blockIO: BlockIO?
        var network: Network?
    }

    struct Device: Decodable {
        var path: String
        var type: String
        var major: UInt64?
        var minor: UInt64?
        var fileMode: UInt32?
        var uid: UInt32?
        var gid: UInt32?
    }

    struct Linux: Decodable {
        var mountLabel: String?
        var devices: [Device]?
        var maskedPaths: [String]?
        var readonlyPaths: [String]?
        var sysctl: [String: String]?
        var cgroupsPath: String?
        var namespaces: [Namespace]?
        var uidMappings: [IDMapping]?
        var gidMappings: [IDMapping]?
        var seccomp: SeccompProfileFile?
        var rootfsPropagation: String?
        var resources: Resources?
    }
}

/// RLIMIT_* by the name the spec gives (getrlimit(2)).
let rlimitNumbers: [String: Int32] = [
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4, "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
]

/// The container `create` makes from `bundle`: its config read and checked, every
/// error naming the property (exit 125), nothing made yet.
public func loadBundle(
    _ bundle: String, id: String, root: String, consoleSocket: String? = nil, stage: Stage, programName: String
) throws(ContainerError) -> ContainerSpec {
    if let problem = ociIDProblem(id) {
        throw ContainerError(step: "check the request", reason: "invalid id \(ContainerSpec.quoted(id)): \(problem)")
    }
    let directory = absoluteBundlePath(bundle)
    let path = directory + "/config.json"
    guard fileKind(path) == .regular else {
        throw ContainerError(
            step: "read the bundle",
            reason:
                "\(path): no such file — a bundle is a directory holding config.json (`scratch spec --bundle \(bundle)` writes one) and the rootfs it names"
        )
    }
    func invalid(_ reason: String) -> ContainerError { ContainerError(step: "read the config", reason: "\(path): \(reason)") }
    let (loaded, bytes) = try loadConfig(path, handledByBundle: bundleProperties)
    let extra: BundleConfig
    do {
        extra = try JSONDecoder().decode(BundleConfig.self, from: Data(bytes))
    } catch let error as DecodingError {
        throw invalid(describe(error))
    } catch {
        throw invalid("\(error)")
    }
    var request = loaded.request
    // A bundle's CPU quota and period are written as given (below), not turned into
    // `--cpus` and its fixed 100 ms period: a client reads back the period it sent.
    if extra.linux?.resources?.cpu?.quota != nil || extra.linux?.resources?.cpu?.period != nil { request.cpus = nil }
    // A bundle's mounts are not chapter 6's volumes: every entry, any of the kernel
    // filesystems, in order, with its propagation (BundleMounts.swift).
    var mounts: [OCIMount] = []
    for (index, entry) in loaded.mounts.enumerated() {
        mounts.append(
            try OCIMount.read(
                index: index, type: entry.type, source: entry.source, destination: entry.destination, options: entry.options,
                bundle: directory, invalid: invalid))
    }
    try checkBundleMounts(mounts, invalid: invalid)
    if request.rootfs == nil { throw invalid("root.path: missing — the directory holding the container's files, e.g. \"rootfs\"") }
    var spec: ContainerSpec
    do {
        spec = try request.spec(stage: stage, programName: programName)
    } catch let error as ContainerError {
        throw error
    } catch {
        throw ContainerError(step: "check the request", reason: "\(error)")
    }
    spec.id = id
    var launch = OCILaunch(root: root, bundle: directory)
    launch.mounts = mounts
    launch.annotations = (extra.annotations ?? [:]).sorted { $0.key < $1.key }.map { OCIAnnotation(key: $0.key, value: $0.value) }
    if let hooks = extra.hooks {
        func read(_ list: [BundleConfig.Hook]?, _ kind: String) throws(ContainerError) -> [OCIHook] {
            var result: [OCIHook] = []
            for (index, hook) in (list ?? []).enumerated() {
                guard hook.path.hasPrefix("/") else {
                    throw invalid("hooks.\(kind)[\(index)].path: \(ContainerSpec.quoted(hook.path)) — a hook's path must be absolute")
                }
                if let timeout = hook.timeout, timeout <= 0 {
                    throw invalid("hooks.\(kind)[\(index)].timeout: \(timeout) — a number of seconds greater than zero")
                }
                result.append(OCIHook(path: hook.path, args: hook.args ?? [], env: hook.env ?? [], timeout: hook.timeout))
            }
            return result
        }
        launch.hooks.prestart = try read(hooks.prestart, "prestart")
        launch.hooks.createRuntime = try read(hooks.createRuntime, "createRuntime")
        launch.hooks.createContainer = try read(hooks.createContainer, "createContainer")
        launch.hooks.startContainer = try read(hooks.startContainer, "startContainer")
        launch.hooks.poststart = try read(hooks.poststart, "poststart")
        launch.hooks.poststop = try read(hooks.poststop, "poststop")
    }
    // SELinux labels name contexts of a policy; a host without SELinux has none to
    // apply them to, and runc and crun accept them there as nothing to do (Podman
    // sends them whenever its containers.conf labels). A host that runs SELinux would
    // need them set, which scratch does not do: there they are refused.
    for (label, property) in [(extra.linux?.mountLabel, "linux.mountLabel"), (extra.process?.selinuxLabel, "process.selinuxLabel")] {
        if let label, !label.isEmpty, fileKind("/sys/fs/selinux/enforce") != nil {
            throw invalid(
                "\(property): \(ContainerSpec.quoted(label)) — this host runs SELinux, and scratch does not set labels yet (remove it, or use runc or crun)"
            )
        }
    }
    // A terminal, as runc: the pty is the container's, its master goes to the tool
    // above through the console socket; neither without the other.
    let terminal = extra.process?.terminal ?? false
    if terminal && consoleSocket == nil {
        throw invalid("process.terminal: true needs --console-socket PATH, where the pty's master is sent (or set it to false)")
    }
    if !terminal && consoleSocket != nil {
        throw ContainerError(
            step: "check the request",
            reason: "--console-socket: the config's process.terminal is false — no terminal to send; drop the flag or set it true")
    }
    launch.consoleSocket = consoleSocket.map(absoluteBundlePath)
    if let size = extra.process?.consoleSize { launch.consoleSize = (size.height, size.width) }
    if let process = extra.process {
        if let capabilities = process.capabilities {
            // The container keeps, effective and permitted, what the bounding set
            // names (runc's spec lists the same names in each); inheritable and
            // ambient stay empty, as chapter 7's setCapabilities keeps them.
            var set = CapabilitySet(bits: 0)
            for (field, names) in [("bounding", capabilities.bounding), ("permitted", capabilities.permitted), ("effective", capabilities.effective)]
            {
                for (index, name) in (names ?? []).enumerated() {
                    guard let number = capabilityNumber(name) else {
                        throw invalid(
                            "process.capabilities.\(field)[\(index)]: unknown capability \(ContainerSpec.quoted(name)) — capabilities(7) lists them")
                    }
                    set.insert(number)
                }
            }
            // Inheritable and ambient: what passes through execve. Chapter 7 keeps them
            // empty (CVE-2022-24769); a bundle gets what its config lists, as with runc
            // (Podman and containerd list none).
            func mask(_ names: [String]?, _ field: String) throws(ContainerError) -> UInt64 {
                var bits: UInt64 = 0
                for (index, name) in (names ?? []).enumerated() {
                    guard let number = capabilityNumber(name) else {
                        throw invalid(
                            "process.capabilities.\(field)[\(index)]: unknown capability \(ContainerSpec.quoted(name)) — capabilities(7) lists them")
                    }
                    bits |= 1 << UInt64(number)
                }
                return bits
            }
            launch.inheritableCapabilities = try mask(capabilities.inheritable, "inheritable")
            launch.ambientCapabilities = try mask(capabilities.ambient, "ambient")
            if capabilities.permitted != nil { launch.permittedCapabilities = try mask(capabilities.permitted, "permitted") }
            if capabilities.effective != nil { launch.effectiveCapabilities = try mask(capabilities.effective, "effective") }
            spec.capabilities = set
        }
        // Unset is false in runtime-spec (chapter 7's `run` sets it always).
        spec.noNewPrivileges = process.noNewPrivileges ?? false
        if let umask = process.user?.umask {
            guard umask <= 0o777 else { throw invalid("process.user.umask: \(umask) — from 0 to 511 (0777)") }
            launch.umask = mode_t(umask)
        }
        for (index, limit) in (process.rlimits ?? []).enumerated() {
            guard let number = rlimitNumbers[limit.type] else {
                throw invalid(
                    "process.rlimits[\(index)].type: unknown \(ContainerSpec.quoted(limit.type)) — RLIMIT_NOFILE, RLIMIT_NPROC, … (getrlimit(2))")
            }
            guard limit.soft <= limit.hard else {
                throw invalid("process.rlimits[\(index)]: soft \(limit.soft) is above hard \(limit.hard)")
            }
            launch.rlimits.append(OCIRlimit(resource: number, soft: limit.soft, hard: limit.hard))
        }
        if let score = process.oomScoreAdj {
            guard (-1000...1000).contains(score) else { throw invalid("process.oomScoreAdj: \(score) — from -1000 to 1000") }
            launch.oomScoreAdj = score
        }
    }
    if let linux = extra.linux {
        do {
            // As runc reads the list: a namespace listed without a path is new, one with
            // a path is joined, one left out is the caller's — every one, when the config
            // lists none (runtime-spec: "the container MUST inherit the runtime namespace
            // of that type"). `scratch spec` lists the container's own.
            let listed = linux.namespaces ?? []
            var flags: CloneFlags = []
            var seen: Set<String> = []
            for (index, namespace) in listed.enumerated() {
                let place = "linux.namespaces[\(index)]"
                guard seen.insert(namespace.type).inserted else { throw invalid("\(place).type: \(namespace.type) is listed twice") }
                let kinds: [String: CloneFlags] = [
                    "pid": .newPID, "mount": .newMount, "ipc": .newIPC, "uts": .newUTS, "cgroup": .newCgroup, "network": .newNetwork,
                    "user": .newUser,
                ]
                if namespace.type == "time" {
                    throw invalid("\(place): a time namespace is not supported by scratch yet (nor linux.timeOffsets)")
                }
                guard let flag = kinds[namespace.type] else { throw invalid("\(place).type: unknown \(ContainerSpec.quoted(namespace.type))") }
                if let path = namespace.path, !path.isEmpty {
                    // Joining a user namespace would have to come before every other
                    // namespace is made or joined (each is owned by a user namespace,
                    // and setns(2) into it drops the host's capabilities): runc's
                    // nsexec forks twice for it. scratch makes a new one, with maps.
                    guard namespace.type != "user" else {
                        throw invalid(
                            "\(place).path: joining a user namespace is not supported by scratch yet — give linux.uidMappings and linux.gidMappings for a new one"
                        )
                    }
                    guard fileKind(path) != nil else { throw invalid("\(place).path: \(path) does not exist") }
                    launch.joinedNamespaces.append(OCIJoin(type: namespace.type, path: path))
                } else {
                    flags.insert(flag)
                }
            }
            // No mount namespace listed: the container's mounts are made in the caller's,
            // and it chroots (HostMounts.swift). A user namespace could mount nothing
            // there: the caller's mount namespace is owned by the caller's user one.
            let ownMounts = flags.contains(.newMount) || launch.joinedNamespaces.contains { $0.type == "mount" }
            if !ownMounts && flags.contains(.newUser) {
                throw invalid(
                    "linux.namespaces: a user namespace without a mount namespace of its own — it could not mount the container's /proc, /dev and /sys in the caller's (add {\"type\": \"mount\"})"
                )
            }
            // A new network namespace comes up with `lo` up and nothing else, as runc
            // makes it: its other links are the caller's to add (CNI, netavark) by path.
            // Neither new nor joined: the caller's, where nothing is brought up (its lo
            // is not the container's to touch).
            if flags.contains(.newNetwork) {
                spec.network = .none
            } else if !launch.joinedNamespaces.contains(where: { $0.type == "network" }) {
                spec.network = .host
            }
            // The cgroup namespace is the child's own unshare (once in its group).
            spec.hostCgroupNamespace = !flags.contains(.newCgroup)
            flags.remove(.newCgroup)
            launch.namespaces = flags
        }
        // Chapter 8's user namespace, with the ids the config maps (runc's rules: maps
        // need a new user namespace, and a new one needs maps).
        let uidMappings = (linux.uidMappings ?? []).map { OCIIDMapping(containerID: $0.containerID, hostID: $0.hostID, size: $0.size) }
        let gidMappings = (linux.gidMappings ?? []).map { OCIIDMapping(containerID: $0.containerID, hostID: $0.hostID, size: $0.size) }
        let newUserNamespace = launch.namespaces?.contains(.newUser) ?? false
        if !newUserNamespace, !uidMappings.isEmpty || !gidMappings.isEmpty {
            throw invalid(
                "\(uidMappings.isEmpty ? "linux.gidMappings" : "linux.uidMappings"): given, but linux.namespaces lists no user namespace to map — add {\"type\": \"user\"}, or remove the mappings"
            )
        }
        if newUserNamespace {
            if let index = listed(linux.namespaces, "user"), uidMappings.isEmpty || gidMappings.isEmpty {
                throw invalid(
                    "\(uidMappings.isEmpty ? "linux.uidMappings" : "linux.gidMappings"): missing — a new user namespace (linux.namespaces[\(index)]) needs its maps, e.g. [{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536}]"
                )
            }
            if getuid() != 0 {
                throw invalid(
                    "linux.uidMappings: a bundle's maps are written by root — as a user other than root, use `scratch run` (chapter 8 maps your ids with newuidmap)"
                )
            }
            for (property, mappings) in [("linux.uidMappings", uidMappings), ("linux.gidMappings", gidMappings)] {
                if let problem = idMappingProblem(mappings, place: property) { throw invalid(problem) }
                // The runtime's setup runs as the container's root until the user
                // change: with container id 0 unmapped it would be the overflow id,
                // owning nothing it makes (runc refuses the same).
                guard idIsMapped(0, by: mappings) else {
                    throw invalid(
                        "\(property): container id 0 is not mapped — the container's root must stand for a host id (add an entry with \"containerID\": 0)"
                    )
                }
            }
            // setuid(2) and setgid(2) to an id the namespace does not map fail (EINVAL).
            for (field, id, mappings) in [
                ("uid", extra.process?.user?.uid, uidMappings), ("gid", extra.process?.user?.gid, gidMappings),
            ] {
                if let id, id >= 0, id <= Int64(UInt32.max), !idIsMapped(UInt32(id), by: mappings) {
                    throw invalid(
                        "process.user.\(field): \(id) is not mapped by linux.\(field)Mappings — the process could not become it in its user namespace"
                    )
                }
            }
            for (index, gid) in (extra.process?.user?.additionalGids ?? []).enumerated()
            where gid >= 0 && gid <= Int64(UInt32.max) && !idIsMapped(UInt32(gid), by: gidMappings) {
                throw invalid(
                    "process.user.additionalGids[\(index)]: \(gid) is not mapped by linux.gidMappings — setgroups(2) refuses a group its user namespace does not map"
                )
            }
            launch.uidMappings = uidMappings
            launch.gidMappings = gidMappings
        }
        // Only what the container's own namespaces hold, as runc allows: IPC's kernel.msg*,
        // sem, shm*, fs.mqueue.*; net.* with a network namespace of its own; the UTS
        // names with one of those. Anything else would change the host.
        // (A namespace joined by path counts, as runc counts it: it is the container's.)
        var newNamespaces = launch.namespaces ?? [.newIPC, .newUTS]
        let joinedKinds: [String: CloneFlags] = ["network": .newNetwork, "ipc": .newIPC, "uts": .newUTS]
        for join in launch.joinedNamespaces { if let flag = joinedKinds[join.type] { newNamespaces.insert(flag) } }
        for (key, value) in (linux.sysctl ?? [:]).sorted(by: { $0.key < $1.key }) {
            let ipc =
                [
                    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                    "kernel.shm_rmid_forced",
                ].contains(key) || key.hasPrefix("fs.mqueue.")
            let allowed =
                (ipc && newNamespaces.contains(.newIPC)) || (key.hasPrefix("net.") && newNamespaces.contains(.newNetwork))
                || ((key == "kernel.hostname" || key == "kernel.domainname") && newNamespaces.contains(.newUTS))
            guard allowed, !key.contains("/"), !key.contains("..") else {
                throw invalid(
                    "linux.sysctl: \(ContainerSpec.quoted(key)) is not in a namespace of the container's own — it would change the host (net.* needs a network namespace of its own; kernel.msg*, sem, shm* and fs.mqueue.* an IPC one)"
                )
            }
            launch.sysctl.append(OCIAnnotation(key: key, value: value))
        }
        if let path = linux.cgroupsPath, !path.isEmpty {
            let parts = path.split(separator: "/")
            guard !path.contains(":"), !parts.isEmpty, !parts.contains(where: { $0 == "." || $0 == ".." }) else {
                throw invalid(
                    "linux.cgroupsPath: \(ContainerSpec.quoted(path)) — a path such as /machine/ID (systemd's slice:prefix:name needs --systemd-cgroup, which scratch does not do)"
                )
            }
            launch.cgroupsPath = (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
        }
        if let profile = linux.seccomp {
            spec.seccomp = .profile(try profile.profile(source: path + " linux.seccomp", invalid: invalid))
        }
        for (field, list) in [("maskedPaths", linux.maskedPaths), ("readonlyPaths", linux.readonlyPaths)] {
            for (index, path) in (list ?? []).enumerated() where !path.hasPrefix("/") || path.split(separator: "/").contains("..") {
                throw invalid("linux.\(field)[\(index)]: \(ContainerSpec.quoted(path)) — an absolute path in the container, without ..")
            }
        }
        launch.maskedPaths = linux.maskedPaths
        launch.readonlyPaths = linux.readonlyPaths
        // Allowed after the config's own device rules, which may start with "deny all".
        var nodeRules: [CgroupFile] = []
        for (index, device) in (linux.devices ?? []).enumerated() {
            let place = "linux.devices[\(index)]"
            let parts = device.path.split(separator: "/")
            guard device.path.hasPrefix("/dev/"), !parts.contains(where: { $0 == ".." || $0 == "." }) else {
                throw invalid("\(place).path: \(ContainerSpec.quoted(device.path)) — a path under /dev, such as /dev/fuse")
            }
            let kinds: [String: mode_t] = ["c": S_IFCHR, "u": S_IFCHR, "b": S_IFBLK, "p": S_IFIFO]
            guard let kind = kinds[device.type] else {
                throw invalid("\(place).type: \(ContainerSpec.quoted(device.type)) — c (or u), b or p")
            }
            if kind != S_IFIFO && (device.major == nil || device.minor == nil) {
                throw invalid("\(place): a \(device.type) device needs major and minor")
            }
            let mode = device.fileMode ?? 0o666
            guard mode <= 0o7777 else { throw invalid("\(place).fileMode: \(mode) — permission bits, at most 07777") }
            if kind != S_IFIFO {
                nodeRules.append(
                    CgroupFile("devices.allow", "\(kind == S_IFBLK ? "b" : "c") \(device.major ?? 0):\(device.minor ?? 0) rwm"))
            }
            launch.devices.append(
                OCIDevice(
                    path: device.path, kind: kind, major: kind == S_IFIFO ? 0 : device.major ?? 0, minor: kind == S_IFIFO ? 0 : device.minor ?? 0,
                    mode: mode_t(mode), uid: device.uid ?? 0, gid: device.gid ?? 0))
        }
        if let propagation = linux.rootfsPropagation, !propagation.isEmpty {
            // MS_UNBINDABLE (linux/mount.h) has no name in MountFlags.
            let unbindable = MountFlags(rawValue: 0x20000)
            let kinds: [String: MountFlags] = [
                "shared": .shared, "slave": .slave, "private": .private, "unbindable": unbindable,
            ]
            let base = propagation.hasPrefix("r") ? String(propagation.dropFirst()) : propagation
            guard let flag = kinds[base] else {
                throw invalid(
                    "linux.rootfsPropagation: \(ContainerSpec.quoted(propagation)) — one of shared, slave, private, unbindable (or rshared, rslave, rprivate, runbindable)"
                )
            }
            launch.rootfsPropagation = propagation.hasPrefix("r") ? flag.union(.recursive) : flag
        }
        // memory.swap is memory and swap together (v1's memsw): scratch sets it to the
        // memory limit — no swap beyond — which is what Podman and `docker run -m`
        // send. Any other value would ask for swap scratch does not give.
        // The rest of linux.resources, as control files. What only v1 has (v2 dropped
        // swappiness, the OOM switch, kernel memory, net_cls and net_prio) is recorded by
        // name, and `create` refuses it on a v2 host, naming the property.
        if let memory = linux.resources?.memory {
            if let bytes = memory.reservation, bytes > 0 {
                launch.cgroupFilesV1.append(CgroupFile("memory.soft_limit_in_bytes", String(bytes)))
                launch.cgroupFilesV2.append(CgroupFile("memory.low", String(bytes)))
            }
            if let swappiness = memory.swappiness {
                guard swappiness <= 100 else { throw invalid("linux.resources.memory.swappiness: \(swappiness) — from 0 to 100") }
                launch.cgroupFilesV1.append(CgroupFile("memory.swappiness", String(swappiness)))
                launch.v1OnlyProperties.append("linux.resources.memory.swappiness")
            }
            if memory.disableOOMKiller == true {
                launch.cgroupFilesV1.append(CgroupFile("memory.oom_control", "1"))
                launch.v1OnlyProperties.append("linux.resources.memory.disableOOMKiller")
            }
            if let bytes = memory.kernel, bytes != 0 {
                launch.cgroupFilesV1.append(CgroupFile("memory.kmem.limit_in_bytes", String(bytes)))
                launch.v1OnlyProperties.append("linux.resources.memory.kernel")
            }
            if let bytes = memory.kernelTCP, bytes != 0 {
                launch.cgroupFilesV1.append(CgroupFile("memory.kmem.tcp.limit_in_bytes", String(bytes)))
                launch.v1OnlyProperties.append("linux.resources.memory.kernelTCP")
            }
        }
        if let io = linux.resources?.blockIO {
            // v1's blkio weights run from 10 to 1000; v2's io.weight from 1 to 10000.
            for (field, weight) in [("weight", io.weight), ("leafWeight", io.leafWeight)] {
                guard let weight, weight != 0 else { continue }
                guard (10...1000).contains(weight) else { throw invalid("linux.resources.blockIO.\(field): \(weight) — from 10 to 1000") }
            }
            if let weight = io.weight, weight != 0 {
                launch.cgroupFilesV1.append(CgroupFile("blkio.weight", String(weight)))
                launch.cgroupFilesV2.append(CgroupFile("io.weight", "default \(weight)"))
            }
            if let weight = io.leafWeight, weight != 0 {
                launch.cgroupFilesV1.append(CgroupFile("blkio.leaf_weight", String(weight)))
                launch.v1OnlyProperties.append("linux.resources.blockIO.leafWeight")
            }
            for device in io.weightDevice ?? [] {
                if let weight = device.weight {
                    launch.cgroupFilesV1.append(CgroupFile("blkio.weight_device", "\(device.major):\(device.minor) \(weight)"))
                    launch.cgroupFilesV2.append(CgroupFile("io.weight", "\(device.major):\(device.minor) \(weight)"))
                }
            }
            let throttles: [(String, [BundleConfig.ThrottleDevice]?, String)] = [
                ("read_bps_device", io.throttleReadBpsDevice, "rbps"), ("write_bps_device", io.throttleWriteBpsDevice, "wbps"),
                ("read_iops_device", io.throttleReadIOPSDevice, "riops"), ("write_iops_device", io.throttleWriteIOPSDevice, "wiops"),
            ]
            for (file, devices, key) in throttles {
                for device in devices ?? [] {
                    launch.cgroupFilesV1.append(CgroupFile("blkio.throttle.\(file)", "\(device.major):\(device.minor) \(device.rate)"))
                    launch.cgroupFilesV2.append(CgroupFile("io.max", "\(device.major):\(device.minor) \(key)=\(device.rate)"))
                }
            }
        }
        if let network = linux.resources?.network {
            if let classID = network.classID {
                launch.cgroupFilesV1.append(CgroupFile("net_cls.classid", String(classID)))
                launch.v1OnlyProperties.append("linux.resources.network.classID")
            }
            for (index, entry) in (network.priorities ?? []).enumerated() {
                guard !entry.name.isEmpty, !entry.name.contains(" "), !entry.name.contains("\n") else {
                    throw invalid("linux.resources.network.priorities[\(index)].name: \(ContainerSpec.quoted(entry.name)) — an interface name")
                }
                launch.cgroupFilesV1.append(CgroupFile("net_prio.ifpriomap", "\(entry.name) \(entry.priority)"))
                launch.v1OnlyProperties.append("linux.resources.network.priorities")
            }
        }
        if let swap = linux.resources?.memory?.swap, swap != 0, swap != linux.resources?.memory?.limit {
            throw invalid(
                "linux.resources.memory.swap: \(swap) — scratch gives no swap beyond the memory limit: set it to memory.limit (\(linux.resources?.memory?.limit.map(String.init) ?? "unset")) or leave it out"
            )
        }
        // cpuset: which CPUs and memory nodes (v1 and v2 name the files alike).
        for (field, value) in [("cpus", linux.resources?.cpu?.cpus), ("mems", linux.resources?.cpu?.mems)] {
            guard let value, !value.isEmpty else { continue }
            guard value.allSatisfy({ $0.isNumber || $0 == "," || $0 == "-" }) else {
                throw invalid("linux.resources.cpu.\(field): \(ContainerSpec.quoted(value)) — a list such as 0-1 or 0,2")
            }
            launch.cgroupFilesV1.append(CgroupFile("cpuset.\(field)", value))
            launch.cgroupFilesV2.append(CgroupFile("cpuset.\(field)", value))
        }
        for (index, limit) in (linux.resources?.hugepageLimits ?? []).enumerated() {
            guard !limit.pageSize.isEmpty, limit.pageSize.allSatisfy({ $0.isLetter || $0.isNumber }) else {
                throw invalid(
                    "linux.resources.hugepageLimits[\(index)].pageSize: \(ContainerSpec.quoted(limit.pageSize)) — a size such as 2MB or 1GB")
            }
            launch.cgroupFilesV1.append(CgroupFile("hugetlb.\(limit.pageSize).limit_in_bytes", String(limit.limit)))
            launch.cgroupFilesV2.append(CgroupFile("hugetlb.\(limit.pageSize).max", String(limit.limit)))
        }
        if let cpu = linux.resources?.cpu, cpu.quota != nil || cpu.period != nil {
            let period = cpu.period ?? UInt64(ResourceLimits.cpuPeriodMicroseconds)
            // The kernel's bounds for a CFS period: 1 ms to 1 s.
            guard (1000...1_000_000).contains(period) else {
                throw invalid("linux.resources.cpu.period: \(period) — from 1000 to 1000000 microseconds (100000 is the default)")
            }
            if let quota = cpu.quota, quota != 0, quota != -1, quota < 1000 {
                throw invalid("linux.resources.cpu.quota: \(quota) — at least 1000 microseconds, or -1 for no limit")
            }
            let quota = cpu.quota.flatMap { $0 > 0 ? $0 : nil }
            launch.cgroupFilesV1.append(CgroupFile("cpu.cfs_period_us", String(period)))
            launch.cgroupFilesV1.append(CgroupFile("cpu.cfs_quota_us", quota.map(String.init) ?? "-1"))
            launch.cgroupFilesV2.append(CgroupFile("cpu.max", "\(quota.map(String.init) ?? "max") \(period)"))
        }
        if let shares = linux.resources?.cpu?.shares, shares != 0 {
            // A relative weight among sibling groups, only felt when the CPUs are busy.
            // v1 takes it as is (2 to 262144); v2's cpu.weight runs from 1 to 10000, and
            // runc maps one range onto the other linearly — the same sum here, so a
            // client sees the value it would with runc.
            guard (2...262_144).contains(shares) else {
                throw invalid("linux.resources.cpu.shares: \(shares) — from 2 to 262144 (1024 is the default weight)")
            }
            launch.cgroupFilesV1.append(CgroupFile("cpu.shares", String(shares)))
            launch.cgroupFilesV2.append(CgroupFile("cpu.weight", String(1 + ((shares - 2) * 9999) / 262_142)))
        }
        for (index, rule) in (linux.resources?.devices ?? []).enumerated() {
            let type = rule.type ?? "a"
            let access = rule.access ?? "rwm"
            guard ["a", "b", "c"].contains(type), !access.isEmpty, access.allSatisfy({ "rwm".contains($0) }) else {
                throw invalid(
                    "linux.resources.devices[\(index)]: type \(ContainerSpec.quoted(type)), access \(ContainerSpec.quoted(access)) — type a, b or c; access of r, w, m"
                )
            }
            let number = { (value: Int64?) in value.map { $0 < 0 ? "*" : String($0) } ?? "*" }
            launch.deviceRulesV1.append(
                CgroupFile(rule.allow ? "devices.allow" : "devices.deny", "\(type) \(number(rule.major)):\(number(rule.minor)) \(access)"))
        }
        launch.deviceRulesV1 += nodeRules
        for (index, rule) in (linux.resources?.devices ?? []).enumerated() where rule.allow && (rule.type ?? "a") == "a" && rule.major == nil {
            throw invalid(
                "linux.resources.devices[\(index)]: allowing every device is not supported by scratch — its device cgroup allows /dev/null, zero, full, random, urandom, tty and the pseudo-terminals"
            )
        }
    }
    if extra.linux == nil {
        // No namespaces listed: every one is the caller's (see above).
        launch.namespaces = []
        spec.hostCgroupNamespace = true
        spec.network = .host
    }
    spec.oci = launch
    return spec
}

/// The index of namespace `type` in the config's list, when it is listed.
private func listed(_ namespaces: [BundleConfig.Namespace]?, _ type: String) -> Int? {
    namespaces?.firstIndex { $0.type == type }
}

/// `bundle` from the working directory.
func absoluteBundlePath(_ bundle: String) -> String {
    var path = bundle
    while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
    if path.hasPrefix("/") { return path }
    guard let buffer = getcwd(nil, 0) else { return path }
    defer { free(buffer) }
    let directory = String(cString: buffer)
    return path == "." ? directory : directory + "/" + path
}

/// `exec -p FILE`: a runtime-spec `process` object on its own.
struct ProcessFile: Decodable {
    var args: [String]?
    var env: [String]?
    var cwd: String?
    var user: OCIConfig.User?
    var terminal: Bool?
}

/// What `exec -p FILE` runs: the command, its variables, directory and user.
func loadProcessFile(_ path: String) throws(ContainerError) -> (
    args: [String], env: [String], cwd: String?, user: String?, terminal: Bool
) {
    func invalid(_ reason: String) -> ContainerError { ContainerError(step: "read the process file", reason: "\(path): \(reason)") }
    let bytes: [UInt8]
    do { bytes = try readFile(path, limit: 16 << 20) } catch { throw invalid(Errno.describe(error.errno)) }
    if let problem = jsonSyntaxError(bytes) { throw invalid("not valid JSON: \(problem)") }
    let process: ProcessFile
    do {
        process = try JSONDecoder().decode(ProcessFile.self, from: Data(bytes))
    } catch let error as DecodingError {
        throw invalid(describe(error))
    } catch {
        throw invalid("\(error)")
    }
    guard let args = process.args, !args.isEmpty else { throw invalid("args: missing or empty — the command to run") }
    let user = process.user.map { "\($0.uid ?? 0):\($0.gid ?? 0)" }
    return (args, process.env ?? [], process.cwd, user, process.terminal ?? false)
}
