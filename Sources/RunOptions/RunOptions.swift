import ArgumentParser
import Glibc
import Runtime

/// The flags of `scratch run`, shared with `workbook run` so the learner's runtime and
/// the reference take the same command line, and the same checks can drive both.
public struct RunFlags: ParsableArguments {
    // `.unconditional`: the next word is the name even when it starts with "-", so
    // `--hostname -x` gets our check's clear words, not "Missing value".
    @Option(parsing: .unconditional, help: "Container hostname (default: the container's id).")
    public var hostname: String?

    @Flag(help: "Run an init as PID 1 that forwards signals and reaps orphans.")
    public var `init` = false

    @Option(
        help: ArgumentHelp(
            "Directory to use as the container's root filesystem, as it is: no overlay, its writes stay in it (default: the busybox image, on an overlay).",
            valueName: "dir"))
    public var rootfs: String?

    @Flag(name: .customLong("read-only"), help: "Mount the container's root filesystem as read only.")
    public var readOnly = false

    @Flag(name: .customLong("rm"), help: "Remove the container's layer when it exits (without it: kept until `scratch rm`).")
    public var removeWhenDone = false

    // Chapter 4's limits, in Docker's names and units. `.unconditional` takes the next
    // word as the value even when it starts with "-", so `--memory -5m` is refused by
    // our check with a clear message rather than read as an unknown flag.
    @Option(
        name: [.customShort("m"), .long], parsing: .unconditional,
        help: ArgumentHelp("Memory limit: a number with a unit b, k, m or g (e.g. 64m).", valueName: "bytes"))
    public var memory: String?

