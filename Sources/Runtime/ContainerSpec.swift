import Glibc
import Syscalls

/// What the user asked for: plain data, checked once before anything is created.
public struct ContainerSpec: Sendable {
    /// The command and its arguments, as execve(2) will see them.
    public var command: [String]
    /// The container's hostname; nil means its id, as Docker does.
    public var hostname: String?
    /// Run our own init as PID 1 and the command under it (chapter 2).
    public var useInit = false
    /// The directory that becomes `/` (chapter 3).
    public var rootfs: String?
    /// The image's layers and the container's own (chapter 5); the rootfs is then
    /// their merged tree. nil with --rootfs DIR, which is used as it is, as runc does.
    public var layers: ContainerLayers?
    /// --rm: throw the container's layer away when it ends. Without it a container run
    /// on layers stays, stopped, until `scratch rm` (`scratch ps -a` lists it).
    public var removeWhenDone = false
    /// The image's name, for `scratch ps` (nil with --rootfs).
    public var image: String?
    /// Mount the rootfs read-only (chapter 3).
    public var readOnlyRootfs = false
    /// For the chroot breakout lab only: enter the rootfs with chroot(2), not pivot_root(2).
    public var chrootOnly = false
    /// Memory, process and CPU limits, enforced with a cgroup (chapter 4).
    public var limits = ResourceLimits()
    /// Chapter 7: --privileged turns off everything below (and masked paths, devices).
    public var privileged = false
    /// Chapter 7: the capabilities the container keeps (--cap-add, --cap-drop).
    public var capabilities = CapabilitySet.dockerDefault
    /// Chapter 7: no_new_privs (`--security-opt no-new-privileges=false` turns it off).
    public var noNewPrivileges = true
    /// Chapter 7: the seccomp profile (`--security-opt seccomp=FILE|unconfined`).
    public var seccomp = SeccompChoice.defaultProfile
    /// Chapter 7: `--cgroupns host` keeps the host's cgroup namespace (Docker's flag).
    public var hostCgroupNamespace = false
    /// Chapter 8: a user namespace of its own — always for a caller who is not root
    /// (rootless), and with `--userns` for root.
    public var userNamespace = false
    /// Chapter 7 asked for explicitly (a flag other than --privileged): refused at an
    /// earlier stage, as the limits are before chapter 4.
    public var securityFlagsGiven = false
    /// Chapter 10: made by `create` from a bundle — left waiting on the exec fifo,
    /// with what the bundle's config asks beyond a `run` (OCILaunch, Lifecycle.swift).
    public var oci: OCILaunch?
    /// A short random id, used for the default hostname and for names on the host.
    public var id: String
    /// How error messages start: "scratch" or "workbook".
    public var programName = "scratch"

    // Chapter 6 — the process's configuration: Environment.swift, User.swift,
    // WorkingDirectory.swift. (Volumes have a block of their own.)
    /// The container's own variables, merged: the image's Env, then --env-file, then
    /// -e. The defaults (PATH, HOSTNAME, HOME, TERM) fill in the names they leave unset.
    public var environment: [String] = []
    /// The same variables, source by source: the child merges them with chapter 6's
    /// `environment` (the learner's code at chapter 6's stage).
    public var environmentSources = EnvironmentSources()
    /// `--user`, or the image's User: UID[:GID] or NAME[:GROUP]; nil runs as root.
    public var user: String?
    /// An OCI config's `process.user.additionalGids`, added to the user's groups.
    public var additionalGroups: [gid_t] = []
    /// `-w`, or the image's WorkingDir; nil is /.
    public var workingDirectory: String?
    // Chapter 6 — volumes (Volumes.swift).
    /// Bind mounts, named volumes and tmpfs mounts, made inside the rootfs before the
    /// pivot.
    public var mounts: [Mount] = []
    /// The named volumes among `mounts`, recorded in the container's state so that
    /// `scratch volume rm` refuses them while the container exists.
    public var namedVolumes: [String] { mounts.filter { $0.kind == .volume }.map(\.source) }

    public init(command: [String], id: String = ContainerSpec.newID()) {
        self.command = command
        self.id = id
    }

    public var effectiveHostname: String { hostname ?? id }

