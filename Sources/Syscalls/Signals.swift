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

/// Resets every signal's disposition to the default. A caught signal becomes default
/// at exec anyway, but an ignored one (SIG_IGN, say SIGPIPE in a shell pipeline) stays
/// ignored in the command: reset it so the container starts as a fresh process would.
public func resetSignalDispositions() {
    for signal in 1..<Int32(32) where signal != SIGKILL && signal != SIGSTOP {
        Glibc.signal(signal, SIG_DFL)
    }
}

/// Sets `signal` to be ignored (SIG_IGN) in this process.
public func ignoreSignal(_ signal: Int32) {
    Glibc.signal(signal, SIG_IGN)
}

/// "SIGTERM" for 15: for messages a person reads.
public func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL",
        SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
        SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1", SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2",
        SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM", SIGCHLD: "SIGCHLD",
        SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP", SIGXCPU: "SIGXCPU",
    ]
    return names[signal] ?? "signal \(signal)"
}
