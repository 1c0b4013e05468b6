import Glibc
import Syscalls

// Chapter 2 — process trees: the PID namespace.
//
// The first process in a new PID namespace is its PID 1, and PID 1 has two duties
// the kernel gives no one else:
//  - orphans are re-parented to it, and it must reap them (wait for them), or they
//    stay zombies, holding a slot in the process table, forever;
//  - signals whose action is the default do not reach it from inside its namespace
//    (no "kill -TERM 1" by accident), so a command that never expected to be PID 1
//    may ignore a polite SIGTERM.
// When PID 1 exits, the kernel kills everything else in the namespace.

extension Reference: ProcessTreeSteps {
    /// A new PID namespace for the child: it will see itself as PID 1.
    public func processTreeNamespace() -> CloneFlags { .newPID }

    /// Our init, with `--init`: it is PID 1, and the command runs under it as PID 2.
    ///
    /// It forwards every signal it is sent to the command, reaps every child that ends
    /// — the command or any orphan — and, when the command ends, returns the command's
    /// exit code, which becomes its own. `signals` is already blocked in this process.
    public func runInit(command: pid_t, signals: SignalSet, steps: Steps) throws -> Int32 {
        while true {
            // Reap everything that has ended: the command, or orphans it left to us.
            // A `while`, not an `if`: one SIGCHLD may stand for several children
            // (pending signals do not queue), and each must be reaped.
            while let (pid, status) = try reapAnyChild() {
                if pid == command { return try steps.exitStatus.exitCode(for: status) }
            }
            let signal = try waitForSignal(signals)
            if signal != SIGCHLD { try sendSignal(signal, to: command) }
        }
    }
}
