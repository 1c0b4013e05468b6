import CLinux
import Glibc
import Syscalls

// Chapter 10 — speaking OCI: the runtime interface that Podman, containerd and
// Kubernetes drive (runtime-spec, runtime.md). A container's life is cut in steps,
// each a separate run of the runtime:
//
//   create ID   the container is made — namespaces, cgroup, mounts, pivot, user,
//               capabilities, seccomp — and its first process waits, before its exec,
//               on the exec fifo in the state directory. `create` then exits.
//   start ID    opens the fifo: the waiting process reads that, and execs the command.
//   state ID    prints where it is: creating, created, running or stopped.
//   kill ID SIG signals it.   delete ID  removes what is left.
//
// Why split create from start? A higher-level tool has work to do between them, with
// the container's namespaces already there: a network plugged into its network
// namespace, a debugger attached, hooks run. And since `create` exits, the container's
// first process is nobody's child any more: the kernel gives it to the nearest
// "subreaper" (conmon, containerd-shim: they set PR_SET_CHILD_SUBREAPER to be the one
// that waits for it) or to PID 1. So no death signal may tie it to `create`, and the
// runtime finds it again by the pid it recorded, checked against the process's start
// time so that a reused pid is not mistaken for it.
//
// The state directory: <root>/<id>/ (default /run/scratch-oci, apart from `scratch
// run`'s /run/scratch, whose entries live only as long as their runtime holds a lock):
//
//   state       key=value lines (StateDirectory.swift's format, plus bundle=,
//               status=creating|created, starttime=, annotation=, hook.*=, and
//               mount-namespace=, host-mount= for mounts in the caller's namespace)
//   exec.fifo   the named pipe, from `create` until `start` opened it

/// What `create` is given beyond the container itself.
public struct OCILaunch: Sendable {
    /// The state root (`--root`): one directory per container in it.
    public var root: String
    /// The bundle: the directory holding config.json (absolute).
    public var bundle: String
    /// `--pid-file`: where `create` writes the container's pid, for the tool above.
    public var pidFile: String?
    /// The config's `annotations`, given back by `state`.
    public var annotations: [OCIAnnotation] = []
    public var hooks = OCIHooks()
    /// `process.rlimits`, set on the container's first process from outside.
    public var rlimits: [OCIRlimit] = []
    /// `process.oomScoreAdj`.
    public var oomScoreAdj: Int?
    /// `linux.namespaces` as the config lists them: the new ones made with the clone
    /// (nil: scratch's own set, when the config lists none), the ones joined by path.
    /// A namespace the list leaves out is the host's, as runc reads it.
    public var namespaces: CloneFlags?
    public var joinedNamespaces: [OCIJoin] = []
    /// `linux.uidMappings` and `gidMappings`, with a new user namespace (`namespaces`
    /// holds `.newUser`): written by `create` into the child's uid_map and gid_map.
    public var uidMappings: [OCIIDMapping] = []
    public var gidMappings: [OCIIDMapping] = []
    /// The config lists namespaces, and no mount namespace (new or joined): the
    /// container's mounts are made in the caller's, and it chroots (HostMounts.swift).
    public var sharesMountNamespace: Bool {
        guard let namespaces else { return false }
        return !namespaces.contains(.newMount) && !joinedNamespaces.contains { $0.type == "mount" }
    }
    /// `process.user.umask`, set just before the exec.
    public var umask: mode_t?
    /// `linux.sysctl`, written in the container's own /proc/sys after the pivot (only
    /// the namespaced ones: Bundle.swift checks).
    public var sysctl: [OCIAnnotation] = []
    /// `linux.cgroupsPath`: the group's path from each hierarchy's root (relative:
    /// under scratch's own parent); nil: `scratch/oci-<id>`.
    public var cgroupsPath: String?
    /// `--console-socket`, with `process.terminal`: where the pty's master goes.
    public var consoleSocket: String?
    /// `process.consoleSize`: rows and columns.
    public var consoleSize: (rows: UInt16, columns: UInt16)?
    /// `linux.resources` beyond chapter 4's three limits, as control files for each
    /// cgroup mode (cpu.shares on v1 is cpu.weight on v2): written after those.
    public var cgroupFilesV1: [CgroupFile] = []
    /// `process.capabilities.inheritable` and `.ambient`, as bit masks: set after
    /// chapter 7's capabilities, only when the config asks (runc honours them too).
    public var inheritableCapabilities: UInt64 = 0
    /// `process.capabilities.effective` and `.permitted` when the config lists them
    /// (nil: what chapter 7 sets, the union of the lists). A user other than root keeps
    /// them too, as with runc (PR_SET_KEEPCAPS across the change of user).
    public var effectiveCapabilities: UInt64?
    public var permittedCapabilities: UInt64?
    /// The config's `mounts`, in its order (BundleMounts.swift): mounted before the
    /// pivot; scratch's own /proc, /dev, /sys only where the list has none.
    public var mounts: [OCIMount] = []
    /// `linux.rootfsPropagation` as mount flags (MS_SHARED, MS_SLAVE, …, with MS_REC
    /// for the r- forms), set on "/" after the pivot; nil: private, as scratch leaves it.
    public var rootfsPropagation: MountFlags?
    /// `linux.devices`: nodes made in the container's /dev after it is mounted.
    public var devices: [OCIDevice] = []
    /// `linux.maskedPaths` and `linux.readonlyPaths`, in place of chapter 7's lists
    /// when the config gives them (nil: chapter 7's).
    public var maskedPaths: [String]?
    /// `linux.resources.devices` and an allow rule per `linux.devices` node, as v1
    /// devices.allow / devices.deny writes (runc adds the nodes' rules the same way).
    public var deviceRulesV1: [CgroupFile] = []
    public var readonlyPaths: [String]?
    public var ambientCapabilities: UInt64 = 0
    public var cgroupFilesV2: [CgroupFile] = []
    /// The properties among those whose files only cgroup v1 has: an error on v2.
    public var v1OnlyProperties: [String] = []

