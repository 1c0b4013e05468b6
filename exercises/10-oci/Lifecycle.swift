import Glibc
// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import enum Runtime.ContainerStatus
import protocol Runtime.LifecycleSteps
import struct Runtime.NotDoneYet
import Syscalls

// Chapter 10 — Speaking OCI: the lifecycle's state machine.
//
// Read first: `./workbook read 10`, sections "Create is not start", "The exec fifo"
// and "Your turn".
// Check your work: `./workbook check 10`. Stuck? `./workbook hint 10`.
//
// The runtime calls these in this order: `makeExecFifo` in `create`, before the
// clone; `waitForStart` in the container's first process, its setup done, just
// before the exec (`create` has exited by the time it returns); `releaseContainer`
// in `start`; `status` in every command that needs to know where the container is
// (`state`, `start`, `kill`, `delete`); `removeContainer` last in `delete`.
//
// Building blocks: mkfifo(3), open(2) (a fifo's open for writing blocks until
// someone opens it for reading; O_NONBLOCK changes that for a reader), read(2),
// write(2), poll(2), kill(2) with signal 0, and Syscalls' `removeFile`,
// `removeDirectory`, `writeAll`, `SyscallError`.

/// Your chapter 10, called through the `LifecycleSteps` protocol.
public struct YourLifecycle: LifecycleSteps {
    public init() {}

    /// Make the exec fifo at `path`: a named pipe that only root may read, and that
    /// the container's process, whoever it runs as, may write.
    public func makeExecFifo(at path: String) throws {
        // TODO: one call (and mind the umask).
        throw NotDoneYet(chapter: 10, file: "exercises/10-oci/Lifecycle.swift")
    }

    /// In the container, setup done: wait for `start`. `execFifo` is an O_PATH
    /// descriptor of the fifo, opened before the pivot; the fifo's own path is out of
    /// reach now, but /proc/self/fd/N still leads to it. When `start` opens its end,
    /// write one byte so it knows you are going.
    public func waitForStart(execFifo: Int32) throws {
        // TODO: open for writing (that is the wait), write, close.
        throw NotDoneYet(chapter: 10, file: "exercises/10-oci/Lifecycle.swift")
    }

    /// In `start`: let the container go. Open the fifo at `path` for reading without
    /// blocking (the container may be dead: then say so rather than hang), wait for
    /// its byte, and remove the fifo — its absence is what says "running" from now on.
    public func releaseContainer(execFifo path: String, pid: pid_t) throws {
        // TODO: open, read until one byte came (checking on `pid` meanwhile), remove.
        throw NotDoneYet(chapter: 10, file: "exercises/10-oci/Lifecycle.swift")
    }

    /// The status `state` reports. `recorded` is what `create` last wrote
    /// (`.creating` until the process waits on the fifo, then `.created`); `alive`
    /// whether that process still exists (a zombie does not count); `execFifoExists`
    /// whether the fifo is still there.
    public func status(recorded: ContainerStatus, alive: Bool, execFifoExists: Bool) throws -> ContainerStatus {
        // TODO: four statuses, three facts.
        throw NotDoneYet(chapter: 10, file: "exercises/10-oci/Lifecycle.swift")
    }

    /// Last in `delete` (the processes and the cgroup are gone already): remove the
    /// state directory `directory` — its `state` file, the fifo if `start` never
    /// removed it — and the directory itself.
    public func removeContainer(directory: String) throws {
        // TODO: the files, then the directory.
        throw NotDoneYet(chapter: 10, file: "exercises/10-oci/Lifecycle.swift")
    }
}