    @Option(
        name: .customLong("pids-limit"), parsing: .unconditional,
        help: ArgumentHelp("How many processes the container may have.", valueName: "n"))
    public var pidsLimit: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("How much CPU the container may use, in CPUs (e.g. 0.5).", valueName: "n"))
    public var cpus: String?

    // Chapter 6 — volumes, in Docker's names; each may be given many times.
    // `.unconditionalSingleValue`: the next word is the value even when it starts
    // with "-", as for the limits, so `-v -x` reaches our check.
    @Option(
        name: [.customShort("v"), .customLong("volume")], parsing: .unconditionalSingleValue,
        help: ArgumentHelp("Bind a host path or a named volume: HOST:CTR[:ro|rw] or NAME:CTR[:ro|rw|nocopy].", valueName: "source:target"))
    public var volume: [String] = []

    @Option(
        parsing: .unconditionalSingleValue,
        help: ArgumentHelp("Mount a fresh tmpfs: CTR[:size=64m,mode=1777,ro,exec].", valueName: "target[:options]"))
    public var tmpfs: [String] = []

    @Option(
        parsing: .unconditionalSingleValue,
        help: ArgumentHelp(
            "Docker's long form: type=bind|volume|tmpfs,source=…,target=…[,readonly][,tmpfs-size=…][,tmpfs-mode=…][,volume-nocopy].",
            valueName: "spec"))
    public var mount: [String] = []

    // Chapter 7, in Docker's names.
    @Flag(
        help:
            "Give the container every privilege: all capabilities, no seccomp filter, no_new_privs off, no masked or read-only /proc paths, every device. Root in it is then root on the host (chapter 7 says why)."
    )
    public var privileged = false

    @Option(
        name: .customLong("cap-add"), parsing: .singleValue,
        help: ArgumentHelp("Add a capability to Docker's default 14 (SYS_ADMIN, cap_net_admin, ALL; repeatable).", valueName: "cap"))
    public var capAdd: [String] = []

    @Option(
        name: .customLong("cap-drop"), parsing: .singleValue,
        help: ArgumentHelp("Drop a capability (CHOWN, ALL; repeatable).", valueName: "cap"))
    public var capDrop: [String] = []

    @Option(
        name: .customLong("security-opt"), parsing: .singleValue,
        help: ArgumentHelp(
            "no-new-privileges=false, seccomp=unconfined or seccomp=FILE (a Docker/OCI JSON profile); repeatable.", valueName: "key=value"))
    public var securityOpt: [String] = []

    @Option(
        name: .customLong("cgroupns"),
        help: ArgumentHelp("private (default: a cgroup namespace of its own, its group shown as /) or host.", valueName: "mode"))
    public var cgroupns: String?

    // Chapter 8.
    @Flag(
        help:
            "Run in a user namespace of its own (always, when the caller is not root: rootless). Container root is then the caller on the host; the maps are automatic: with a range for the caller in /etc/subuid and /etc/subgid, ids 0-65536 (0 the caller, 1.. the range, through newuidmap/newgidmap), else the caller's one id."
    )
    public var userns = false

    // Chapter 9, in Docker's names.
    @Option(
        help: ArgumentHelp(
            "bridge (default: a veth pair to the bridge scratch0, an address, NAT out), none (only lo), host (the host's network) or cni:NAME.",
            valueName: "mode"))
    public var network: String?

    @Option(
        name: [.customShort("p"), .customLong("publish")], parsing: .singleValue,
        help: ArgumentHelp("Publish a container port on the host: [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp] (repeatable).", valueName: "port"))
    public var publish: [String] = []

    /// For chapter 3's breakout lab: enter the rootfs with chroot(2) instead of
    /// pivot_root(2), the weak way. Hidden: it exists to be broken.
    @Flag(name: .customLong("unsafe-chroot"), help: .hidden)
    public var chrootOnly = false

    // Chapter 6 — the process's configuration: environment, user, working directory,
    // entrypoint, and an OCI config file. (The volumes' flags have a block of their
    // own.) `.unconditional`: `-e ''`, `-e =x`, `-w -x` reach our checks, which say
    // what is wrong, rather than ArgumentParser's "Missing value".
    @Option(
        name: [.customShort("e"), .customLong("env")], parsing: .unconditionalSingleValue,
        help: ArgumentHelp("Set a variable: K=V, or K to pass the host's K (left out if unset there). Repeatable.", valueName: "K=V"))
    public var env: [String] = []

    @Option(
        name: .customLong("env-file"), parsing: .unconditionalSingleValue,
        help: ArgumentHelp("Read variables from a file of K=V and K lines (# comments, blank lines; no quotes). Repeatable.", valueName: "file"))
    public var envFile: [String] = []

    @Option(
        name: [.customShort("u"), .long], parsing: .unconditional,
        help: ArgumentHelp("Run as UID[:GID] or NAME[:GROUP] from the image's /etc/passwd and /etc/group.", valueName: "user"))
    public var user: String?

    @Option(
        name: [.customShort("w"), .long], parsing: .unconditional,
        help: ArgumentHelp("The command's working directory, absolute; made if the image lacks it.", valueName: "dir"))
    public var workdir: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Replace the image's Entrypoint (and drop its Cmd), as Docker does; \"\" clears it.", valueName: "program"))
    public var entrypoint: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Read an OCI runtime-spec config.json (`scratch spec` writes one); flags override it.", valueName: "file"))
    public var config: String?

    public init() {}
}

/// `scratch run`'s command line: the flags, then the command, as Docker reads it.
public struct RunOptions: ParsableArguments {
    @OptionGroup public var flags: RunFlags

    // As Docker reads it: the first word that is not a flag starts the command and
    // everything after it is the command's, so `run sh -c 'echo hi'` needs no "--".
    // `.captureForPassthrough` stops at that word — and at an unknown flag too, which
    // `validate()` below turns back into an error. (`workbook run N` has a positional
    // and flags of its own before the command: it uses `LearnerRunOptions`.)
    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The command to run and its arguments.", valueName: "command"))
    public var command: [String] = []

    public mutating func validate() throws {
        guard let first = command.first, first.hasPrefix("-"), first != "--" else { return }
        let name = String(first.prefix { $0 != "=" })
        if name == "--help" || name == "-h" { throw CleanExit.helpRequest() }
        // An unknown flag lands first in `command`: refuse it rather than run it as a
        // program called "--bogus".
        throw ValidationError(
            "Unknown option '\(first)' — see `run --help` for the flags; to run a command whose name starts with '-', put -- before it")
    }