    public init(root: String, bundle: String) {
        self.root = root
        self.bundle = bundle
    }
}

/// A namespace to join: `linux.namespaces[i]` with a `path`.
public struct OCIJoin: Sendable, Equatable {
    /// runtime-spec's name: network, ipc, uts, pid, mount, cgroup.
    public var type: String
    public var path: String
    /// The clone flag of `type`: setns(2) checks the file is a namespace of that type.
    public var flag: CloneFlags {
        let flags: [String: CloneFlags] = [
            "network": .newNetwork, "ipc": .newIPC, "uts": .newUTS, "pid": .newPID, "mount": .newMount, "cgroup": .newCgroup,
        ]
        return flags[type] ?? []
    }
    public init(type: String, path: String) {
        self.type = type
        self.path = path
    }
}

/// One of `linux.devices`: a node to make with mknod(2).
public struct OCIDevice: Sendable, Equatable {
    public var path: String
    /// S_IFCHR, S_IFBLK or S_IFIFO.
    public var kind: mode_t
    public var major: UInt64
    public var minor: UInt64
    public var mode: mode_t
    public var uid: uid_t
    public var gid: gid_t
    public init(path: String, kind: mode_t, major: UInt64, minor: UInt64, mode: mode_t, uid: uid_t, gid: gid_t) {
        (self.path, self.kind, self.major, self.minor, self.mode, self.uid, self.gid) = (path, kind, major, minor, mode, uid, gid)
    }
}

public struct OCIAnnotation: Sendable, Equatable {
    public var key: String
    public var value: String
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

public struct OCIRlimit: Sendable, Equatable {
    /// RLIMIT_NOFILE and the like, by number.
    public var resource: Int32
    public var soft: UInt64
    public var hard: UInt64
    public init(resource: Int32, soft: UInt64, hard: UInt64) {
        self.resource = resource
        self.soft = soft
        self.hard = hard
    }
}

/// The default state root: runc's is /run/runc, crun's /run/crun.
public func defaultOCIRoot() -> String {
    if getuid() == 0 { return "/run/scratch-oci" }
    if let runtime = environmentValue("XDG_RUNTIME_DIR"), runtime.hasPrefix("/") { return runtime + "/scratch-oci" }
    return "/run/user/\(getuid())/scratch-oci"
}

/// An id the state directory and the cgroup can be named by: runc's rule.
public func ociIDProblem(_ id: String) -> String? {
    if id.isEmpty { return "an empty id" }
    if id == "." || id == ".." || id.count > 1024 { return "not a name" }
    let allowed = id.utf8.allSatisfy { byte in
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 95 || byte == 45
            || byte == 46 || byte == 43
    }
    return allowed ? nil : "only letters, digits, '_', '-', '.' and '+' may be in an id"
}

// MARK: the record

/// One OCI container's record, as its state directory holds it.
public struct OCIRecord: Sendable {
    public var container: ContainerState
    public var bundle: String
    /// What `create` last wrote: `.creating`, then `.created`.
    public var phase: ContainerStatus
    /// The process that `pid` names: its start time in clock ticks since boot
    /// (/proc/PID/stat's 22nd field), so a pid the kernel gave to another process
    /// since is not taken for it.
    public var startTime: UInt64?
    /// RFC 3339, as `state` prints it.
    public var createdText: String
    public var annotations: [OCIAnnotation] = []
    public var hooks = OCIHooks()
    /// What the container mounted in its caller's mount namespace (it listed none of
    /// its own), and that namespace: `delete` unmounts them there.
    public var hostMounts: [OCIHostMount] = []
    public var mountNamespace: String?
    public var directory: String

