import Glibc
import Runtime
import Syscalls

// Chapter 2 — the PID namespace and init. Each is the reference with one mistake.

/// No PID flag: the command keeps a host pid.
struct Ch2NoPIDFlag: ProcessTreeSteps {
    func processTreeNamespace() -> CloneFlags { [] }
    func runInit(command: pid_t, signals: SignalSet, steps: Steps) throws -> Int32 {
        try Reference().runInit(command: command, signals: signals, steps: steps)
    }
}

/// One reap per SIGCHLD: several children ending at once send one signal, so all but
/// one stay zombies.
struct Ch2IfInsteadOfWhile: ProcessTreeSteps {
    func processTreeNamespace() -> CloneFlags { .newPID }
    func runInit(command: pid_t, signals: SignalSet, steps: Steps) throws -> Int32 {
        while true {
            if let (pid, status) = try reapAnyChild() {
                if pid == command { return try steps.exitStatus.exitCode(for: status) }
            }
            let signal = try waitForSignal(signals)
            if signal != SIGCHLD { try sendSignal(signal, to: command) }
        }
    }
}

/// Returns 0 once the command ends, whatever its status.
struct Ch2InitReturnsZero: ProcessTreeSteps {
    func processTreeNamespace() -> CloneFlags { .newPID }
    func runInit(command: pid_t, signals: SignalSet, steps: Steps) throws -> Int32 {
        while true {
            while let (pid, _) = try reapAnyChild() {
                if pid == command { return 0 }
            }
            let signal = try waitForSignal(signals)
            if signal != SIGCHLD { try sendSignal(signal, to: command) }
        }
    }
}

/// Takes every signal and passes none on: SIGTERM never reaches the command.
struct Ch2NoForwarding: ProcessTreeSteps {
    func processTreeNamespace() -> CloneFlags { .newPID }
    func runInit(command: pid_t, signals: SignalSet, steps: Steps) throws -> Int32 {
        while true {
            while let (pid, status) = try reapAnyChild() {
                if pid == command { return try steps.exitStatus.exitCode(for: status) }
            }
            _ = try waitForSignal(signals)
        }
    }
}

/// Its own exit code instead of `steps.exitStatus`: a killed command exits with the
/// signal's number.
struct Ch2OwnExitCodeWithoutSignals: ProcessTreeSteps {
    func processTreeNamespace() -> CloneFlags { .newPID }
    func runInit(command: pid_t, signals: SignalSet, steps: Steps) throws -> Int32 {
        while true {
            while let (pid, status) = try reapAnyChild() {
                guard pid == command else { continue }
                switch status {
                case .exited(let code): return code
                case .signaled(let signal): return signal
                }
            }
            let signal = try waitForSignal(signals)
            if signal != SIGCHLD { try sendSignal(signal, to: command) }
        }
    }
}

/// Returns when any child ends: the first orphan to end takes the container down.
struct Ch2ReturnsForAnyChild: ProcessTreeSteps {
    func processTreeNamespace() -> CloneFlags { .newPID }
    func runInit(command: pid_t, signals: SignalSet, steps: Steps) throws -> Int32 {
        while true {
            if let (_, status) = try reapAnyChild() { return try steps.exitStatus.exitCode(for: status) }
            let signal = try waitForSignal(signals)
            if signal != SIGCHLD { try sendSignal(signal, to: command) }
        }
    }
}

/// Keeps the command's code and waits "until every child is gone" — which, with no
/// child left to send SIGCHLD, is forever.
struct Ch2NeverReturns: ProcessTreeSteps {
    func processTreeNamespace() -> CloneFlags { .newPID }
    func runInit(command: pid_t, signals: SignalSet, steps: Steps) throws -> Int32 {
        var code: Int32?
        while true {
            while let (pid, status) = try reapAnyChild() {
                if pid == command { code = try steps.exitStatus.exitCode(for: status) }
            }
            let signal = try waitForSignal(signals)
            if signal != SIGCHLD && code == nil { try sendSignal(signal, to: command) }
        }
    }
}
