import Glibc
import Syscalls

// Chapter 0 — a runtime stands between the user and the container's process. A
// Ctrl-C or a `kill` aimed at the runtime is meant for the container: pass it on.
// And while the container is still being set up, there is no one to pass it to: an
// interrupt then stops the start, and the runtime cleans up like any failed start.

/// The signals the runtime waits for: those it forwards, plus SIGCHLD, which tells it
/// the container ended.
public let runtimeSignals = SignalSet(forwardedSignals + [SIGCHLD])

/// The signals that, before the command runs, stop the start (exit 128+N).
let interruptSignals = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

/// Step 0: the runtime's own signal setup, before anything exists on the host.
///
/// - SIGCHLD back to its default: a caller that ignores it (SIG_IGN survives execve)
///   would have the kernel reap our child by itself, and waitpid would never see it.
/// - SIGPIPE ignored: a write to a pipe whose reader died must fail with EPIPE, not kill
///   the runtime. (The child resets every disposition before exec.)
/// - The forwarded signals and SIGCHLD blocked: they stay pending, and reach the wait
///   loop through a signalfd. One that came between clone and the wait can no longer
///   kill the runtime with the container half made.
public func takeOverSignals() throws(SyscallError) {
    defaultSignal(SIGCHLD)
    ignoreSignal(SIGPIPE)
    try blockSignals(runtimeSignals)
}

/// Between two steps of the start: stop here if an interrupt is pending.
func stopIfInterrupted() throws(ContainerError) {
    if let signal = pendingSignal(among: interruptSignals) {
        throw ContainerError(
            step: "start the container",
            reason: "interrupted by \(signalName(signal)) before the container started; what was made is removed",
            exitCode: ExitCode.signalBase + signal)
    }
}

/// How the container ended, as the wait loop saw it.
struct ContainerEnd {
    var status: WaitStatus
    /// The child's report: why a setup step failed; empty when the command was exec'd.
    var failure: String
    /// The interrupt that stopped the start, if one did.
    var interruptedBy: Int32?
    /// True when the container ignored two interrupts and the third killed it.
    var killedAfterInterrupts = false
}

/// How many SIGINTs and SIGTERMs a running container may ignore before the runtime
/// stops passing them on and sends SIGKILL: the escalation a person at a terminal
/// can rely on (Ctrl-C three times), as `docker stop` escalates after its timeout.
let interruptsBeforeKill = 3

/// The wait loop, from the go-ahead to the end: poll(2) over the report pipe and the
/// signalfd, until the report has ended and the child is reaped.
///
/// - The report pipe: bytes are a setup failure; end-of-file means the command was
///   exec'd (close-on-exec closed the child's end) or the child died.
/// - SIGCHLD: look whether the child ended (waitpid WNOHANG).
/// - An interrupt (SIGINT, SIGTERM, SIGHUP, SIGQUIT) before the command runs: SIGKILL
///   the child — a setup step that hangs can be stopped — and report it.
/// - Any other signal, and every signal once the command runs: pass it on. A second
///   SIGINT or SIGTERM to a container that ignored the first is passed on again; the
///   third is a SIGKILL. (A PID 1 without a handler ignores SIGINT and SIGTERM: the
///   kernel protects a namespace's init from signals it did not ask for.) SIGKILL of
///   the runtime, which cannot be caught, takes the container down by
///   PR_SET_PDEATHSIG.
func superviseContainer(
    _ child: pid_t, report: borrowing FileDescriptor, signals: borrowing SignalDescriptor
) throws(SyscallError) -> ContainerEnd {
    var failure: [UInt8] = []
    var reportOpen = true
    var status: WaitStatus?
    var interruptedBy: Int32?
    var interrupts = 0
    while true {
        if status == nil, let (_, ended) = try waitpid(child, noHang: true) { status = ended }
        if let status, !reportOpen {
            return ContainerEnd(
                status: status, failure: String(decoding: failure, as: UTF8.self), interruptedBy: interruptedBy,
                killedAfterInterrupts: interrupts >= interruptsBeforeKill)
        }
        let ready = try waitForInput(reportOpen ? [signals.descriptor.raw, report.raw] : [signals.descriptor.raw])
        if reportOpen && ready[1] {
            if let chunk = try report.readChunk() { failure += chunk } else { reportOpen = false }
        }
        guard ready[0] else { continue }
        while let signal = try signals.next() {
            if signal == SIGCHLD { continue }
            if reportOpen && interruptedBy == nil && interruptSignals.contains(signal) {
                interruptedBy = signal
                try sendSignal(SIGKILL, to: child)
                continue
            }
            if signal == SIGINT || signal == SIGTERM { interrupts += 1 }
            try sendSignal(interrupts >= interruptsBeforeKill ? SIGKILL : signal, to: child)
        }
    }
}

/// Waits for `pid` to end, passing every forwarded signal on to it, and returns how
/// it ended: the loop above once the command runs (`scratch exec` uses it).
public func waitForwardingSignals(to pid: pid_t) throws(SyscallError) -> WaitStatus {
    let signals = try SignalDescriptor(runtimeSignals)
    while true {
        if let (_, status) = try waitpid(pid, noHang: true) { return status }
        _ = try waitForInput([signals.descriptor.raw])
        while let signal = try signals.next() { if signal != SIGCHLD { try sendSignal(signal, to: pid) } }
    }
}