    func encoded() -> String {
        var text = container.encoded()
        if let pid = container.pid { text += "pid=\(pid)\n" }
        text += "bundle=\(escapedRecordValue(bundle))\nstatus=\(phase.rawValue)\ncreated-text=\(createdText)\n"
        if let startTime { text += "starttime=\(startTime)\n" }
        for annotation in annotations {
            text += "annotation=\(escapedRecordValue(annotation.key + "\u{1F}" + annotation.value))\n"
        }
        for (kind, hook) in hooks.all {
            text += "hook.\(kind)=\(escapedRecordValue(hook.encoded()))\n"
        }
        if let mountNamespace { text += "mount-namespace=\(mountNamespace)\n" }
        for mount in hostMounts { text += "host-mount=\(escapedRecordValue(mount.encoded()))\n" }
        return text
    }

    static func decoded(_ text: String, directory: String) -> OCIRecord? {
        guard let container = ContainerState.decoded(text) else { return nil }
        var record = OCIRecord(
            container: container, bundle: "", phase: .creating, startTime: nil, createdText: "", directory: directory)
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals]
            let value = unescapedRecordValue(line[line.index(after: equals)...])
            switch key {
            case "bundle": record.bundle = value
            case "status": record.phase = ContainerStatus(rawValue: value) ?? .creating
            case "created-text": record.createdText = value
            case "starttime": record.startTime = UInt64(value)
            case "mount-namespace": record.mountNamespace = value
            case "host-mount": if let mount = OCIHostMount.decoded(value) { record.hostMounts.append(mount) }
            case "annotation":
                let parts = value.split(separator: "\u{1F}", maxSplits: 1, omittingEmptySubsequences: false)
                record.annotations.append(OCIAnnotation(key: String(parts[0]), value: parts.count > 1 ? String(parts[1]) : ""))
            default:
                if key.hasPrefix("hook."), let hook = OCIHook.decoded(value) {
                    record.hooks.append(hook, to: String(key.dropFirst(5)))
                }
            }
        }
        return record
    }

    /// Written whole, then renamed over the old one: a reader never sees half a record.
    func write() throws(SyscallError) {
        let temporary = directory + "/state.new"
        try writeFile(temporary, Array(encoded().utf8), mode: 0o600)
        if rename(temporary, directory + "/state") == -1 {
            throw SyscallError("rename", path: "\(temporary) to \(directory)/state")
        }
    }

    public var id: String { container.id }
    public var execFifo: String { directory + "/exec.fifo" }
}

/// The record of container `id` under `root`, or an error as runc words it.
public func ociRecord(_ id: String, root: String) throws(ContainerError) -> OCIRecord {
    if let problem = ociIDProblem(id) {
        throw ContainerError(step: "find the container", reason: "invalid id \(ContainerSpec.quoted(id)): \(problem)")
    }
    let directory = root + "/" + id
    guard let text = readControlFile(directory + "/state"), let record = OCIRecord.decoded(text, directory: directory) else {
        throw ContainerError(step: "find the container", reason: "container \(id) does not exist (no \(directory)/state)")
    }
    return record
}

/// Every container recorded under `root`, by id.
public func ociRecords(root: String) -> [OCIRecord] {
    guard let names = try? listDirectory(root) else { return [] }
    return names.sorted().compactMap { name in
        guard !name.hasPrefix("."), ociIDProblem(name) == nil else { return nil }
        return try? ociRecord(name, root: root)
    }
}

// MARK: where a container is

/// /proc/PID/stat's state letter and start time, or nil when there is no such process.
func processStat(_ pid: pid_t) -> (state: Character, startTime: UInt64)? {
    guard pid > 0, let text = readControlFile("/proc/\(pid)/stat") else { return nil }
    // The command name, in parentheses, may hold spaces and ')': count from the last.
    guard let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // fields[0] is the state (field 3); the start time is field 22.
    guard fields.count > 19, let state = fields[0].first, let start = UInt64(fields[19]) else { return nil }
    return (state, start)
}

/// True while the recorded process exists, is no zombie, and is the one recorded.
func recordedProcessAlive(_ record: OCIRecord) -> Bool {
    let pid = record.phase == .creating ? (record.container.pid ?? record.container.runtimePID) : (record.container.pid ?? 0)
    guard let stat = processStat(pid) else { return false }
    if stat.state == "Z" || stat.state == "X" { return false }
    if record.phase == .created, let recorded = record.startTime, recorded != stat.startTime { return false }
    if record.phase == .creating, processStat(record.container.runtimePID) == nil { return false }
    return true
}

/// The status `state` reports, through chapter 10's state machine.
public func ociStatus(_ record: OCIRecord, steps: Steps) throws(ContainerError) -> ContainerStatus {
    try step("tell the container's status") {
        try steps.lifecycle.status(
            recorded: record.phase, alive: recordedProcessAlive(record), execFifoExists: fileKind(record.execFifo, followLinks: false) != nil)
    }
}

