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
    /// Mount the rootfs read-only (chapter 3).
    public var readOnlyRootfs = false
    /// For the chroot breakout lab only: enter the rootfs with chroot(2), not pivot_root(2).
    public var chrootOnly = false
    /// Memory, process and CPU limits, enforced with a cgroup (chapter 4).
    public var limits = ResourceLimits()
    /// A short random id, used for the default hostname and for names on the host.
    public var id: String
    /// How error messages start: "scratch" or "workbook".
    public var programName = "scratch"

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
            try validateRootfs(rootfs)
        }
    }

    /// Everything but the rootfs: what can be checked before the default rootfs is built.
    public func validateRequest(stage: Stage) throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError {
            ContainerError(step: "check the request", reason: reason)
        }
        guard let program = command.first, !program.isEmpty else {
            throw invalid("no command given: say what to run after --, e.g. `-- sh -c 'echo hi'`")
        }
        if let hostname {
            // The kernel's limit is HOST_NAME_MAX, 64 bytes; sethostname(2) says EINVAL past it.
            let length = hostname.utf8.count
            if length == 0 || length > 64 {
                throw invalid("--hostname must be 1 to 64 bytes, got \(length)")
            }
            if hostname.contains("\0") || hostname.contains("/") || hostname.contains(" ") {
                throw invalid("--hostname \"\(hostname)\" holds a character no hostname may have")
            }
        }
        if !limits.isEmpty && !stage.includes(.cgroups) {
            throw invalid("--memory, --pids-limit and --cpus need cgroups, which come in chapter 4 — run at chapter 4's stage or later")
        }
        try limits.validate()
    }

    private func validateRootfs(_ rootfs: String) throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError {
            ContainerError(step: "check the rootfs", reason: reason)
        }
        switch fileKind(rootfs) {
        case nil:
            throw invalid("\(rootfs) does not exist — build the default one with `scratch rootfs build`, or give --rootfs DIR")
        case .directory?:
            break
        default:
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
        if isOnReadOnlyFilesystem(rootfs) {
            throw invalid(
                "\(rootfs) is on a read-only filesystem: pivot_root needs a directory inside it for the old root — copy the rootfs somewhere writable (use --read-only to keep the container from writing)"
            )
        }
    }
}
