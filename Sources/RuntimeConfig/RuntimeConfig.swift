import FoundationEssentials
import Glibc
import RunOptions
import Runtime
import Syscalls

// Chapter 6 — `scratch run --config config.json`: an OCI runtime-spec config, the
// contract between a higher-level tool (Docker, Podman, Kubernetes' CRI) and the
// runtime. The tool writes what the container should be; the runtime makes it so.
//
// A module of its own, apart from Runtime: JSON goes through Foundation's decoder
// (FoundationEssentials: no ICU), and only a run given --config calls it — the plain
// `scratch run` path never touches JSON.

/// An OCI config's `mounts`, in a form that does not depend on JSON: what volumes
/// (bind, tmpfs) will mount once they are in.
public struct ConfigMount: Equatable, Sendable {
    public var destination: String
    public var type: String?
    public var source: String?
    public var options: [String]

    public init(destination: String, type: String?, source: String?, options: [String]) {
        self.destination = destination
        self.type = type
        self.source = source
        self.options = options
    }
}

/// What a config file asks for: the `run` request it stands for, and its mounts.
public struct LoadedConfig: Sendable {
    public var request = RunRequest.empty
    public var mounts: [ConfigMount] = []
}

/// `flags` with the config file they name (`--config`) underneath: the file says what
/// the container is, and each flag given on the command line replaces what the file
/// says about the same thing (-e and --env-file add to its `process.env`, over it).
public func applyingConfigFile(to flags: RunRequest) throws(ContainerError) -> RunRequest {
    guard let path = flags.configFile else { return flags }
    let loaded = try loadConfig(path)
    var request = loaded.request
    request.configMounts = try volumeMounts(loaded.mounts, bundle: absolutePath(parentDirectory(of: path))) { reason in
        ContainerError(step: "read the config", reason: "\(path): \(reason)")
    }
    if flags.hostname != nil { request.hostname = flags.hostname }
    if flags.rootfs != nil || flags.image != nil {
        request.rootfs = flags.rootfs
        request.image = flags.image
    }
    if !flags.command.isEmpty { request.command = flags.command }
    request.useInit = request.useInit || flags.useInit
    request.readOnly = request.readOnly || flags.readOnly
    request.removeWhenDone = flags.removeWhenDone
    request.chrootOnly = flags.chrootOnly
    // Chapter 7's flags: the file's own (process.capabilities, linux.seccomp) are
    // refused, so the flags are all there is.
    request.privileged = flags.privileged
    request.capAdd = flags.capAdd
    request.capDrop = flags.capDrop
    request.securityOpt = flags.securityOpt
    request.cgroupns = flags.cgroupns
    request.seccompProfiles = flags.seccompProfiles
    // Chapter 9's flags: the file's linux.namespaces is not read yet, so they are
    // all there is.
    request.network = flags.network
    request.publish = flags.publish
    if flags.memory != nil { request.memory = flags.memory }
    if flags.pidsLimit != nil { request.pidsLimit = flags.pidsLimit }
    if flags.cpus != nil { request.cpus = flags.cpus }
    request.environment = flags.environment
    request.environmentFiles = flags.environmentFiles
    if flags.user != nil {
        request.user = flags.user
        request.additionalGroups = []
    }
    if flags.workingDirectory != nil { request.workingDirectory = flags.workingDirectory }
    request.entrypoint = flags.entrypoint
    // Volumes given as flags come on top of the file's mounts (a flag's target
    // replaces the file's mount there).
    request.volumes = flags.volumes
    request.tmpfs = flags.tmpfs
    request.mounts = flags.mounts
    return request
}

/// `path` from the working directory: a bind's source must be absolute.
private func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    guard let buffer = getcwd(nil, 0) else { return path }
    defer { free(buffer) }
    let directory = String(cString: buffer)
    return path == "." ? directory : directory + "/" + path
}

/// `run --config`: the kernel filesystems scratch mounts itself, with its own options
/// (chapter 3): `runc spec` lists them in every config, and they are taken as asked
/// for. Their options in the file are not applied. (A bundle's `create` reads every
/// entry and mounts it as listed: Runtime/BundleMounts.swift.)
private let runtimeMounts: Set<String> = [
    "proc /proc", "tmpfs /dev", "devpts /dev/pts", "tmpfs /dev/shm", "sysfs /sys",
    // What `runc spec` and Podman list beside them. The container's own cgroup tree
    // is mounted read-only at /sys/fs/cgroup by chapter 7's step; POSIX message
    // queues are not mounted by `run` (its IPC namespace has its own queues all the
    // same).
    "cgroup /sys/fs/cgroup", "mqueue /dev/mqueue",
    // Podman binds a /dev/shm of its own making (shared when containers share IPC);
    // scratch's own tmpfs on /dev/shm stands in for it, so `--ipc container:…`
    // sharing of /dev/shm does not carry over.
    "bind /dev/shm",
]