/// `state`'s JSON (runtime-spec's state): what a hook reads on its standard input too.
public func ociStateJSON(_ record: OCIRecord, status: ContainerStatus) -> String {
    var annotations = record.annotations.map { "\(jsonString($0.key)): \(jsonString($0.value))" }.joined(separator: ", ")
    if !annotations.isEmpty { annotations = " " + annotations + " " }
    let pid = status == .stopped ? 0 : (record.container.pid ?? 0)
    return """
        {
          "ociVersion": "\(ociVersion)",
          "id": \(jsonString(record.id)),
          "pid": \(pid),
          "status": "\(status.rawValue)",
          "bundle": \(jsonString(record.bundle)),
          "rootfs": \(jsonString(record.container.rootfs)),
          "created": "\(record.createdText)",
          "owner": "",
          "annotations": {\(annotations)}
        }

        """
}

/// The runtime-spec version scratch speaks.
public let ociVersion = "1.2.0"

/// A JSON string literal.
public func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}

/// Now, as RFC 3339 in UTC with nanoseconds (what runc's `state` prints).
func rfc3339Now() -> String {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var seconds = now.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    let nanos = String(now.tv_nsec)
    return
        "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))."
        + String(repeating: "0", count: 9 - nanos.count) + nanos + "Z"
}

// MARK: create

/// `create`: makes the container and leaves its first process waiting on the exec
/// fifo; returns that process's pid. `create` then exits, and the process lives on;
/// `run --bundle` stays its parent, starts it and waits for it.
public func createContainer(_ spec: ContainerSpec, stage: Stage, steps: Steps) throws(ContainerError) -> pid_t {
    guard let oci = spec.oci else { throw ContainerError(step: "create the container", reason: "no bundle given") }
    // 1. Check the request before anything exists.
    try step("take over signals") { try takeOverSignals() }
    try spec.validate(stage: stage)
    let confinement = try step("compile the seccomp filter") { try plannedConfinement(spec, stage: stage, steps: steps) }
    let idMaps = spec.userNamespace ? try step("plan the user namespace") { try planUserNamespace() } : nil

    // 2. The state directory: made with mkdir, which fails if the id is taken — the
    //    one atomic test of "exists" that two creates racing for an id cannot both pass.
    let directory = oci.root + "/" + spec.id
    for (path, mode) in [(parentDirectory(of: oci.root), mode_t(0o755)), (oci.root, mode_t(0o700))] where fileKind(path) == nil {
        if mkdir(path, mode) == -1 && errno != EEXIST {
            throw ContainerError(step: "make the state root", reason: "\(SyscallError("mkdir", path: path))")
        }
    }
    if mkdir(directory, 0o700) == -1 {
        let error = SyscallError("mkdir", path: directory)
        if error.errno == EEXIST {
            throw ContainerError(step: "create the container", reason: "container with id exists: \(spec.id)")
        }
        throw ContainerError(step: "make the state directory", reason: "\(error)")
    }
    var made = MadeSoFar(directory: directory)
    do {
        return try createInDirectory(
            spec, oci: oci, stage: stage, steps: steps, confinement: confinement, idMaps: idMaps, made: &made)
    } catch {
        // On every failure: the process, its cgroup, its mounts in our mount namespace
        // (with none of its own), the directory go again.
        if made.child > 0 { killAndReap(made.child) }
        if let before = made.mountsBefore, let rootfs = spec.rootfs {
            unmountRecorded(mountsMade(under: rootfs, since: before))
        }
        if let cgroup = made.cgroup { cleanUpCgroup(cgroup, steps: steps, programName: spec.programName) }
        for name in ["exec.fifo", "state.new", "state", keptSeccompFilterName] { try? removeFile(directory + "/" + name) }
        _ = try? removeDirectory(directory)
        throw error
    }
}

/// What `create` has made on the host, for its cleanup on failure.
struct MadeSoFar {
    let directory: String
    var cgroup: Cgroup?
    var child: pid_t = 0
    /// With no mount namespace of the container's own: the mount ids before the clone.
    var mountsBefore: Set<Int>?
}

