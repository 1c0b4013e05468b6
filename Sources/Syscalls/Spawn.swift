import Glibc

/// Runs a helper program (not a container) and returns its exit status and standard
/// output. posix_spawn(3) rather than fork+exec: it is the one safe way to start a
/// program from a process that might have threads, and it needs no cleanup code.
/// With `withStandardError`, its standard error comes back in `output` too (for a
/// helper whose chatter is shown only when it fails).
public func runProgram(_ arguments: [String], withStandardError: Bool = false) throws(SyscallError) -> (
    status: WaitStatus, output: [UInt8]
) {
    let output = try Pipe()
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, output.writeEnd.raw, 1)
    if withStandardError { posix_spawn_file_actions_adddup2(&actions, output.writeEnd.raw, 2) }
    var pid: pid_t = 0
    let result = withCStrings(arguments) { argv in
        withCStrings([]) { envp in
            posix_spawnp(
                &pid, arguments[0], &actions, nil,
                UnsafeMutablePointer(mutating: argv), UnsafeMutablePointer(mutating: envp))
        }
    }
    // Our copy of the write end must close, or the read below never sees end-of-file.
    output.writeEnd.close()
    if result != 0 { throw SyscallError("posix_spawn", path: arguments[0], errno: result) }
    let bytes = try output.readEnd.readToEnd()
    guard let (_, status) = try waitpid(pid) else { return (.exited(0), bytes) }
    return (status, bytes)
}
