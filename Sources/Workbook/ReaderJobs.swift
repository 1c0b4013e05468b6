import Checks
import Foundation
import Glibc

/// A program the reader runs beside itself (the checks, a snippet, the x-ray), read
/// through a pipe that never blocks: the reader polls the pipe with the keyboard and
/// keeps drawing while the program runs.
///
/// The child starts in a session of its own (setsid), with stdin /dev/null and no
/// controlling terminal: it cannot read the keys meant for the reader, a Ctrl-C in the
/// reader (raw mode: a key, not a signal) never reaches it, and the reader ends it and
/// everything it started with one signal to its process group.
public final class ReaderJob {
    public let title: String
    public let started = Date()
    public private(set) var lines: [ReaderLine] = []
    /// The exit status (128+N for signal N) once the child is reaped.
    public private(set) var status: Int32?
    public private(set) var finished: Date?
    public let pid: pid_t
    /// Seconds the child may run before the reader kills it; nil for no limit.
    let timeLimit: Double?
    public private(set) var timedOut = false
    private(set) var descriptor: Int32
    private var partial: [UInt8] = []

    /// Starts `arguments` (a path, then its arguments) in `directory`; an error says
    /// which call failed.
    public init(title: String, arguments: [String], environment: [String: String], directory: String, timeLimit: Double? = nil) throws {
        self.title = title
        self.timeLimit = timeLimit
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw WorkbookError("cannot run \(title): pipe: \(String(cString: strerror(errno)))") }
        // The reader is one thread: no other fork can slip between pipe and these.
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, ends[1], 1)
        posix_spawn_file_actions_adddup2(&actions, ends[1], 2)
        // env -C changes directory for the child: posix_spawn's own chdir action is a
        // GNU extension Glibc's Swift module hides.
        let arguments = ["/usr/bin/env", "-C", directory] + arguments
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var child: pid_t = 0
        let result = withCleanSpawnAttributes(extraFlags: Self.setsid) { attributes in
            posix_spawn(&child, arguments[0], &actions, &attributes, argv, envp)
        }
        close(ends[1])
        guard result == 0 else {
            close(ends[0])
            throw WorkbookError("cannot run \(title): posix_spawn \(arguments[3]): \(String(cString: strerror(result)))")
        }
        pid = child
        descriptor = ends[0]
    }

    /// POSIX_SPAWN_SETSID, hidden by Glibc's module (it needs _GNU_SOURCE).
    static let setsid: Int32 = 0x80

    public var running: Bool { status == nil }

    /// The pipe to poll, while it is open.
    public var pollDescriptor: Int32? { descriptor >= 0 ? descriptor : nil }

    /// Takes what the child wrote so far, and its status once it ended. Never blocks.
    public func service() {
        if descriptor >= 0 {
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let count = read(descriptor, &buffer, buffer.count)
                if count > 0 {
                    take(buffer[0..<count])
                    continue
                }
                if count == 0 {
                    close(descriptor)
                    descriptor = -1
                    if !partial.isEmpty { take([10]) }
                }
                break
            }
        }
        if status == nil, let limit = timeLimit, Date().timeIntervalSince(started) > limit {
            timedOut = true
            stop()
            return
        }
        guard status == nil else { return }
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid {
            record(raw)
        }
    }

    private func take<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        for byte in bytes {
            if byte == 10 {
                lines.append(ReaderLine(sgr: String(decoding: partial, as: UTF8.self)))
                partial.removeAll(keepingCapacity: true)
            } else if byte == 13 {
                // A progress line redrawn in place: keep what follows the last return.
                partial.removeAll(keepingCapacity: true)
            } else {
                partial.append(byte)
            }
        }
    }

    private func record(_ raw: Int32) {
        let signal = raw & 0x7F
        status = signal == 0 ? (raw >> 8) & 0xFF : 128 + signal
        finished = Date()
        if descriptor >= 0 {
            // What is still in the pipe after the exit.
            service()
        }
    }

    /// Ends the child and whatever it started (its process group): SIGTERM, then
    /// SIGKILL after a second, and reaps it.
    public func stop() {
        guard status == nil else { return }
        kill(-pid, SIGTERM)
        var raw: Int32 = 0
        for _ in 0..<20 {
            if waitpid(pid, &raw, WNOHANG) == pid {
                record(raw)
                break
            }
            usleep(50_000)
        }
        if status == nil {
            kill(-pid, SIGKILL)
            if waitpid(pid, &raw, 0) == pid { record(raw) }
        }
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
    }

    public var seconds: Double { (finished ?? Date()).timeIntervalSince(started) }
}