/// `create`'s steps 2 to 5, once its state directory exists.
func createInDirectory(
    _ spec: ContainerSpec, oci: OCILaunch, stage: Stage, steps: Steps, confinement: Confinement?, idMaps: IDMaps?,
    made: inout MadeSoFar
) throws(ContainerError) -> pid_t {
    let directory = made.directory
    var limitFiles: [CgroupFile] = []
    var cgroup: Cgroup?
    if stage.includes(.cgroups) && !isRootless(spec) {
        let mode = try step("find the cgroup mode") { try detectCgroupMode() }
        limitFiles = try step("choose the cgroup's limits") { try steps.cgroups.cgroupFiles(for: spec.limits, mode: mode) }
        if confinement != nil && mode == .v1 {
            // The config's rules after scratch's own, then scratch's allow list once more:
            // a config that starts with "deny all" (containerd's, runtime-tools') must
            // not take /dev/null away — runc appends its defaults the same way.
            let own = deviceCgroupFilesV1()
            limitFiles += own + oci.deviceRulesV1 + (oci.deviceRulesV1.isEmpty ? [] : own.filter { $0.name == "devices.allow" })
        }
        if mode == .v2, let property = oci.v1OnlyProperties.first {
            throw ContainerError(
                step: "choose the cgroup's limits",
                reason: "\(property): cgroup v1 only — this host's cgroups are v2, which has no such control; remove it from the config")
        }
        limitFiles += mode == .v1 ? oci.cgroupFilesV1 : oci.cgroupFilesV2
        // "oci-<id>": never a name `scratch gc` takes for a dead run's group (those
        // are hex), so the group lives after `create` exits, until `delete`.
        let name = oci.cgroupsPath ?? "oci-" + spec.id
        cgroup = try step("plan the cgroup") { try planCgroup(named: name, mode: mode, setting: limitFiles) }
    }
    var state = spec.state(cgroups: cgroup?.directories ?? [])
    state.capabilities = confinement?.capabilities.bits
    state.noNewPrivileges = confinement?.noNewPrivileges ?? false
    state.seccompFilter = confinement?.seccomp?.key
    var record = OCIRecord(
        container: state, bundle: oci.bundle, phase: .creating, startTime: nil, createdText: rfc3339Now(),
        annotations: oci.annotations, hooks: oci.hooks, directory: directory)
    try writeRecord(record, step: "record the container in \(directory)")
    // The compiled filter beside the record: `scratch exec` needs it for as long as the
    // container lives, and the shared cache it came from (/run/scratch/seccomp-cache)
    // is emptied by `scratch gc`, which knows the containers of its own state root only.
    if let filter = confinement?.seccomp {
        try step("keep the seccomp filter in \(directory)") {
            try writeFile(directory + "/" + keptSeccompFilterName, filter.program, mode: 0o600)
        }
    }
    if let cgroup {
        try step("create the cgroup") { try createCgroup(cgroup, setting: limitFiles, steps: steps) }
        made.cgroup = cgroup
    }
    if let cgroup, cgroup.mode == .v2, confinement != nil, let group = cgroup.directories.first {
        try step("attach the device program to the cgroup") { try attachDeviceProgram(toGroup: group) }
    }
    // The exec fifo, and a descriptor of it for the child: after the pivot the state
    // directory is out of its sight, but an O_PATH descriptor still names the fifo.
    let fifoPath = directory + "/exec.fifo"
    try step("make the exec fifo") { try steps.lifecycle.makeExecFifo(at: fifoPath) }
    let fifoFD = open(fifoPath, CL_O_PATH | O_CLOEXEC)
    if fifoFD == -1 { throw ContainerError(step: "open the exec fifo", reason: "\(SyscallError("open", path: fifoPath))") }
    defer { close(fifoFD) }

    // 3. Clone, with the namespaces the config lists (none: those of `scratch run`).
    //    A mount namespace joined by path is entered by the child; one not listed is
    //    ours, where the child's mounts are then recorded, for `delete`.
    var namespaces: CloneFlags = []
    if let listed = oci.namespaces {
        namespaces = listed
        if oci.sharesMountNamespace {
            made.mountsBefore = Set(currentMounts().map(\.id))
            record.mountNamespace = currentMountNamespace()
        }
    } else {
        namespaces.insert(.newMount)
        namespaces.formUnion(try step("choose namespaces") { try steps.hostname.hostnameNamespace() })
        namespaces.formUnion(try step("choose namespaces") { try steps.processTree.processTreeNamespace() })
        namespaces.insert(.newIPC)
    }
    // A PID namespace is joined by the parent: setns(2) on one moves the caller's
    // future children into it, never the caller. (This `create` exits soon after.)
    for join in oci.joinedNamespaces where join.type == "pid" {
        try step("join the pid namespace \(join.path)") { try joinNamespace(join.path, type: join.flag) }
    }
    if idMaps != nil { namespaces.insert(.newUser) }
    try stopIfInterrupted()
    let channel = try step("create the setup pipes") { try SetupChannel() }
    var childEnds = channel.childEnds
    childEnds.execFifo = fifoFD
    // The console socket is connected here, on the host: the container sends its pty
    // over it once its /dev is its own.
    var socketFD: Int32 = -1
    if let path = oci.consoleSocket {
        socketFD = cl_connect_unix(path)
        if socketFD == -1 { throw ContainerError(step: "connect to the console socket", reason: "\(SyscallError("connect", path: path))") }
        childEnds.consoleSocket = socketFD
    }
    defer { if socketFD >= 0 { close(socketFD) } }
    let child = try step("clone the container's process") {
        try clone(flags: namespaces) { [childEnds, cgroup] in
            containerMain(spec, stage: stage, steps: steps, confinement: confinement, cgroup: cgroup, bridge: nil, channel: childEnds)
        }
    }
    made.child = child
    let ends = channel.parentSide()
    record.container.pid = child
    try writeRecord(record, step: "record the container's pid")
    if let idMaps {
        try step("write the user namespace's maps") { try steps.userNamespace.writeIDMaps(idMaps, child: child) }
    }
    // Chapter 8's user namespace, with the bundle's maps: root writes them itself
    // (CAP_SETUID and CAP_SETGID over the parent namespace let it map any host ids),
    // before the go-ahead — until then the child's ids are unmapped, the overflow id.
    if namespaces.contains(.newUser) && idMaps == nil {
        do {
            try writeIDMapFiles(
                child: child, uid: idMapText(oci.uidMappings), gid: idMapText(oci.gidMappings), denySetgroups: false)
        } catch {
            throw ContainerError(
                step: "write the user namespace's maps (linux.uidMappings, linux.gidMappings)",
                reason: "\(error) — uid_map \(quotedMap(oci.uidMappings)), gid_map \(quotedMap(oci.gidMappings))")
        }
    }
    // 4. From outside: the cgroup, the limits on its resources, its OOM score, the
    //    hooks that run in the runtime's namespaces; then let it go on.
    if let cgroup {
        try step("put the container in its cgroup") { try steps.cgroups.joinCgroup(cgroup.directories, pid: child) }
    }
    for limit in oci.rlimits {
        if cl_prlimit(child, limit.resource, limit.soft, limit.hard) == -1 {
            var error = SyscallError("prlimit", path: "resource \(limit.resource)")
            if error.errno == EPERM {
                error.hint = "a hard limit above this runtime's own needs CAP_SYS_RESOURCE, which this runtime lacks — lower it in the config"
            }
            throw ContainerError(step: "set process.rlimits", reason: "\(error)")
        }
    }
    if let score = oci.oomScoreAdj {
        try step("set process.oomScoreAdj") { try writeControlFile("/proc/\(child)/oom_score_adj", "\(score)") }
    }
    try runHooks(oci.hooks.prestart, kind: "prestart", record: record, recorded: .creating, alive: true, execFifoExists: true, steps: steps)
    try runHooks(
        oci.hooks.createRuntime, kind: "createRuntime", record: record, recorded: .creating, alive: true, execFifoExists: true, steps: steps)
    try stopIfInterrupted()
    try? ends.goAhead.writeAll([1])

    // 5. The child sets itself up, then closes its report pipe and waits on the fifo:
    //    end-of-file with nothing said is "created"; words are why it failed.
    let report = try step("wait for the container's setup") { try ends.report.readToEnd() }
    if !report.isEmpty {
        throw ContainerError(step: "create the container", reason: String(decoding: report, as: UTF8.self))
    }
    guard let stat = processStat(child), stat.state != "Z" else {
        throw ContainerError(step: "create the container", reason: "the container's process ended during its setup")
    }
    if let before = made.mountsBefore, let rootfs = spec.rootfs { record.hostMounts = mountsMade(under: rootfs, since: before) }
    record.phase = .created
    record.startTime = stat.startTime
    try writeRecord(record, step: "record the container as created")
    if let pidFile = oci.pidFile {
        // Written whole and renamed, as runc does: a tool polling for it never reads
        // half a number.
        let temporary = parentDirectory(of: pidFile) + "/.\(lastPathComponent(pidFile)).new"
        try step("write the pid file") {
            try writeFile(temporary, Array("\(child)".utf8), mode: 0o644)
            if rename(temporary, pidFile) == -1 { throw SyscallError("rename", path: "\(temporary) to \(pidFile)") }
        }
    }
    return child
}

