import CLinux
import Glibc

/// The namespaces a new process gets, as clone(2) flags.
public struct CloneFlags: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let newUTS = CloneFlags(rawValue: CL_CLONE_NEWUTS)
    public static let newPID = CloneFlags(rawValue: CL_CLONE_NEWPID)
    public static let newMount = CloneFlags(rawValue: CL_CLONE_NEWNS)
    public static let newIPC = CloneFlags(rawValue: CL_CLONE_NEWIPC)
    public static let newCgroup = CloneFlags(rawValue: CL_CLONE_NEWCGROUP)
    public static let newUser = CloneFlags(rawValue: CL_CLONE_NEWUSER)
    public static let newNetwork = CloneFlags(rawValue: CL_CLONE_NEWNET)
}

/// The Swift code a cloned child runs. Its return value is the child's exit status,
/// but normally it never returns: it execs the user's command.
private final class ChildBody {
    let run: () -> Int32
    init(_ run: @escaping () -> Int32) { self.run = run }
}

/// clone(2): a new process in new namespaces, running `body`.
///
/// Unlike fork(2), clone can put the child in new namespaces as it is born — the only
/// way into a new PID namespace as its PID 1. Without CLONE_VM the child has a copy of
/// our memory, so `body` can use every value the parent had. The parent must be
/// single-threaded here: only the calling thread is copied, and a lock another thread
/// held stays locked forever in the child.
public func clone(flags: CloneFlags, _ body: @escaping () -> Int32) throws(SyscallError) -> pid_t {
    let box = Unmanaged.passRetained(ChildBody(body))
    defer { box.release() }
    let pid = cl_clone(
        { argument in
            guard let argument else { return 125 }
            return Unmanaged<ChildBody>.fromOpaque(argument).takeUnretainedValue().run()
        }, box.toOpaque(), flags.rawValue)
    if pid == -1 {
        throw SyscallError("clone", errno: errno, hint: cloneHint(errno))
    }
    return pid
}

private func cloneHint(_ code: Int32) -> String? {
    switch code {
    case EPERM: return "creating namespaces needs root (CAP_SYS_ADMIN); run as root"
    case EINVAL: return "the kernel refused this mix of namespace flags"
    case ENOSPC: return "the limit on namespaces of this kind is reached (see /proc/sys/user/max_*_namespaces)"
    default: return nil
    }
}

/// fork(2): a copy of this process. Used by our init (chapter 2) to start the command.
public func forkProcess() throws(SyscallError) -> pid_t {
    try check("fork", Glibc.fork())
}

/// How a child ended, as waitpid(2) reports it.
public enum WaitStatus: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    public init(raw: Int32) {
        if cl_wifsignaled(raw) != 0 {
            self = .signaled(cl_wtermsig(raw))
        } else {
            self = .exited(cl_wexitstatus(raw))
        }
    }
}

/// waitpid(2). With `noHang`, returns nil when no child of that pid has ended yet.
/// `pid` -1 means any child: what an init uses to reap orphans.
public func waitpid(_ pid: pid_t, noHang: Bool = false) throws(SyscallError) -> (pid: pid_t, status: WaitStatus)? {
    var raw: Int32 = 0
    let result = retryingOnInterrupt { Glibc.waitpid(pid, &raw, noHang ? WNOHANG : 0) }
    try check("waitpid", result)
    if result == 0 { return nil }
    return (result, WaitStatus(raw: raw))
}

/// waitpid(-1, WNOHANG): one ended child of ours, if any, else nil. What an init calls
/// to reap: ECHILD (no children at all) is not an error, just nothing to reap.
public func reapAnyChild() throws(SyscallError) -> (pid: pid_t, status: WaitStatus)? {
    do {
        return try waitpid(-1, noHang: true)
    } catch  where error.errno == ECHILD {
        return nil
    }
}

/// prctl(PR_SET_PDEATHSIG): the kernel sends us `signal` when our parent exits.
public func setParentDeathSignal(_ signal: Int32) {
    _ = cl_set_parent_death_signal(signal)
}

