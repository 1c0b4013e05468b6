import Glibc
// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import enum Runtime.ExitCode
import struct Runtime.NotDoneYet
import protocol Runtime.ExitStatusSteps
import Syscalls

// Chapter 0 — A container is a process.
//
// Read first: `./workbook read 0`, sections "What a runtime reports" and
// "Your turn". Check your work: `./workbook check 0`. Stuck? `./workbook hint 0`.
//
// The runtime has started your command and waited for it. Two small functions decide
// what number the person who ran the container sees: they are the runtime's whole
// "user interface" for how things ended, and Docker's conventions are the contract.

/// Your chapter 0. The runtime calls these through the `ExitStatusSteps` protocol
/// (Sources/Runtime/Steps.swift); a signature that does not match it is an error here.
public struct YourExitStatus: ExitStatusSteps {
    public init() {}

    /// The exit code a user sees for a child that ended with `status`.
    ///
    /// - `.exited(code)`: the command exited on its own; pass its code through.
    /// - `.signaled(signal)`: the command was killed by a signal; a shell reports that as
    ///   128 + the signal's number (`ExitCode.signalBase` is 128). So SIGKILL (9) is 137.
    public func exitCode(for status: WaitStatus) throws -> Int32 {
        // TODO: switch over `status` and return the code described above.
        throw NotDoneYet(chapter: 0, file: "exercises/00-process/ExitStatus.swift")
    }

    /// The exit code for a command that execve(2) refused with `errno`.
    ///
    /// - ENOENT or ENOTDIR: there is no such program: `ExitCode.notFound` (127).
    /// - anything else (EACCES, ENOEXEC, ...): it is there but cannot be run:
    ///   `ExitCode.cannotExecute` (126).
    public func execFailureExitCode(errno: Int32) throws -> Int32 {
        // TODO: return 127 or 126 as described above.
        throw NotDoneYet(chapter: 0, file: "exercises/00-process/ExitStatus.swift")
    }
}
