import Glibc
// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import enum Runtime.ExitCode
import struct Runtime.NotDoneYet
import protocol Runtime.ProcessTreeSteps
import struct Runtime.Steps
import Syscalls

// Chapter 2 — Process trees: the PID namespace.
//
// Read first: `./workbook read 2`, sections "PID 1's duties", "How the init fits in"
// and "Your turn".
// Check your work: `./workbook check 2`. Stuck? `./workbook hint 2`.

/// Your chapter 2, called through the `ProcessTreeSteps` protocol.
public struct YourProcessTree: ProcessTreeSteps {
    public init() {}

    /// The clone flags that give the container process ids of its own, so that its first
    /// process is PID 1.
    public func processTreeNamespace() throws -> CloneFlags {
        // TODO: return the flag for a new PID namespace.
        throw NotDoneYet(chapter: 2, file: "exercises/02-pid/ProcessTree.swift")
    }

    /// Our init, with `--init`. This process is PID 1 of the container; the command runs
    /// as its child, `command`. `signals` (the forwarded ones plus SIGCHLD) is already
    /// blocked, so they wait for you as pending signals instead of interrupting you.
    ///
    /// Loop until the command has ended:
    /// - reap every child that has ended — the command, or an orphan the kernel handed to
    ///   PID 1 — with `reapAnyChild()` until it returns nil; when the one reaped is
    ///   `command`, return its exit code: `steps.exitStatus.exitCode(for:)` computes it
    ///   (your chapter 0, or the reference's if you skipped it);
    /// - then wait for the next signal with `waitForSignal(signals)`: SIGCHLD means "go
    ///   and reap"; any other signal is for the command: `sendSignal(_:to:)` it there.
    public func runInit(command: pid_t, signals: SignalSet, steps: Steps) throws -> Int32 {
        // TODO: the loop described above.
        throw NotDoneYet(chapter: 2, file: "exercises/02-pid/ProcessTree.swift")
    }
}