/// kill(2). ESRCH (the process is gone) is not an error for us: it already ended.
public func sendSignal(_ signal: Int32, to pid: pid_t) throws(SyscallError) {
    if Glibc.kill(pid, signal) == -1 && errno != ESRCH {
        throw SyscallError("kill", path: "pid \(pid), \(signalName(signal))")
    }
}

/// execve(2): replace this process with `path`. Returns only on failure, with the errno.
public func execve(_ path: String, _ arguments: [String], _ environment: [String]) -> Int32 {
    withCStrings(arguments) { argv in
        withCStrings(environment) { envp in
            _ = Glibc.execve(path, argv, envp)
            return errno
        }
    }
}

/// _exit(2): leave at once, without running atexit handlers or flushing stdio buffers
/// that belong to the parent's copy of memory.
public func exitImmediately(_ status: Int32) -> Never {
    Glibc._exit(status)
}

/// Calls `body` with a NULL-terminated array of C strings, alive for the call.
func withCStrings(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Int32) -> Int32 {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    // The array holds at least the terminating nil, so it always has a base address.
    let result = pointers.withUnsafeBufferPointer { buffer in buffer.baseAddress.map(body) }
    return result ?? EFAULT
}

/// setns(2) by path: join the namespace `/proc/PID/ns/KIND` refers to.
///
/// For a PID namespace it is our future children that join (pid_for_children): a
/// process never changes its own pid. For a mount namespace the kernel also moves our
/// root and working directory to the namespace's root.
public func joinNamespace(_ path: String, type: CloneFlags = []) throws(SyscallError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    try check("open", path: path, fd)
    let descriptor = FileDescriptor(owning: fd)
    // With the type given, the kernel refuses (EINVAL) a file of another namespace:
    // an ipc namespace asked for, /proc/PID/ns/mnt given, is then an error, not a join
    // of the wrong thing. (0 joins whatever the file is.)
    if cl_setns(descriptor.raw, type.rawValue) == -1 {
        let code = errno
        throw SyscallError(
            "setns", path: path, errno: code,
            hint: code == EINVAL && !type.isEmpty ? "the file is not a namespace of the type asked for (or not a namespace at all)" : nil)
    }
}

/// setpgid(2): put process `pid` (0: ourselves) in the process group `group` (0: a new
/// group led by it). Both the parent and the child call it after a fork, so the group
/// exists whichever runs first.
public func setProcessGroup(_ pid: pid_t, _ group: pid_t) {
    _ = setpgid(pid, group)
}

/// Makes process group `group` the foreground group of the terminal on standard
/// input, if there is one and (given `holder`) that group holds it now: Ctrl-C and
/// Ctrl-Z then go to `group` alone. Returns whether it did.
///
/// A process outside the foreground group that calls tcsetpgrp(3) is sent SIGTTOU,
/// which stops it: it is blocked around the call.
@discardableResult
public func giveTerminal(to group: pid_t, onlyIfHeldBy holder: pid_t? = nil) -> Bool {
    guard isatty(0) == 1 else { return false }
    if let holder, tcgetpgrp(0) != holder { return false }
    var ttou = sigset_t()
    var previous = sigset_t()
    sigemptyset(&ttou)
    sigaddset(&ttou, SIGTTOU)
    sigprocmask(SIG_BLOCK, &ttou, &previous)
    defer { sigprocmask(SIG_SETMASK, &previous, nil) }
    return tcsetpgrp(0, group) == 0
}

/// True when standard input is a terminal whose foreground group is ours.
public func ownsTerminal() -> Bool { isatty(0) == 1 && tcgetpgrp(0) == getpgrp() }

/// unshare(2): move this process into new namespaces of the kinds `flags` names.
public func unshareNamespaces(_ flags: CloneFlags) throws(SyscallError) {
    try check("unshare", cl_unshare(flags.rawValue))
}
