import Foundation
import Glibc
import Runtime

// Ctrl-C during `scratch commit` or `scratch image export`. Killed by a signal's default
// action, either would leave its work behind: a commit's `layers/new-PID-*` (which the
// next import or `scratch gc` removes), but an export's `TARGET.new-PID` beside the
// target, which nothing else knows of. So SIGINT, SIGTERM and SIGHUP are blocked and
// waited for by a thread of their own (a handler could only set a flag; sigwait runs
// ordinary code); the packer's loops ask at each entry and each chunk, and an
// interrupted command unwinds through the same cleanup as any failure, then exits
// 128+N. A second signal ends the program at once, as the first would have.

public final class Interruption: @unchecked Sendable {
    public static let shared = Interruption()
    private let lock = NSLock()
    private var received: Int32 = 0

    /// Call first thing, before any other thread exists: a thread made later inherits
    /// the blocked set, so the signals reach only the waiting thread.
    public func watch() {
        var signals = sigset_t()
        sigemptyset(&signals)
        for number in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&signals, number) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        let blocked = signals
        Thread.detachNewThread { [self] in
            var waited = blocked
            var number: Int32 = 0
            while sigwait(&waited, &number) != 0 {}
            lock.withLock { received = number }
            // The second: the default action, now (unblocked in this thread only, so
            // the process-directed signal is delivered here).
            while sigwait(&waited, &number) != 0 {}
            signal(number, SIG_DFL)
            pthread_sigmask(SIG_UNBLOCK, &waited, nil)
            kill(getpid(), number)
        }
    }

    /// Throws when a signal came: the caller's cleanup runs, and the exit is 128+N.
    func check(step: String) throws(ContainerError) {
        let number = lock.withLock { received }
        if number != 0 {
            let name = String(cString: strsignal(number))
            throw ContainerError(
                step: step, reason: "interrupted (\(name)): what was half made is removed", exitCode: ExitCode.signalBase + number)
        }
    }
}
