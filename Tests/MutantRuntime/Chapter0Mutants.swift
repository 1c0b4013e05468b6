import Glibc
import Runtime
import Syscalls

// Chapter 0 — exit statuses. Each is the reference with one mistake.

/// Maps ENOENT to 127 and forgets ENOTDIR: `/etc/passwd/x` exits 126.
struct Ch0ForgetsENOTDIR: ExitStatusSteps {
    func exitCode(for status: WaitStatus) -> Int32 { Reference().exitCode(for: status) }
    func execFailureExitCode(errno: Int32) -> Int32 { errno == ENOENT ? 127 : 126 }
}

/// Reports the signal's number alone: SIGKILL exits 9.
struct Ch0SignalNumberOnly: ExitStatusSteps {
    func exitCode(for status: WaitStatus) -> Int32 {
        switch status {
        case .exited(let code): return code
        case .signaled(let signal): return signal
        }
    }
    func execFailureExitCode(errno: Int32) -> Int32 { Reference().execFailureExitCode(errno: errno) }
}

/// Reports 128 for every signal, forgetting to add its number.
struct Ch0SignalBaseOnly: ExitStatusSteps {
    func exitCode(for status: WaitStatus) -> Int32 {
        switch status {
        case .exited(let code): return code
        case .signaled: return ExitCode.signalBase
        }
    }
    func execFailureExitCode(errno: Int32) -> Int32 { Reference().execFailureExitCode(errno: errno) }
}

/// "It exited, so it succeeded": every normal exit becomes 0.
struct Ch0ExitAlwaysZero: ExitStatusSteps {
    func exitCode(for status: WaitStatus) -> Int32 {
        switch status {
        case .exited: return 0
        case .signaled(let signal): return ExitCode.signalBase + signal
        }
    }
    func execFailureExitCode(errno: Int32) -> Int32 { Reference().execFailureExitCode(errno: errno) }
}

/// 126 and 127 the wrong way round.
struct Ch0Swapped126And127: ExitStatusSteps {
    func exitCode(for status: WaitStatus) -> Int32 { Reference().exitCode(for: status) }
    func execFailureExitCode(errno: Int32) -> Int32 {
        switch errno {
        case ENOENT, ENOTDIR: return ExitCode.cannotExecute
        default: return ExitCode.notFound
        }
    }
}

/// Only EACCES is "cannot execute"; everything else, ENOEXEC included, "not found".
struct Ch0OnlyEACCESCannotExecute: ExitStatusSteps {
    func exitCode(for status: WaitStatus) -> Int32 { Reference().exitCode(for: status) }
    func execFailureExitCode(errno: Int32) -> Int32 { errno == EACCES ? ExitCode.cannotExecute : ExitCode.notFound }
}