/// `run --config`: a config's `mounts` as chapter 6's volumes: binds (`type` "bind",
/// or a `bind`/`rbind` option) and tmpfs mounts. A relative bind source is the bundle's, as runc reads it. An
/// option or type scratch does not do yet is an error naming its JSON path: a mount
/// silently skipped would run the container without the data it was written for.
func volumeMounts(_ mounts: [ConfigMount], bundle: String, invalid: (String) -> ContainerError) throws(ContainerError) -> [Mount] {
    var result: [Mount] = []
    for (index, entry) in mounts.enumerated() {
        let place = "mounts[\(index)]"
        let isBind = entry.type == "bind" || entry.options.contains("bind") || entry.options.contains("rbind")
        let type = isBind ? "bind" : (entry.type ?? "")
        if runtimeMounts.contains(type + " " + entry.destination) { continue }
        switch type {
        case "bind":
            guard let source = entry.source, !source.isEmpty else {
                throw invalid("\(place).source: missing — a bind mount needs the host path to mount")
            }
            var mount = Mount(
                kind: .bind, source: source.hasPrefix("/") ? source : bundle + "/" + source, target: entry.destination,
                origin: "--config " + place)
            for (number, option) in entry.options.enumerated() {
                switch option {
                // Every bind is recursive and rprivate (Volumes.swift says why).
                case "bind", "rbind", "rprivate", "private", "rw": continue
                case "ro": mount.readOnly = true
                // What Podman's binds carry; a remount adds them (Volumes.swift `restrictBind`).
                case "nosuid", "nodev", "noexec": mount.options.append(option)
                case "suid", "dev", "exec": continue
                default:
                    throw invalid(
                        "\(place).options[\(number)]: \"\(option)\" is not supported by scratch yet for a bind mount — it takes ro, rw, bind, rbind, rprivate"
                    )
                }
            }
            result.append(mount)
        case "tmpfs":
            var mount = Mount(kind: .tmpfs, source: "", target: entry.destination, origin: "--config " + place)
            // A tmpfs is nosuid and nodev always (and noexec unless `exec`).
            for option in entry.options where option != "nosuid" && option != "nodev" {
                try mount.takeTmpfsOption(option)
            }
            result.append(mount)
        default:
            throw invalid(
                "\(place): a \"\(type.isEmpty ? "(no type)" : type)\" mount on \(entry.destination) is not supported by scratch yet — it mounts bind and tmpfs entries (and makes /proc, /dev, /dev/pts, /dev/shm and /sys itself)"
            )
        }
    }
    return result
}

/// Reads and checks a config file. Errors name the JSON path: `process.args[1]`.
public func loadConfig(_ path: String) throws(ContainerError) -> LoadedConfig {
    try loadConfig(path, handledByBundle: []).loaded
}

/// Reads and checks a config file; the properties in `handledByBundle` are left to the
/// caller (chapter 10's `create`, which reads them from the same bytes), not refused.
func loadConfig(_ path: String, handledByBundle: Set<String>) throws(ContainerError) -> (loaded: LoadedConfig, bytes: [UInt8]) {
    func invalid(_ reason: String) -> ContainerError {
        ContainerError(step: "read the config", reason: "\(path): \(reason)")
    }
    let bytes: [UInt8]
    do {
        // 16 MiB: runc's configs are kilobytes; `--config /dev/zero` must end here,
        // not when the runtime's memory runs out.
        bytes = try readFile(path, limit: 16 << 20)
    } catch {
        let hint =
            error.errno == ENOENT
            ? " — `scratch spec` writes a starting config.json" : error.errno == EFBIG ? " (more than 16 MiB: not a config.json)" : ""
        throw invalid("\(Errno.describe(error.errno))\(hint)")
    }
    if let problem = jsonSyntaxError(bytes) { throw invalid("not valid JSON: \(problem)") }
    let config: OCIConfig
    do {
        config = try JSONDecoder().decode(OCIConfig.self, from: Data(bytes))
    } catch let error as DecodingError {
        throw invalid(describe(error))
    } catch {
        throw invalid("not valid JSON: \(error)")
    }
    return (try interpret(config, bundle: parentDirectory(of: path), handledByBundle: handledByBundle, invalid: invalid), bytes)
}