    public init() {}

    /// The same flags as plain values.
    public var request: RunRequest { flags.request(command: command) }
}

/// `workbook run N`'s command line: the same flags, and the command after `--`. The
/// workbook has flags of its own (`--reference`) after the chapter number, so the
/// command cannot start at the first word that is not a `run` flag.
public struct LearnerRunOptions: ParsableArguments {
    @OptionGroup public var flags: RunFlags

    @Argument(parsing: .remaining, help: ArgumentHelp("-- then the command to run and its arguments.", valueName: "command"))
    public var command: [String] = []

    public init() {}

    public var request: RunRequest { flags.request(command: command) }
}

extension RunFlags {
    /// The flags as plain values, with `command` (a leading "--" dropped).
    func request(command: [String]) -> RunRequest {
        var request = RunRequest(
            hostname: hostname, useInit: `init`, rootfs: rootfs, readOnly: readOnly, removeWhenDone: removeWhenDone, memory: memory,
            pidsLimit: pidsLimit, cpus: cpus, chrootOnly: chrootOnly, privileged: privileged, capAdd: capAdd, capDrop: capDrop,
            securityOpt: securityOpt, cgroupns: cgroupns, command: command.first == "--" ? Array(command.dropFirst()) : command)
        request.environment = env
        request.environmentFiles = envFile
        request.user = user
        request.workingDirectory = workdir
        request.entrypoint = entrypoint
        request.configFile = config
        request.userns = userns
        request.network = network
        request.publish = publish
        // After a leading "--" everything is the command, as on the fast path.
        if command.first != "--" { request.takeImage() }
        // Chapter 6's volumes.
        request.volumes = volume
        request.tmpfs = tmpfs
        request.mounts = mount
        return request
    }
}

/// What `run`'s flags ask for, as plain values: from ArgumentParser (`RunOptions`), or
/// from the hand-written reader below on scratch's fast path.
public struct RunRequest: Equatable, Sendable {
    public var hostname: String?
    public var useInit = false
    public var rootfs: String?
    public var readOnly = false
    public var removeWhenDone = false
    public var memory: String?
    public var pidsLimit: String?
    public var cpus: String?
    public var chrootOnly = false
    public var privileged = false
    public var capAdd: [String] = []
    public var capDrop: [String] = []
    public var securityOpt: [String] = []
    public var cgroupns: String?
    /// Chapter 8's `--userns`.
    public var userns = false
    /// Chapter 9's `--network` and `-p`, as written.
    public var network: String?
    public var publish: [String] = []
    /// The command and its arguments, as execve(2) will see them (a "--" that ended
    /// the flags is gone).
    public var command: [String] = []
    /// `run IMAGE -- COMMAND`: the image to run (chapter 5); nil for the default one.
    public var image: String?
    // Chapter 6 — volumes, as written: `-v`, `--tmpfs`, `--mount` (read in `spec`).
    public var volumes: [String] = []
    public var tmpfs: [String] = []
    public var mounts: [String] = []
    /// An OCI config's `mounts` (bind, tmpfs), already read (`--config`): under the
    /// flags, which replace a config mount on the same target.
    public var configMounts: [Mount] = []

    // Chapter 6 — the process's configuration, as given (checked in `spec`).
    /// `-e` values in order: K=V, or K for the host's K.
    public var environment: [String] = []
    /// `--env-file` paths in order; their variables go under -e's.
    public var environmentFiles: [String] = []
    public var user: String?
    public var workingDirectory: String?
    /// `--entrypoint`: replaces the image's Entrypoint and drops its Cmd ("" clears it).
    public var entrypoint: String?
    /// `--config FILE`: scratch reads it (module RuntimeConfig) into the fields below
    /// and the others, under the flags, before `spec` is called.
    public var configFile: String?
    /// An OCI config's process.env: over the image's Env, under --env-file and -e.
    public var configEnvironment: [String] = []
    /// An OCI config's process.user.additionalGids.
    public var additionalGroups: [UInt32] = []
    /// Chapter 7: the profiles `--security-opt seccomp=FILE` names, by path, read by
    /// RuntimeConfig (`resolvingSecurityFiles`) before `spec` is called, so this module
    /// and the plain `scratch run` read no JSON.
    public var seccompProfiles: [String: SeccompProfile] = [:]

