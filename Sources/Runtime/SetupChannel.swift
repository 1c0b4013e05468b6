import Glibc
import Syscalls

/// The two pipes between the runtime and its child while the container is set up.
///
/// - `goAhead`: the parent writes one byte when its part is done (cgroup, uid maps,
///   network); the child waits for it before doing anything. If the parent fails
///   first, it closes the pipe unwritten and the child, reading end-of-file, quits.
/// - `report`: the child writes why a step failed. Both ends close on exec, so when the
///   command's execve succeeds the parent reads end-of-file and an empty report: "it
///   started". Nothing to poll, no timeout.
struct SetupChannel {
    let goAhead: Pipe
    let report: Pipe

    init() throws {
        goAhead = try Pipe()
        report = try Pipe()
    }

    // MARK: the child's side

    /// Blocks until the parent says go. False if the parent gave up instead.
    func waitForParent() -> Bool {
        goAhead.writeEnd.close()
        let received = (try? goAhead.readEnd.readToEnd()) ?? []
        goAhead.readEnd.close()
        return !received.isEmpty
    }

    /// Tells the parent why the start failed. The exit code travels as the child's
    /// own exit status; the pipe carries only the words.
    func reportFailure(_ error: ContainerError) {
        try? report.writeEnd.writeAll(Array(error.description.utf8))
    }

    // MARK: the parent's side

    /// Closes the ends only the child uses, so end-of-file can ever be seen.
    func parentCloseChildEnds() {
        goAhead.readEnd.close()
        report.writeEnd.close()
    }

    /// Lets the child go on.
    func letChildGo() throws {
        try goAhead.writeEnd.writeAll([1])
        goAhead.writeEnd.close()
    }

    /// Gives up on the child before it started (the parent's setup failed).
    func stopChild() {
        goAhead.writeEnd.close()
    }

    /// Waits until the command was exec'd (empty) or a step failed (its message).
    func readReport() throws -> String {
        let bytes = try report.readEnd.readToEnd()
        report.readEnd.close()
        return String(decoding: bytes, as: UTF8.self)
    }
}