    /// Twelve hex digits, like a short Docker container id.
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return String((String(repeating: "0", count: 16) + hex).suffix(12))
    }

    /// Step 1 of the story: reject bad input before anything exists on the host, so a
    /// mistake leaves nothing behind.
    public func validate(stage: Stage) throws(ContainerError) {
        try validateRequest(stage: stage)
        if stage.includes(.rootFilesystem) {
            guard let rootfs else { throw ContainerError(step: "check the request", reason: "no rootfs given") }
            // On layers the rootfs is the mount point, empty until the child mounts.
            if layers == nil { try validateRootfs(rootfs) }
        }
    }

    /// Everything but the rootfs: what can be checked before the default rootfs is built.
    public func validateRequest(stage: Stage) throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError {
            ContainerError(step: "check the request", reason: reason)
        }
        guard let program = command.first, !program.isEmpty else {
            throw invalid("no command given: say what to run after the flags, e.g. `sh -c 'echo hi'` (put -- before a command that starts with '-')")
        }
        if let hostname, let problem = ContainerSpec.hostnameProblem(hostname) {
            throw invalid("--hostname \(ContainerSpec.quoted(hostname)): \(problem)")
        }
        if !limits.isEmpty && !stage.includes(.cgroups) {
            throw invalid("--memory, --pids-limit and --cpus need cgroups, which come in chapter 4 — run at chapter 4's stage or later")
        }
        try limits.validate()
        // Chapter 8, before the default image is built: a user namespace the kernel
        // refuses, or a range without its helpers, leaves nothing behind.
        if userNamespace { _ = try planUserNamespace() }
        // Rootless, the host's cgroups are root's: on v1 (this book's host) nothing is
        // delegated to users, so a limit could not be kept. Say so rather than run
        // without the limit that was asked for.
        if userNamespace && getuid() != 0 && !limits.isEmpty {
            throw invalid(
                "--memory, --pids-limit and --cpus need a cgroup, and rootless (uid \(getuid())) this runtime has none: the host's cgroups belong to root and none is delegated to this user (cgroup v2 with systemd's Delegate=yes would be); run as root, or without the limit"
            )
        }
        if securityFlagsGiven && !stage.includes(.leastPrivilege) {
            throw invalid(
                "--cap-add, --cap-drop, --security-opt and --cgroupns come in chapter 7 — run at chapter 7's stage or later")
        }
        // Chapter 6: the volumes' flags and their host paths.
        try validateMounts(mounts, stage: stage)
        try validateProcessConfiguration(stage: stage)
    }

    /// Chapter 6's flags: their form only; a user's name is looked up in the image.
    private func validateProcessConfiguration(stage: Stage) throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError {
            ContainerError(step: "check the request", reason: reason)
        }
        if let user, let problem = userProblem(user) {
            throw invalid("--user \(ContainerSpec.quoted(user)): \(problem)")
        }
        if let workingDirectory, let problem = workingDirectoryProblem(workingDirectory) {
            throw invalid("-w \(problem)")
        }
        if (user != nil || workingDirectory != nil) && !stage.includes(.rootFilesystem) {
            throw invalid(
                "--user and -w need the container's own root (its /etc/passwd, its directories), which comes in chapter 3 — run at chapter 3's stage or later"
            )
        }
    }

    /// Whether chapter 7's confinement applies: at its stage, unless --privileged.
    public func isConfined(stage: Stage) -> Bool { stage.includes(.leastPrivilege) && !privileged }

    private func validateRootfs(_ rootfs: String) throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError {
            ContainerError(step: "check the rootfs", reason: reason)
        }
        // stat(2) itself, not a yes/no "exists": ENOENT, ELOOP (a symlink loop) and
        // EACCES each need a different fix, and "does not exist" for a loop sends the
        // user looking for the wrong thing.
        var info = stat()
        if stat(rootfs, &info) != 0 {
            let error = errno
            switch error {
            case ENOENT:
                throw invalid("\(rootfs) does not exist — build the default one with `scratch rootfs build`, or give --rootfs DIR")
            case ELOOP:
                throw invalid(
                    "\(rootfs) is a symbolic link loop (stat: \(Errno.describe(error))) — point --rootfs at the real directory (`ls -l \(rootfs)` shows where the link goes)"
                )
            default:
                throw invalid("stat(\(rootfs)): \(Errno.describe(error)) — give --rootfs a directory you can read")
            }
        }
        if info.st_mode & S_IFMT != S_IFDIR {
            throw invalid("\(rootfs) is not a directory — a rootfs is a directory holding the container's files")
        }
        let resolved = (try? resolvedPath(rootfs)) ?? rootfs
        if resolved == "/" {
            throw invalid("the rootfs cannot be the host's own / — give a directory holding the container's files")
        }
        let entries = (try? listDirectory(rootfs)) ?? []
        if entries.isEmpty {
            throw invalid("\(rootfs) is empty (no /bin/sh, nothing to run) — build one with `scratch rootfs build`")
        }
        // A rootfs on a read-only filesystem is fine: the pivot is runc's
        // pivot_root(".", "."), which needs no directory inside the new root for the
        // old one, and nothing else the runtime does writes there.
    }

    /// What is wrong with a hostname, in words, or nil when it is a good one.
    ///
    /// The rule is RFC 1123's, as Kubernetes and most tools apply it: 1 to 64 bytes
    /// (the kernel's HOST_NAME_MAX; sethostname(2) says EINVAL past it) of ASCII
    /// letters, digits, '-' and '.', every dot-separated part starting and ending
    /// with a letter or digit. The kernel itself takes any bytes, newlines included,
    /// but such a name breaks whatever prints it — a shell prompt, a log line, a
    /// /etc/hosts entry — so it is refused here, before anything exists.
    ///
    /// '_' is refused too: RFC 952 and 1123 leave it out of host names, and resolvers
    /// and tools (systemd's hostnamectl, TLS name checks) reject or mangle it. Docker
    /// passes it through unchecked; a clear error now beats a subtle failure later.
    public static func hostnameProblem(_ hostname: String) -> String? {
        let rule = "a hostname is 1 to 64 letters, digits, '-' and '.' (RFC 1123), e.g. --hostname box or --hostname web-1.local"
        let bytes = Array(hostname.utf8)
        if bytes.isEmpty || bytes.count > 64 {
            return "must be 1 to 64 bytes, got \(bytes.count) — \(rule)"
        }
        if bytes[0] == UInt8(ascii: "-") {
            return "a hostname cannot start with '-' — did you leave out the name after --hostname? \(rule)"
        }
        for scalar in hostname.unicodeScalars {
            let value = scalar.value
            let isLetterOrDigit = scalar.isASCII && (isalnum(Int32(value)) != 0)
            if isLetterOrDigit || scalar == "-" || scalar == "." { continue }
            let what: String
            switch scalar {
            case _ where value < 0x20 || value == 0x7f:
                what = "a control character (U+\(hex4(value))\(value == 0x0a ? ", a newline" : value == 0x09 ? ", a tab" : ""))"
            case " ": what = "a space"
            case "/": what = "'/'"
            case "_": what = "'_' (RFC 1123 allows no underscores in host names: use '-', as in my-box)"
            case _ where !scalar.isASCII: what = "'\(scalar)' (U+\(hex4(value)), which is not ASCII)"
            case _ where scalar.properties.isWhitespace: what = "whitespace (U+\(hex4(value)))"
            default: what = "'\(scalar)'"
            }
            return "a hostname may not contain \(what) — \(rule)"
        }
        for part in hostname.split(separator: ".", omittingEmptySubsequences: false) {
            guard let first = part.first, let last = part.last else {
                return "a hostname cannot start or end with '.' or hold '..' — \(rule)"
            }
            if first == "-" || last == "-" {
                return "each part between dots must start and end with a letter or digit, not '-' — \(rule)"
            }
        }
        return nil
    }

    /// A value as the user should see it in an error: quoted, control characters
    /// escaped, so a newline shows as \n and not as a broken line.
    /// A long value is cut short: the error should fit on a screen.
    public static func quoted(_ value: String) -> String {
        value.count > 70 ? String(reflecting: String(value.prefix(60))) + "… (\(value.utf8.count) bytes)" : String(reflecting: value)
    }
}

private func hex4(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