    /// `IMAGE -- COMMAND...` (or `IMAGE --`): one word, then "--", names an image. Any
    /// other command line is the command itself, as before images.
    mutating func takeImage() {
        guard command.count >= 2, command[1] == "--", !command[0].hasPrefix("-") else { return }
        image = command[0]
        command = Array(command.dropFirst(2))
    }

    /// The container spec these flags describe. The default rootfs is built on first
    /// use, so a fresh machine can `scratch run -- sh` at once.
    public func spec(stage: Stage, programName: String) throws -> ContainerSpec {
        // scratch reads the file (RuntimeConfig) before this, and clears the path; a
        // command line that never did must not run as if the file had been read.
        if let configFile {
            throw ContainerError(
                step: "check the request", reason: "--config \(configFile): only `scratch run` reads config files — run it with scratch")
        }
        // Chapter 6's flags need chapter 6's stage, as --memory needs chapter 4's.
        if !stage.includes(.configuration) {
            let given = [
                ("-e", !environment.isEmpty), ("--env-file", !environmentFiles.isEmpty), ("-v", !volumes.isEmpty),
                ("--tmpfs", !tmpfs.isEmpty), ("--mount", !mounts.isEmpty), ("--user", user != nil), ("-w", workingDirectory != nil),
                ("--entrypoint", entrypoint != nil),
            ].filter(\.1).map(\.0)
            if !given.isEmpty {
                throw ContainerError(
                    step: "check the request",
                    reason:
                        "\(given.joined(separator: ", ")): the container's configuration (variables, volumes, user, working directory, entrypoint) comes in chapter 6 — run at chapter 6's stage or later"
                )
            }
        }
        var spec = ContainerSpec(command: command)
        // Parsed first: bad input must fail before anything (the default rootfs
        // included) is made.
        spec.limits = try ResourceLimits(memory: memory, pidsLimit: pidsLimit, cpus: cpus)
        spec.hostname = hostname
        spec.useInit = useInit
        spec.readOnlyRootfs = readOnly
        spec.chrootOnly = chrootOnly
        spec.programName = programName
        // Chapter 6: the volumes, read and checked before anything is made.
        let flagMounts = try volumes.map(Mount.volumeFlag) + tmpfs.map(Mount.tmpfsFlag) + mounts.map(Mount.mountFlag)
        let flagTargets = Set(flagMounts.map(\.target))
        spec.mounts = configMounts.filter { !flagTargets.contains($0.target) } + flagMounts
        try applySecurity(to: &spec)
        try applyNetwork(to: &spec, stage: stage)
        var record = ImageRecord()
        if let image {
            guard stage.includes(.layers) else {
                throw ContainerError(step: "check the request", reason: "images come in chapter 5: run \(image) at chapter 5's stage or later")
            }
            guard rootfs == nil else {
                throw ContainerError(step: "check the request", reason: "give an image or --rootfs DIR, not both")
            }
            record = try imageRecord(image)
        }
        try configureProcess(&spec, image: record)
        // Bad input must fail before the default rootfs is built: nothing left behind.
        try spec.validateRequest(stage: stage)
        spec.removeWhenDone = removeWhenDone
        if stage.includes(.layers) && rootfs == nil {
            // Chapter 5: the image (the default one is built on first use, like the
            // rootfs of earlier stages), on an overlay of the container's own.
            let layers = image == nil ? try ensureDefaultImage(announceAs: programName) : record.layers
            let container = ContainerLayers(
                store: layerStore(), layers: layers, directory: containerLayerRoot() + "/" + spec.id,
                inMemory: removeWhenDone)
            spec.layers = container
            spec.image = image ?? defaultImageName
            spec.rootfs = container.mountPoint
        } else if stage.includes(.rootFilesystem) {
            spec.rootfs = try rootfs ?? ensureDefaultRootfs(announceAs: programName)
        } else {
            spec.rootfs = rootfs
        }
        return spec
    }
}

