import Glibc
import Syscalls

/// The two pipes between the runtime and its child while the container is set up.
///
/// - go-ahead: the parent writes one byte when its part is done (cgroup, uid maps,
///   network); the child waits for it before doing anything. If the parent fails
///   first, the pipe closes unwritten and the child, reading end-of-file, quits.
/// - report: the child writes why a step failed. Both ends close on exec, so when the
///   command's execve succeeds the parent reads end-of-file and an empty report: "it
///   started". Nothing to poll for, no timeout.
///
/// The parent owns its ends (they close themselves on every way out); the child, a
/// copy of the parent's memory made by clone(2), gets the numbers (`ChildEnds`).
struct SetupChannel: ~Copyable {
    /// The parent's ends.
    var goAhead: FileDescriptor
    var report: FileDescriptor
    /// The child's ends, until the parent closes its copies after clone.
    var childGoAhead: FileDescriptor
    var childReport: FileDescriptor

    init() throws(SyscallError) {
        let goAheadPipe = try Pipe()
        let reportPipe = try Pipe()
        goAhead = goAheadPipe.writeEnd
        childGoAhead = goAheadPipe.readEnd
        report = reportPipe.readEnd
        childReport = reportPipe.writeEnd
    }

    /// What the child needs to know, as plain numbers.
    var childEnds: ChildEnds {
        ChildEnds(goAhead: childGoAhead.raw, report: childReport.raw, parentOnly: [goAhead.raw, report.raw])
    }

    /// After clone: the child has its copies; the parent's must close, or end-of-file
    /// could never be seen on either pipe.
    consuming func parentSide() -> ParentEnds {
        childGoAhead.close()
        childReport.close()
        return ParentEnds(goAhead: goAhead, report: report)
    }
}

/// The parent's side of the setup pipes, once the child exists.
struct ParentEnds: ~Copyable {
    var goAhead: FileDescriptor
    var report: FileDescriptor
}

/// The child's side of the setup pipes, by number.
struct ChildEnds: Sendable {
    let goAhead: Int32
    let report: Int32
    /// Descriptors the child inherited that belong to the parent: the child closes them
    /// first (PID 1 under `--init` never execs, so close-on-exec would never fire).
    var parentOnly: [Int32]
    /// Chapter 10, `create`: an O_PATH descriptor of the exec fifo to wait on before
    /// the exec.
    var execFifo: Int32?
    /// Chapter 10, `create` with a terminal: the console socket, connected by `create`,
    /// over which the container sends its pty's master.
    var consoleSocket: Int32?

    /// Blocks until the parent says go. False if the parent gave up, or died.
    ///
    /// PR_SET_PDEATHSIG, set just before, signals us when the parent dies from now
    /// on, but not if it died already — and the parent may have written the go-ahead
    /// and been killed before this child ever ran. It keeps its end of the pipe open
    /// for as long as it lives, so a hung-up pipe after the byte means: parent gone.
    func waitForParent() -> Bool {
        for fd in parentOnly { closeDescriptor(fd) }
        var byte: UInt8 = 0
        var count = read(goAhead, &byte, 1)
        while count == -1 && errno == EINTR { count = read(goAhead, &byte, 1) }
        var entry = pollfd(fd: goAhead, events: Int16(POLLIN), revents: 0)
        let parentGone = poll(&entry, 1, 0) == 1 && (entry.revents & Int16(POLLHUP)) != 0
        closeDescriptor(goAhead)
        return count == 1 && !parentGone
    }

    /// Tells the parent why the start failed. The exit code travels as the child's
    /// own exit status; the pipe carries only the words.
    func reportFailure(_ error: ContainerError) {
        try? writeAll(report, Array(error.description.utf8))
    }

    /// Closes this process's copy of the report pipe (PID 1 under `--init`, which stays
    /// while its command runs): from then on, errors go to standard error.
    func closeReport() { closeDescriptor(report) }
}