/// A map's lines for an error message, with the line breaks shown as \\n.
func quotedMap(_ mappings: [OCIIDMapping]) -> String {
    "\"" + idMapText(mappings).split(separator: "\n").joined(separator: "\\n") + "\""
}

/// The record written, or an error naming `step`.
func writeRecord(_ record: OCIRecord, step name: String) throws(ContainerError) {
    do { try record.write() } catch { throw ContainerError(step: name, reason: "\(error)") }
}

/// `--console-socket PATH`, connected: where a pty's master is sent.
public func connectConsoleSocket(_ path: String) throws(ContainerError) -> Int32 {
    let fd = cl_connect_unix(path)
    if fd == -1 { throw ContainerError(step: "connect to the console socket", reason: "\(SyscallError("connect", path: path))") }
    return fd
}

func lastPathComponent(_ path: String) -> String {
    String(path.split(separator: "/").last ?? "")
}

// MARK: start, kill, delete

/// `start`: lets the created container's process exec its command.
public func startOCIContainer(_ id: String, root: String, steps: Steps) throws(ContainerError) {
    let record = try ociRecord(id, root: root)
    let status = try ociStatus(record, steps: steps)
    guard status == .created else {
        throw ContainerError(step: "start the container", reason: "cannot start a container in the \(status.rawValue) state — only a created one")
    }
    guard let pid = record.container.pid else { throw ContainerError(step: "start the container", reason: "\(id) has no process") }
    // What the process runs before its execve: the runtime's own program (a clone,
    // no re-exec). Taken before the release, to tell when the exec has happened.
    let before = try? fileIdentity("/proc/\(pid)/exe")
    try step("open the exec fifo") { try steps.lifecycle.releaseContainer(execFifo: record.execFifo, pid: pid) }
    // poststart hooks run "after the user-specified process is executed" (config.md):
    // reading the fifo's byte only says the process is on its way to its execve.
    if !record.hooks.poststart.isEmpty, let before { waitForExec(pid, replacing: before) }
    // poststart hooks: a failing one is a warning — the container runs already.
    try runHooks(
        record.hooks.poststart, kind: "poststart", record: record, recorded: .created, alive: true, execFifoExists: false, steps: steps,
        warnOnly: true)
}

