import Glibc
import Runtime
import Syscalls

// Chapter 10 — the lifecycle. Each is the reference with one mistake.

/// The reference's steps but the ones a mutant replaces.
private protocol ReferenceLifecycle: LifecycleSteps {}
extension ReferenceLifecycle {
    func makeExecFifo(at path: String) throws { try Reference().makeExecFifo(at: path) }
    func waitForStart(execFifo: Int32) throws { try Reference().waitForStart(execFifo: execFifo) }
    func releaseContainer(execFifo path: String, pid: pid_t) throws { try Reference().releaseContainer(execFifo: path, pid: pid) }
    func status(recorded: ContainerStatus, alive: Bool, execFifoExists: Bool) throws -> ContainerStatus {
        try Reference().status(recorded: recorded, alive: alive, execFifoExists: execFifoExists)
    }
    func removeContainer(directory: String) throws { try Reference().removeContainer(directory: directory) }
}

/// The container never waits: it execs its command during `create`.
struct Ch10StartNotAwaited: ReferenceLifecycle {
    func waitForStart(execFifo: Int32) throws {}
}

/// A plain file where the fifo should be: opening it for writing does not block, so
/// the container runs at `create`.
struct Ch10FifoIsAFile: ReferenceLifecycle {
    func makeExecFifo(at path: String) throws { try touchFile(path, mode: 0o622) }
}

/// "Alive" taken for "running": the fifo is never looked at.
struct Ch10RunningBeforeStart: ReferenceLifecycle {
    func status(recorded: ContainerStatus, alive: Bool, execFifoExists: Bool) throws -> ContainerStatus {
        guard alive else { return .stopped }
        return recorded == .creating ? .creating : .running
    }
}

/// The process's death never looked at: a container that ended is "running" forever.
struct Ch10NeverStopped: ReferenceLifecycle {
    func status(recorded: ContainerStatus, alive: Bool, execFifoExists: Bool) throws -> ContainerStatus {
        if recorded == .creating { return .creating }
        return execFifoExists ? .created : .running
    }
}

/// `start` reads the byte but leaves the fifo: `state` still says "created".
struct Ch10FifoKeptAfterStart: ReferenceLifecycle {
    func releaseContainer(execFifo path: String, pid: pid_t) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SyscallError("open", path: path) }
        var byte: UInt8 = 0
        _ = read(fd, &byte, 1)
        close(fd)
    }
}

/// `recorded` taken for a detail: a container being created already says "created"
/// (a hook that runs during `create` is told so).
struct Ch10CreatingForgotten: ReferenceLifecycle {
    func status(recorded: ContainerStatus, alive: Bool, execFifoExists: Bool) throws -> ContainerStatus {
        guard alive else { return .stopped }
        return execFifoExists ? .created : .running
    }
}

/// `delete` removes the files but leaves the directory: the id stays taken.
struct Ch10DeleteLeavesDirectory: ReferenceLifecycle {
    func removeContainer(directory: String) throws {
        for name in ["exec.fifo", "state"] { try? removeFile(directory + "/" + name) }
    }
}
