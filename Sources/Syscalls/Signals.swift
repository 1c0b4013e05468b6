import CLinux
import Glibc

/// The signals a runtime passes on to its container: what a person or a supervisor
/// sends to stop, reload or poke a service. SIGKILL and SIGSTOP cannot be caught, so
/// they can never be forwarded; they act on the runtime itself.
public let forwardedSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]

/// A set of signals (sigset_t).
public struct SignalSet: Sendable {
    var raw = sigset_t()

    public init(_ signals: [Int32]) {
        sigemptyset(&raw)
        for signal in signals { sigaddset(&raw, signal) }
    }
}

/// Blocks `set` for this thread.
///
/// A blocked signal is not lost: it waits, pending, until sigwaitinfo takes it. That
/// turns asynchronous signals into a plain loop — no handlers, no threads.
public func blockSignals(_ set: SignalSet) throws(SyscallError) {
    var wanted = set.raw
    let result = sigprocmask(SIG_BLOCK, &wanted, nil)
    if result != 0 { throw SyscallError("sigprocmask", errno: result) }
}

/// Unblocks every signal.
///
/// The signal mask survives execve(2): a command started with SIGTERM blocked could
/// never be stopped politely. Every process we create clears the mask before exec.
public func unblockAllSignals() throws(SyscallError) {
    var none = SignalSet([]).raw
    let result = sigprocmask(SIG_SETMASK, &none, nil)
    if result != 0 { throw SyscallError("sigprocmask", errno: result) }
}

/// Waits until one of the (blocked) signals in `set` is pending, takes it, returns it.
public func waitForSignal(_ set: SignalSet) throws(SyscallError) -> Int32 {
    var wanted = set.raw
    var info = siginfo_t()
    let signal = retryingOnInterrupt { sigwaitinfo(&wanted, &info) }
    try check("sigwaitinfo", signal)
    return signal
}

/// Resets every signal's disposition to the default, up to the last real-time signal.
/// A caught signal becomes default at exec anyway, but an ignored one (SIG_IGN, say
/// SIGPIPE in a shell pipeline, or SIGCHLD) stays ignored in the command: reset them
/// all so the container starts as a fresh process would.
public func resetSignalDispositions() {
    for signal in 1..<cl_signal_count() where signal != SIGKILL && signal != SIGSTOP {
        _ = cl_default_signal(signal)
    }
}

/// Sets `signal` back to its default action in this process.
///
/// SIGCHLD matters most: a runtime started by a caller that ignores SIGCHLD inherits
/// SIG_IGN across execve, and then the kernel reaps its children by itself — waitpid
/// answers ECHILD and a runtime waiting for its container would wait forever.
public func defaultSignal(_ signal: Int32) {
    Glibc.signal(signal, SIG_DFL)
}

/// Sets `signal` to be ignored (SIG_IGN) in this process.
public func ignoreSignal(_ signal: Int32) {
    Glibc.signal(signal, SIG_IGN)
}

/// The first of `signals` that is pending (sent while blocked, not yet taken), if any.
/// A cheap look between the steps of a start: one sigpending(2).
public func pendingSignal(among signals: [Int32]) -> Int32? {
    var pending = sigset_t()
    guard sigpending(&pending) == 0 else { return nil }
    return signals.first { sigismember(&pending, $0) == 1 }
}

/// A signalfd: the blocked signals of `set` arrive as readable data instead of
/// interrupting anything, so one poll(2) can wait for a signal and for a pipe at once.
public struct SignalDescriptor: ~Copyable {
    public let descriptor: FileDescriptor

    public init(_ set: SignalSet) throws(SyscallError) {
        var mask = set.raw
        let fd = cl_signalfd(&mask)
        try check("signalfd", fd)
        descriptor = FileDescriptor(owning: fd)
    }

    /// The next pending signal, or nil when none is pending (it never blocks).
    public borrowing func next() throws(SyscallError) -> Int32? {
        let signal = retryingOnInterrupt { cl_read_signalfd(descriptor.raw) }
        if signal == -1 {
            if errno == EAGAIN { return nil }
            throw SyscallError("read", path: "signalfd", errno: errno)
        }
        return signal
    }
}

/// poll(2) for input on `descriptors`: waits until one is readable (or hung up) and
/// returns which, by index. `timeout` in milliseconds; -1 waits for ever.
public func waitForInput(_ descriptors: [Int32], timeout: Int32 = -1) throws(SyscallError) -> [Bool] {
    var entries = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    let count = retryingOnInterrupt { poll(&entries, nfds_t(entries.count), timeout) }
    try check("poll", count)
    return entries.map { $0.revents != 0 }
}

/// The signals a person names, by number.
let signalNames: [Int32: String] = [
    SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL",
    SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
    SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1", SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2",
    SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM", SIGCHLD: "SIGCHLD",
    SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP", SIGTTIN: "SIGTTIN",
    SIGTTOU: "SIGTTOU", SIGURG: "SIGURG", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ",
    SIGVTALRM: "SIGVTALRM", SIGPROF: "SIGPROF", SIGWINCH: "SIGWINCH", SIGIO: "SIGIO",
    SIGPWR: "SIGPWR", SIGSYS: "SIGSYS",
]

/// "SIGTERM" for 15: for messages a person reads.
public func signalName(_ signal: Int32) -> String {
    signalNames[signal] ?? "signal \(signal)"
}

/// The signal `text` names, as kill(1) takes it: "9", "KILL", "SIGKILL", "sigkill".
public func signalNumber(named text: String) -> Int32? {
    if let number = Int32(text) { return number > 0 && number < cl_signal_count() ? number : nil }
    let upper = text.uppercased()
    let name = upper.hasPrefix("SIG") ? upper : "SIG" + upper
    return signalNames.first { $0.value == name }?.key
}

/// Marks every descriptor above standard error close-on-exec: the command starts with
/// 0, 1 and 2 only, whatever its caller left open (runc does the same). Descriptors a
/// caller leaks into a container are a way out of it (CVE-2024-21626 was one).
public func closeInheritedDescriptorsOnExec() throws(SyscallError) {
    if cl_cloexec_from_3() == 0 { return }
    // close_range(2) is Linux 5.11, and a seccomp profile older than it refuses it
    // (Docker's own before 20.10 did, with EPERM): then one descriptor at a time.
    guard errno == ENOSYS || errno == EPERM else { throw SyscallError("close_range") }
    for fd in openDescriptors() where fd > 2 {
        let flags = fcntl(fd, F_GETFD)
        // The directory's own descriptor, listed while it was open, is closed by now.
        if flags == -1 { continue }
        if fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == -1 { throw SyscallError("fcntl(F_SETFD, FD_CLOEXEC)", path: "descriptor \(fd)") }
    }
}