/// Waits (up to a second) until `pid` runs another program than `replacing` — its
/// /proc/PID/exe names the file it exec'd — or is gone. runc learns the same from its
/// fifo's end of file, which the exec's close-on-exec brings; chapter 10's
/// `waitForStart` closes its end itself, so the runtime looks at the process instead.
func waitForExec(_ pid: pid_t, replacing program: (device: UInt, inode: UInt)) {
    for _ in 0..<1000 {
        guard let now = try? fileIdentity("/proc/\(pid)/exe") else { return }
        if now != program { return }
        usleep(1000)
    }
}

/// `kill`: a signal to the container's process (or, with `all`, every process in its
/// cgroup).
public func killOCIContainer(_ id: String, root: String, signal: Int32, all: Bool, steps: Steps) throws(ContainerError) {
    let record = try ociRecord(id, root: root)
    let status = try ociStatus(record, steps: steps)
    guard status == .created || status == .running, let pid = record.container.pid else {
        throw ContainerError(step: "kill the container", reason: "container not running (\(status.rawValue))")
    }
    if all {
        for target in cgroupProcesses(record) { try? sendSignal(signal, to: target) }
    }
    try step("send \(signalName(signal))") { try sendSignal(signal, to: pid) }
}

/// The processes in the container's cgroup (its first hierarchy's list).
func cgroupProcesses(_ record: OCIRecord) -> [pid_t] {
    guard let group = record.container.cgroups.first, let text = readControlFile(group + "/cgroup.procs") else { return [] }
    return text.split(separator: "\n").compactMap { pid_t($0) }
}

/// `ps`: the host pids of the container's processes.
public func ociProcesses(_ id: String, root: String) throws(ContainerError) -> [pid_t] {
    let record = try ociRecord(id, root: root)
    let listed = cgroupProcesses(record)
    if listed.isEmpty, let pid = record.container.pid, recordedProcessAlive(record) { return [pid] }
    return listed
}

/// `delete`: a stopped (or created) container's cgroup and state go, and the
/// poststop hooks run. A running one only with `force`, killed first.
public func deleteOCIContainer(_ id: String, root: String, force: Bool, steps: Steps) throws(ContainerError) {
    let record = try ociRecord(id, root: root)
    let status = try ociStatus(record, steps: steps)
    // Mounts in a mount namespace other than ours (HostMounts.swift): while its process
    // lives, the namespace is in reach through it — held open before the kill.
    var otherNamespace: Int32 = -1
    if !record.hostMounts.isEmpty, let recorded = record.mountNamespace, recorded != currentMountNamespace(),
        let pid = record.container.pid, status != .stopped
    {
        otherNamespace = open("/proc/\(pid)/ns/mnt", O_RDONLY | O_CLOEXEC)
    }
    defer { if otherNamespace >= 0 { close(otherNamespace) } }
    switch status {
    case .stopped: break
    case .created:
        // runc deletes a created container as it is: it never ran anything.
        killAndWait(record)
    case .creating, .running:
        guard force else {
            throw ContainerError(
                step: "delete the container",
                reason: "cannot delete container \(id) that is not stopped: \(status.rawValue) — kill it first, or give --force")
        }
        killAndWait(record)
    }
    removeContainerGroups(record.container.cgroups)
    if !record.hostMounts.isEmpty {
        // They are in the mount namespace `create` ran in: a `delete` run in another
        // unmounts them from a child that joins it, when it could be held; else says so.
        if otherNamespace >= 0 {
            for problem in unmountRecorded(record.hostMounts, inNamespace: otherNamespace) {
                writeToStandardError("scratch: warning: \(problem)\n")
            }
        } else if let recorded = record.mountNamespace, let ours = currentMountNamespace(), recorded != ours {
            writeToStandardError(
                "scratch: warning: the container's mounts are in mount namespace \(recorded), this delete runs in \(ours): unmount them there (umount -l \(record.hostMounts.map(\.path).sorted().first ?? ""))\n"
            )
        } else {
            for problem in unmountRecorded(record.hostMounts) { writeToStandardError("scratch: warning: \(problem)\n") }
        }
    }
    // poststop: a failing hook is a warning (runtime-spec), the delete goes on.
    try runHooks(
        record.hooks.poststop, kind: "poststop", record: record, recorded: .created, alive: false, execFifoExists: false, steps: steps,
        warnOnly: true)
    // The runtime's own file goes first: the exercise's removeContainer knows its three.
    try? removeFile(record.directory + "/" + keptSeccompFilterName)
    try step("remove the state directory") { try steps.lifecycle.removeContainer(directory: record.directory) }
}

