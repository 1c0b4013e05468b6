import Glibc
import Syscalls

// Chapter 0 — a runtime stands between the user and the container's process. A
// Ctrl-C or a `kill` aimed at the runtime is meant for the container: pass it on.

/// The signals the runtime waits for: those it forwards, plus SIGCHLD, which tells it
/// the container ended. They are blocked before clone(2), so none can arrive between
/// the clone and the wait and be lost or kill the runtime with the container still up.
public let runtimeSignals = SignalSet(forwardedSignals + [SIGCHLD])

/// Waits for `pid` to end, passing every forwarded signal on to it, and returns how
/// it ended. One loop, one thread: sigwaitinfo takes the next pending signal; SIGCHLD
/// means "look whether it ended", anything else is forwarded.
public func waitForwardingSignals(to pid: pid_t) throws -> WaitStatus {
    while true {
        // A SIGCHLD may have come before we looked: check first, then wait.
        if let (_, status) = try waitpid(pid, noHang: true) { return status }
        let signal = try waitForSignal(runtimeSignals)
        if signal != SIGCHLD { try sendSignal(signal, to: pid) }
    }
}