extension RunRequest {
    /// Chapter 6: the command, the environment, the user and the working directory,
    /// from the image's config under the flags, as Docker combines them. Runs in step
    /// 1: an env file that is missing or malformed fails before anything exists.
    func configureProcess(_ spec: inout ContainerSpec, image: ImageRecord) throws(ContainerError) {
        // Docker's rule: the command line replaces Cmd and keeps Entrypoint; no command
        // runs Entrypoint + Cmd; --entrypoint replaces Entrypoint and drops Cmd (the
        // image's Cmd was written for its own Entrypoint).
        let entrypoint = self.entrypoint.map { $0.isEmpty ? [] : [$0] } ?? image.entrypoint
        let cmd = self.entrypoint == nil ? image.cmd : []
        spec.command = entrypoint + (command.isEmpty ? cmd : command)
        var sources = EnvironmentSources()
        sources.image = image.environment
        sources.config = configEnvironment
        for path in environmentFiles { sources.envFileLines += try environmentFileLines(path) }
        for value in environment {
            if let variable = try environmentFlag(value) { sources.flags.append(variable) }
        }
        spec.environmentSources = sources
        // The reference's merge, before the defaults: what the state records for
        // `scratch exec`.
        let merged = Reference().environment(
            image: sources.image, config: sources.config, envFileLines: sources.envFileLines, flags: sources.flags, defaults: [])
        if !merged.isEmpty { spec.environment = merged }
        spec.user = user ?? image.user
        spec.additionalGroups = additionalGroups
        spec.workingDirectory = workingDirectory ?? image.workingDirectory
    }