/// SIGKILL to every process of the container, then wait (up to 2 s) until the first
/// is gone or a zombie: who reaps it is its reaper's business, not ours.
func killAndWait(_ record: OCIRecord) {
    guard let pid = record.container.pid else { return }
    let alive = recordedProcessAlive(record)
    // A pidfd first, while the pid is surely the container's: it polls readable at the
    // exit, whoever the parent is — no sleeping and looking again.
    let pidfd = alive ? cl_pidfd_open(pid) : -1
    defer { if pidfd >= 0 { close(pidfd) } }
    for target in cgroupProcesses(record) { try? sendSignal(SIGKILL, to: target) }
    if alive { try? sendSignal(SIGKILL, to: pid) }
    if pidfd >= 0 {
        var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        var result = poll(&entry, 1, 2000)
        while result == -1 && errno == EINTR { result = poll(&entry, 1, 2000) }
        // Our own child (`run`): reap it, or it stays a zombie for as long as we live.
        _ = try? waitpid(pid, noHang: true)
        return
    }
    for _ in 0..<200 {
        guard let stat = processStat(pid), stat.state != "Z", stat.state != "X" else { return }
        _ = try? waitpid(pid, noHang: true)
        usleep(10_000)
    }
}

/// rmdir of the container's groups, retried while the kernel still counts a process
/// that has just died in them (EBUSY), for up to a second.
func removeContainerGroups(_ groups: [String]) {
    for group in groups where fileKind(group) != nil {
        var pause: UInt32 = 500
        for _ in 0..<40 {
            removeAbandonedGroup(group)
            if fileKind(group) == nil { break }
            usleep(pause)
            pause = min(pause * 2, 50_000)
        }
    }
}

// MARK: the reference's chapter 10

extension Reference: LifecycleSteps {
    public func makeExecFifo(at path: String) throws {
        // 0622: only root reads it (only `start` may let the container go); the
        // container's process, whoever it runs as by then, may write.
        try check("mkfifo", path: path, mkfifo(path, 0o622))
        // mkfifo applies the umask (a 077 one would leave a non-root user no way in).
        try check("chmod", path: path, chmod(path, 0o622))
    }

    public func waitForStart(execFifo: Int32) throws {
        // open(2) of a fifo for writing blocks until a reader opens it: this is the
        // wait. Through /proc/self/fd: the fifo's own path is outside our root now.
        let path = "/proc/self/fd/\(execFifo)"
        var fd = open(path, O_WRONLY | O_CLOEXEC)
        while fd == -1 && errno == EINTR { fd = open(path, O_WRONLY | O_CLOEXEC) }
        try check("open", path: path, fd)
        defer { close(fd) }
        try writeAll(fd, [UInt8(ascii: "0")])
    }

    public func releaseContainer(execFifo path: String, pid: pid_t) throws {
        // O_NONBLOCK: open(2) for reading does not wait for a writer, so a container
        // that died before it opened its end cannot hang `start` here.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        try check("open", path: path, fd)
        defer { close(fd) }
        var byte: UInt8 = 0
        while true {
            let count = read(fd, &byte, 1)
            if count == 1 { break }
            if count == -1 && errno != EAGAIN && errno != EINTR { throw SyscallError("read", path: path) }
            // Nothing yet (or no writer yet): is the container still there to write?
            guard kill(pid, 0) == 0, processStat(pid).map({ $0.state != "Z" }) ?? false else {
                throw ContainerError(step: "start the container", reason: "its process \(pid) ended before it could start")
            }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, 10)
        }
        // The fifo gone is what says "running" from now on.
        try removeFile(path)
    }

    public func status(recorded: ContainerStatus, alive: Bool, execFifoExists: Bool) throws -> ContainerStatus {
        guard alive else { return .stopped }
        if recorded == .creating { return .creating }
        return execFifoExists ? .created : .running
    }

    public func removeContainer(directory: String) throws {
        for name in ["exec.fifo", "state", "state.new"] {
            do { try removeFile(directory + "/" + name) } catch  where error.errno == ENOENT {
            } catch {
                throw error
            }
        }
        try removeDirectory(directory)
    }
}
