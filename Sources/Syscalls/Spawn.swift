import Glibc

/// Runs a helper program (not a container) and returns its exit status and standard
/// output. posix_spawn(3) rather than fork+exec: it is the one safe way to start a
/// program from a process that might have threads, and it needs no cleanup code.
///
/// With `withStandardError`, its standard error comes back in `output` too (for a
/// helper whose chatter is shown only when it fails).
///
/// `environment` is the program's whole environment (empty unless given); `input` is
/// its standard input (empty unless given), written before its output is read — fine for a
/// program that reads its input before it answers (a CNI plugin reads its config
/// whole first), a deadlock for one that answers as it reads more than a pipe holds.
/// The program starts with no signal blocked and SIGPIPE back to default: the runtime
/// blocks the signals it forwards and ignores SIGPIPE, and a spawned program would
/// otherwise inherit both (blocked masks and ignored signals survive execve).
public func runProgram(
    _ arguments: [String], withStandardError: Bool = false, environment: [String] = [], input: [UInt8] = []
) throws(SyscallError) -> (
    status: WaitStatus, output: [UInt8]
) {
    let output = try Pipe()
    let stdin = try Pipe()
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, output.writeEnd.raw, 1)
    if withStandardError { posix_spawn_file_actions_adddup2(&actions, output.writeEnd.raw, 2) }
    posix_spawn_file_actions_adddup2(&actions, stdin.readEnd.raw, 0)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGPIPE)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let result = withCStrings(arguments) { argv in
        withCStrings(environment) { envp in
            posix_spawnp(
                &pid, arguments[0], &actions, &attributes,
                UnsafeMutablePointer(mutating: argv), UnsafeMutablePointer(mutating: envp))
        }
    }
    // Our copy of the write end must close, or the read below never sees end-of-file.
    output.writeEnd.close()
    if result != 0 { throw SyscallError("posix_spawn", path: arguments[0], errno: result) }
    stdin.readEnd.close()
    // A program that exits without reading its input makes this write fail with
    // EPIPE; its exit status, read below, is the better report.
    try? stdin.writeEnd.writeAll(input)
    stdin.writeEnd.close()
    let bytes = try output.readEnd.readToEnd()
    guard let (_, status) = try waitpid(pid) else { return (.exited(0), bytes) }
    return (status, bytes)
}