    /// Chapter 7's flags into the spec, checked: an unknown capability, --security-opt
    /// key or a bad profile file is an error before anything exists.
    func applySecurity(to spec: inout ContainerSpec) throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError { ContainerError(step: "check the request", reason: reason) }
        spec.privileged = privileged
        // Chapter 8: not root on the host, a user namespace is the only way in.
        spec.userNamespace = userns || getuid() != 0
        spec.capabilities = try requestedCapabilities(adding: capAdd, dropping: capDrop)
        spec.securityFlagsGiven = !capAdd.isEmpty || !capDrop.isEmpty || !securityOpt.isEmpty || cgroupns != nil
        switch cgroupns {
        case nil, "private": spec.hostCgroupNamespace = false
        case "host": spec.hostCgroupNamespace = true
        case let other?: throw invalid("--cgroupns \(ContainerSpec.quoted(other)): say private or host")
        }
        for option in securityOpt {
            let (key, value) = Self.securityOption(option)
            switch key {
            case "no-new-privileges":
                switch value {
                case nil, "true": spec.noNewPrivileges = true
                case "false": spec.noNewPrivileges = false
                default:
                    throw invalid("--security-opt \(ContainerSpec.quoted(option)): no-new-privileges takes true or false")
                }
            case "seccomp":
                guard let value, !value.isEmpty else {
                    throw invalid("--security-opt seccomp needs a value: seccomp=unconfined or seccomp=FILE (a JSON profile)")
                }
                if value == "unconfined" {
                    spec.seccomp = .unconfined
                } else if let profile = seccompProfiles[value] {
                    spec.seccomp = .profile(profile)
                } else {
                    // Running without the filter the command line asked for would be
                    // a silent loss of confinement.
                    throw invalid(
                        "--security-opt seccomp=\(value): the profile file was not read — scratch and `workbook run` read it (RuntimeConfig's resolvingSecurityFiles) before the container is made"
                    )
                }
            default:
                throw invalid(
                    "--security-opt \(ContainerSpec.quoted(option)): unknown key \(ContainerSpec.quoted(key)) — known: no-new-privileges, seccomp (apparmor and label need security modules this runtime does not drive)"
                )
            }
        }
    }

    /// Chapter 9's flags into the spec. The default is Docker's, bridge — from chapter
    /// 9's stage on, and for root: a user namespace cannot make links on the host, so
    /// a rootless container keeps the host's network unless it asks for none.
    public func applyNetwork(to spec: inout ContainerSpec, stage: Stage) throws(ContainerError) {
        spec.networkFlagsGiven = network != nil || !publish.isEmpty
        if let network {
            spec.network = try NetworkMode(parsing: network)
        } else if stage.includes(.network) && getuid() == 0 {
            spec.network = .bridge
        }
        spec.publishedPorts = try publish.map { text throws(ContainerError) in try PublishedPort(parsing: text) }
    }

    /// A `--security-opt` as key and value: Docker takes key=value, and the older
    /// key:value.
    static func securityOption(_ option: String) -> (key: String, value: String?) {
        let separator = option.firstIndex { $0 == "=" || $0 == ":" }
        let key = separator.map { String(option[..<$0]) } ?? option
        return (key, separator.map { String(option[option.index(after: $0)...]) })
    }

    /// The profile file a `--security-opt` names (`seccomp=FILE`), or nil.
    public static func seccompProfilePath(_ option: String) -> String? {
        let (key, value) = securityOption(option)
        guard key == "seccomp", let value, !value.isEmpty, value != "unconfined" else { return nil }
        return value
    }

    /// Reads `run`'s flags by hand, for the plain command lines scripts and
    /// benchmarks use: `--flag value` and `--flag`, each at most once, then the
    /// command — after `--`, or from the first word that is not a flag, as Docker
    /// reads it. Anything else (--help, --flag=value, an unknown or repeated flag, a
    /// missing value, no command) gives nil, and ArgumentParser, which owns the errors
    /// and the help text, reads the command line instead.
    ///
    /// Why by hand: ArgumentParser finds a command's options by reflection, whose
    /// type lookups walk every protocol conformance in the binary. That is about 3 ms
    /// of a release `scratch run` — half of what crun needs for a whole container.
    /// RunOptionsTests proves that both readers agree on every command line this one
    /// accepts.
    public init?<Arguments: Collection>(plainArguments arguments: Arguments) where Arguments.Element == String {
        self.init()
        var seen: Set<String> = []
        var rest = arguments[...]
        while let word = rest.popFirst() {
            // "--" ends the flags: the command is what follows. A first word that
            // is not a flag starts the command, and the rest is its own: in
            // `run sh -c 'echo hi'`, "-c" belongs to sh.
            if word == "--" {
                command = Array(rest)
                return
            }
            if !word.hasPrefix("-") {
                command = [word] + Array(rest)
                takeImage()
                return
            }
            // Chapter 6's volume flags may be repeated: each adds a mount.
            if word == "-v" || word == "--volume" || word == "--tmpfs" || word == "--mount" || word == "-p" || word == "--publish" {
                guard let value = rest.popFirst() else { return nil }
                switch word {
                case "--tmpfs": tmpfs.append(value)
                case "--mount": mounts.append(value)
                case "-p", "--publish": publish.append(value)
                default: volumes.append(value)
                }
                continue
            }
            // Each flag once (-e and --env-file may repeat); short names are long ones.
            let flag = Self.shortFlags[word] ?? word
            guard !seen.contains(flag) else { return nil }
            if flag != "--env" && flag != "--env-file" { seen.insert(flag) }
            switch flag {
            case "--init": useInit = true
            case "--read-only": readOnly = true
            case "--rm": removeWhenDone = true
            case "--unsafe-chroot": chrootOnly = true
            case "--privileged": privileged = true
            case "--userns": userns = true
            case "--hostname":
                // Any next word, as for the limits: `--hostname -x` reaches the
                // hostname check, which says what is wrong with it.
                guard let value = rest.popFirst() else { return nil }
                hostname = value
            case "--rootfs":
                // A path that looks like a flag: ArgumentParser's error.
                guard let value = rest.popFirst(), !value.hasPrefix("-") else { return nil }
                rootfs = value
            case "--memory":
                // The limits take any next word: `--memory -5m` must reach our own
                // check, which says what is wrong with it.
                guard let value = rest.popFirst() else { return nil }
                memory = value
            case "--pids-limit":
                guard let value = rest.popFirst() else { return nil }
                pidsLimit = value
            case "--cpus":
                guard let value = rest.popFirst() else { return nil }
                cpus = value
            // Chapter 6: any next word, as ArgumentParser reads them (.unconditional).
            case "--env":
                guard let value = rest.popFirst() else { return nil }
                environment.append(value)
            case "--env-file":
                guard let value = rest.popFirst() else { return nil }
                environmentFiles.append(value)
            case "--user":
                guard let value = rest.popFirst() else { return nil }
                user = value
            case "--workdir":
                guard let value = rest.popFirst() else { return nil }
                workingDirectory = value
            case "--entrypoint":
                guard let value = rest.popFirst() else { return nil }
                entrypoint = value
            case "--config":
                guard let value = rest.popFirst() else { return nil }
                configFile = value
            case "--network":
                guard let value = rest.popFirst() else { return nil }
                network = value
            default:
                return nil
            }
        }
        // No command: let ArgumentParser read it, and say what is wrong in its words —
        // unless a config file gives it (process.args).
        if configFile == nil { return nil }
    }
}

