import Glibc
import Syscalls

// `scratch exec`: a second process in a running container. Nothing is created: the
// new process joins what the container already has, through the files the kernel
// keeps for each namespace (/proc/PID/ns/*) and the container's cgroup.

/// The namespaces a process joins to be inside the container, in this order: the
/// mount namespace last, since once in it the host's /proc is out of sight; the user
/// namespace (chapter 8) first, because joining the others takes CAP_SYS_ADMIN in the
/// user namespace that owns them — which a rootless caller has only once inside it.
let joinedNamespaces = ["user", "uts", "ipc", "net", "pid", "cgroup", "mnt"]

/// Runs `command` inside the running container `state`, as its child would be, and
/// returns the exit code its user should see.
///
/// Chapter 10: with `consoleSocket` (`exec --tty --console-socket`), the process gets a
/// pty of the container's devpts, its master sent over the socket as `create` sends it.
/// With `detachedReport` (`exec --detach`), no process waits for the command: its host
/// pid is written to that descriptor as text and this returns 0 once it is born — the
/// command is then the child of whoever reaps orphans (conmon and containerd's shim
/// are subreapers for this), as with runc. `chrooted`: the container chrooted in its
/// caller's mount namespace (its bundle listed none), so its root is not its mount
/// namespace's. `stateDirectory`: where chapter 10's `create` kept the container's
/// compiled seccomp filter.
public func execInContainer(
    _ state: ContainerState, command: [String], programName: String, consoleSocket: Int32? = nil, chrooted: Bool = false,
    detachedReport: Int32? = nil, stateDirectory: String? = nil
) -> Int32 {
    var state = state
    // Recorded but not cloned yet (chapter 9's bridge is set up in between): wait a
    // moment for its pid rather than refuse a container that is about to exist.
    for _ in 0..<200 where state.pid == nil {
        usleep(10_000)
        guard let again = try? runningContainer(state.id) else { break }
        state = again
    }
    do {
        guard let target = state.pid else {
            throw ContainerError(step: "find the container", reason: "\(state.id) has no process yet: it is still starting")
        }
        guard !command.isEmpty, !command[0].isEmpty else {
            throw ContainerError(step: "check the request", reason: "no command given: say what to run after --, e.g. `-- sh`")
        }
        // Chapter 7: the process gets what the container's own got (read before the fork,
        // so a missing filter stops the exec before anything runs).
        let confinement = try state.capabilities.map { bits throws(ContainerError) in
            Confinement(
                capabilities: CapabilitySet(bits: bits), noNewPrivileges: state.noNewPrivileges,
                seccomp: try state.seccompFilter.map { key throws(ContainerError) in try cachedSeccompFilter(key: key, stateDirectory: stateDirectory)
                })
        }
        try step("take over signals") { try takeOverSignals() }
        // Open every namespace first, while /proc/TARGET is the host's: a container
        // that ends meanwhile makes this fail here, cleanly, and not half-way in.
        var namespaces: [(kind: String, path: String)] = []
        for kind in joinedNamespaces {
            let path = "/proc/\(target)/ns/\(kind)"
            let mine = "/proc/self/ns/\(kind)"
            // Joining a namespace we are already in is allowed, but pointless.
            if let theirs = try? fileIdentity(path), let ours = try? fileIdentity(mine), theirs == ours { continue }
            guard fileKind(path) != nil else {
                throw ContainerError(step: "join the container", reason: "\(path) is gone: the container has ended")
            }
            namespaces.append((kind, path))
        }
        // Chapter 10: a container whose bundle listed no mount namespace is chrooted in
        // its caller's, not pivoted: joining that namespace (or, sharing it, joining
        // nothing) would leave us on its root, the host's. The container's root is
        // entered through /proc/TARGET/root, opened now, while that path is ours.
        var sharedRoot: Int32 = -1
        if chrooted || !namespaces.contains(where: { $0.kind == "mnt" }) {
            sharedRoot = open("/proc/\(target)/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if sharedRoot == -1 { throw ContainerError(step: "join the container", reason: "\(SyscallError("open", path: "/proc/\(target)/root"))") }
        }
        defer { if sharedRoot >= 0 { close(sharedRoot) } }
        // `exec -d`: the command holds the report's end until its execve closes it
        // (close-on-exec), so the reader's end of file means "it runs"; a failure on the
        // way there says "!" first, and `exec -d` fails as runc's does.
        func reportFailure() {
            if let detachedReport { try? writeAll(detachedReport, Array(" !".utf8)) }
        }
        let child = try step("start the process") { try forkProcess() }
        if child == 0 {
            do {
                // Undumpable before joining anything (CVE-2019-5736): until its execve the
                // command-to-be runs this runtime's program inside the container's PID
                // namespace, and a container process of the same uid could open
                // /proc/PID/exe — the runtime's file on the host — to overwrite it once
                // no one runs it. Undumpable, /proc/PID/exe needs CAP_SYS_PTRACE, which a
                // container does not keep; the execve makes the command dumpable again.
                try step("make the process undumpable") { try setDumpable(false) }
                // The cgroup first, through the host's cgroupfs ("0" is the writer).
                for group in state.cgroups { try step("join the cgroup") { try writeControlFile(group + "/cgroup.procs", "0") } }
                // A PID namespace is entered by our children only: join it, then fork once
                // more so the command is born inside with a pid of the container's.
                for (kind, path) in namespaces {
                    try step("join the \(kind) namespace") { try joinNamespace(path) }
                }
                setParentDeathSignal(SIGKILL)
                let inner = try step("start the command") { try forkProcess() }
                if inner != 0, let detachedReport {
                    // fork returned the pid in our own PID namespace, the host's: setns
                    // moved only our children into the container's.
                    try? writeAll(detachedReport, Array("\(inner)".utf8))
                    exitImmediately(0)
                }
                if inner != 0 {
                    // The middle process: wait for the command and pass its end on.
                    let status = try waitForwardingSignals(to: inner)
                    switch status {
                    case .exited(let code): exitImmediately(code)
                    case .signaled(let signal): exitImmediately(ExitCode.signalBase + signal)
                    }
                }
                if sharedRoot >= 0 {
                    try step("enter the container's root (chroot: it has no mount namespace of its own)") {
                        if fchdir(sharedRoot) == -1 { throw SyscallError("fchdir", path: "/proc/\(target)/root") }
                        if chroot(".") == -1 { throw SyscallError("chroot", path: "/proc/\(target)/root") }
                    }
                }
                try step("enter the container's root") { try changeDirectory("/") }
                if let consoleSocket {
                    try step("set up the terminal") { try sendTerminal(over: consoleSocket, size: nil) }
                    closeDescriptor(consoleSocket)
                }
                // As the container's own process, confined as it is, in containerMain's
                // order (see the comment there): its user (from its /etc/passwd, now that
                // "/" is its root) between the bounding set's cut and the capset.
                let user = try step("find the user") { try findContainerUser(state.user, extraGroups: []) }
                if let confinement {
                    if !confinement.noNewPrivileges, let filter = confinement.seccomp {
                        try step("load the seccomp filter") { try loadSeccompFilter(filter) }
                    }
                    try step("cut the bounding set") { try Reference().dropBoundingSet(keeping: confinement.capabilities) }
                }
                try step("become the user") { try becomeUser(user) }
                if let directory = state.workingDirectory {
                    try step("enter the working directory") { try enterWorkingDirectory(directory) }
                }
                if let confinement {
                    try step("set the capabilities") { try Reference().setCapabilities(confinement.capabilities) }
                    if confinement.noNewPrivileges {
                        try step("set no_new_privs") { try setNoNewPrivileges() }
                        if let filter = confinement.seccomp {
                            try step("load the seccomp filter") { try loadSeccompFilter(filter) }
                        }
                    }
                }
                let environment = containerEnvironment(state.environment, hostname: state.hostname, home: user.home)
                try becomeCommand(command, environment: environment, steps: .reference)
            } catch let error as ContainerError {
                writeToStandardError("\(programName): \(error)\n")
                reportFailure()
                exitImmediately(error.exitCode)
            } catch {
                writeToStandardError("\(programName): \(error)\n")
                reportFailure()
                exitImmediately(ExitCode.runtimeFailed)
            }
        }
        let status = try step("wait for the process") { try waitForwardingSignals(to: child) }
        return Reference().exitCode(for: status)
    } catch {
        writeToStandardError("\(programName): \(error)\n")
        return (error as? ContainerError)?.exitCode ?? ExitCode.runtimeFailed
    }
}
