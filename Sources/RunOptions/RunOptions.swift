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

    /// For chapter 3's breakout lab: enter the rootfs with chroot(2) instead of
    /// pivot_root(2), the weak way. Hidden: it exists to be broken.
    @Flag(name: .customLong("unsafe-chroot"), help: .hidden)
    public var chrootOnly = false

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
        // After a leading "--" everything is the command, as on the fast path.
        if command.first != "--" { request.takeImage() }
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
    /// The command and its arguments, as execve(2) will see them (a "--" that ended
    /// the flags is gone).
    public var command: [String] = []
    /// `run IMAGE -- COMMAND`: the image to run (chapter 5); nil for the default one.
    public var image: String?

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
        var spec = ContainerSpec(command: command)
        // Parsed first: bad input must fail before anything (the default rootfs
        // included) is made.
        spec.limits = try ResourceLimits(memory: memory, pidsLimit: pidsLimit, cpus: cpus)
        spec.hostname = hostname
        spec.useInit = useInit
        spec.readOnlyRootfs = readOnly
        spec.chrootOnly = chrootOnly
        spec.programName = programName
        try applySecurity(to: &spec)
        if let image {
            guard stage.includes(.layers) else {
                throw ContainerError(step: "check the request", reason: "images come in chapter 5: run \(image) at chapter 5's stage or later")
            }
            guard rootfs == nil else {
                throw ContainerError(step: "check the request", reason: "give an image or --rootfs DIR, not both")
            }
            if spec.command.isEmpty { spec.command = imageCommand(image) }
        }
        // Bad input must fail before the default rootfs is built: nothing left behind.
        try spec.validateRequest(stage: stage)
        spec.removeWhenDone = removeWhenDone
        if stage.includes(.layers) && rootfs == nil {
            // Chapter 5: the image (the default one is built on first use, like the
            // rootfs of earlier stages), on an overlay of the container's own.
            let layers = try image.map(imageLayers) ?? ensureDefaultImage(announceAs: programName)
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
    /// Chapter 7's flags into the spec, checked: an unknown capability, --security-opt
    /// key or a bad profile file is an error before anything exists.
    func applySecurity(to spec: inout ContainerSpec) throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError { ContainerError(step: "check the request", reason: reason) }
        spec.privileged = privileged
        spec.capabilities = try requestedCapabilities(adding: capAdd, dropping: capDrop)
        spec.securityFlagsGiven = !capAdd.isEmpty || !capDrop.isEmpty || !securityOpt.isEmpty || cgroupns != nil
        switch cgroupns {
        case nil, "private": spec.hostCgroupNamespace = false
        case "host": spec.hostCgroupNamespace = true
        case let other?: throw invalid("--cgroupns \(ContainerSpec.quoted(other)): say private or host")
        }
        for option in securityOpt {
            // Docker takes key=value, and the older key:value.
            let separator = option.firstIndex { $0 == "=" || $0 == ":" }
            let key = separator.map { String(option[..<$0]) } ?? option
            let value = separator.map { String(option[option.index(after: $0)...]) }
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
                spec.seccomp = value == "unconfined" ? .unconfined : .profile(try readSeccompProfile(value))
            default:
                throw invalid(
                    "--security-opt \(ContainerSpec.quoted(option)): unknown key \(ContainerSpec.quoted(key)) — known: no-new-privileges, seccomp (apparmor and label need security modules this runtime does not drive)"
                )
            }
        }
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
            // Each flag once; -m is --memory.
            let flag = word == "-m" ? "--memory" : word
            guard !seen.contains(flag) else { return nil }
            seen.insert(flag)
            switch flag {
            case "--init": useInit = true
            case "--read-only": readOnly = true
            case "--rm": removeWhenDone = true
            case "--unsafe-chroot": chrootOnly = true
            case "--privileged": privileged = true
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
            default:
                return nil
            }
        }
        // No command: let ArgumentParser read it, and say what is wrong in its words.
        return nil
    }
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