/// The config as a `run` request: the properties this runtime does, checked; any
/// property it knows but does not do yet, set, is an error naming it.
func interpret(
    _ config: OCIConfig, bundle: String, handledByBundle: Set<String> = [], invalid: (String) -> ContainerError
) throws(ContainerError) -> LoadedConfig {
    let unsupported = config.unsupportedProperties.filter { !handledByBundle.contains($0) }
    if !unsupported.isEmpty {
        throw invalid(
            "\(unsupported.joined(separator: ", ")): not supported by scratch yet — remove \(unsupported.count == 1 ? "it" : "them") from the config (or leave \(unsupported.count == 1 ? "it" : "them") empty)"
        )
    }
    if let version = config.ociVersion, !version.hasPrefix("1.") {
        throw invalid("ociVersion: \(ContainerSpec.quoted(version)) — scratch reads runtime-spec 1.x configs")
    }
    var loaded = LoadedConfig()
    guard let process = config.process else {
        throw invalid("process: missing — the config must say what to run: \"process\": {\"args\": [\"sh\"], …}")
    }
    guard let args = process.args else { throw invalid("process.args: missing — the command and its arguments, e.g. \"args\": [\"sh\"]") }
    guard let program = args.first, !program.isEmpty else {
        throw invalid("process.args: empty — give the command and its arguments, e.g. \"args\": [\"sh\"]")
    }
    if process.terminal == true && !handledByBundle.contains("process.terminal") {
        throw invalid(
            "process.terminal: true is not supported yet — set it to false: the container gets scratch's own standard input, output and error")
    }
    var request = RunRequest.empty
    request.command = args
    request.configEnvironment = process.env ?? []
    for (index, variable) in request.configEnvironment.enumerated() where variable.hasPrefix("=") || variable.isEmpty {
        throw invalid("process.env[\(index)]: \(ContainerSpec.quoted(variable)) has no name — write \"NAME=value\"")
    }
    if let cwd = process.cwd {
        if let problem = workingDirectoryProblem(cwd) { throw invalid("process.cwd: \(problem)") }
        if cwd != "/" { request.workingDirectory = cwd }
    }
    if let user = process.user {
        func id(_ value: Int64?, _ path: String) throws(ContainerError) -> UInt32 {
            guard let value else { return 0 }
            guard value >= 0 && value < Int64(UInt32.max) else {
                throw invalid("\(path): \(value) — an id is from 0 to 4294967294")
            }
            return UInt32(value)
        }
        request.user = "\(try id(user.uid, "process.user.uid")):\(try id(user.gid, "process.user.gid"))"
        for (index, gid) in (user.additionalGids ?? []).enumerated() {
            request.additionalGroups.append(try id(gid, "process.user.additionalGids[\(index)]"))
        }
    }
    request.hostname = config.hostname
    if let root = config.root {
        if let path = root.path {
            if path.isEmpty { throw invalid("root.path: empty — the directory holding the container's files, e.g. \"rootfs\"") }
            // Relative to the bundle: the directory that holds config.json.
            request.rootfs = path.hasPrefix("/") ? path : bundle + "/" + path
        }
        request.readOnly = root.readonly ?? false
    }
    if let resources = config.linux?.resources {
        if let limit = resources.memory?.limit, limit > 0 { request.memory = "\(limit)b" }
        if let limit = resources.pids?.limit, limit > 0 { request.pidsLimit = "\(limit)" }
        if let cpu = resources.cpu, let quota = cpu.quota, quota > 0 {
            let period = cpu.period ?? UInt64(ResourceLimits.cpuPeriodMicroseconds)
            if period == 0 { throw invalid("linux.resources.cpu.period: 0 — a period is a positive number of microseconds, e.g. 100000") }
            request.cpus = "\(Double(quota) / Double(period))"
        }
    }
    loaded.request = request
    for (index, mount) in (config.mounts ?? []).enumerated() {
        guard let destination = mount.destination, destination.hasPrefix("/") else {
            throw invalid("mounts[\(index)].destination: missing or relative — an absolute path inside the container")
        }
        loaded.mounts.append(ConfigMount(destination: destination, type: mount.type, source: mount.source, options: mount.options ?? []))
    }
    return loaded
}

/// A decoding error as a JSON path and what was wrong there.
func describe(_ error: DecodingError) -> String {
    func jsonPath(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += (text.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return text.isEmpty ? "the top level" : text
    }
    switch error {
    case .typeMismatch(let type, let context):
        return "\(jsonPath(context.codingPath)): expected \(jsonTypeName(type)) — \(context.debugDescription)"
    case .valueNotFound(let type, let context):
        return "\(jsonPath(context.codingPath)): expected \(jsonTypeName(type)), found null"
    case .keyNotFound(let key, let context):
        return "\(jsonPath(context.codingPath + [key])): missing"
    case .dataCorrupted(let context):
        if context.codingPath.isEmpty {
            let detail = context.underlyingError.map { String(reflecting: $0) } ?? context.debugDescription
            return "not valid JSON: \(detail)"
        }
        return "\(jsonPath(context.codingPath)): \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}

private func jsonTypeName(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: return "a string"
    case is Bool.Type: return "true or false"
    case is [String].Type, is [Any].Type: return "an array"
    case is Int64.Type, is UInt64.Type, is UInt32.Type, is Int.Type: return "a whole number"
    default: return "\(type)"
    }
}
