import Glibc
import Syscalls

// Chapter 0 — a container is a process. What its user sees when it ends.

extension Reference: ExitStatusSteps {
    /// The exit code a user sees for a child that ended with `status`.
    ///
    /// A process that exits passes its own status through. One killed by a signal has
    /// no exit status at all; shells (and Docker) report 128 + the signal's number, so
    /// `kill -9` shows as 137 and SIGTERM as 143.
    public func exitCode(for status: WaitStatus) -> Int32 {
        switch status {
        case .exited(let code): return code
        case .signaled(let signal): return ExitCode.signalBase + signal
        }
    }

    /// The exit code for a command execve(2) refused: 127 when there is no such file
    /// (as a shell says "command not found") or a path through something that is not
    /// a directory (ENOTDIR: `/etc/passwd/x`), 126 when it exists but cannot be run
    /// (no execute permission, a directory, not a binary format the kernel knows).
    public func execFailureExitCode(errno: Int32) -> Int32 {
        switch errno {
        case ENOENT, ENOTDIR: return ExitCode.notFound
        default: return ExitCode.cannotExecute
        }
    }
}