extension RunRequest {
    /// `workbook run N`'s flags and command read by hand, as `LearnerRunOptions` reads
    /// them: the flags end with "--" (the command is never its first plain word, as it
    /// is for scratch), and the command after it may itself be `IMAGE -- COMMAND` (the
    /// checks' `workbook run 5 --rm -- NAME:TAG -- CMD`). Any other shape, or a command
    /// that starts with a dash, gives nil: ArgumentParser reads that one.
    public init?<Arguments: Collection>(plainLearnerArguments arguments: Arguments) where Arguments.Element == String {
        let words = Array(arguments)
        // The first "--" ends the flags only when it is no flag's value (`--hostname --`).
        guard var request = RunRequest(plainArguments: words), request.image == nil, let end = words.firstIndex(of: "--"),
            end == 0 || !Self.valueFlags.contains(words[end - 1]),
            Array(words[(end + 1)...]) == request.command, request.command.first?.hasPrefix("-") != true
        else { return nil }
        request.takeImage()
        self = request
    }

    /// No flags, no command: what other modules (RuntimeConfig) start from.
    public static let empty = RunRequest()

    /// The flags the hand reader reads a value after.
    static let valueFlags: Set<String> = [
        "-v", "--volume", "--tmpfs", "--mount", "--hostname", "--rootfs", "--memory", "-m", "--pids-limit", "--cpus", "--env", "-e",
        "--env-file", "--user", "-u", "--workdir", "-w", "--entrypoint", "--config", "--network", "-p", "--publish",
    ]

    /// The short flags the hand reader knows, by their long names.
    static let shortFlags = ["-m": "--memory", "-e": "--env", "-u": "--user", "-w": "--workdir"]
}

/// Creating namespaces, mounting and setting a hostname need root. Say so up front
/// instead of failing at the first syscall with "Operation not permitted".
public func requireRoot(_ programName: String) throws(ContainerError) {
    if geteuid() != 0 {
        throw ContainerError(
            step: "check privileges",
            reason: "\(programName) needs root to create namespaces (run it with sudo, or as root); rootless containers come in chapter 8")
    }
}

/// Parses the command line like `Command.main()` does, but with Docker's exit code
/// for bad input: 125, where ArgumentParser would use 64.
public func parseOrExit<Command: ParsableCommand>(_ type: Command.Type) -> ParsableCommand {
    do {
        return try Command.parseAsRoot()
    } catch {
        let code = Command.exitCode(for: error)
        if code == .success { Command.exit(withError: error) }
        let message = Command.fullMessage(for: error)
        writeStandardError(message + "\n")
        exit(code == .validationFailure ? ExitCode.runtimeFailed : code.rawValue)
    }
}

func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { buffer in _ = write(2, buffer.baseAddress, buffer.count) }
}
