import Glibc
import Syscalls

// Chapter 0 — the last step of every start: become the user's command.

/// Why execve(2) refused the command.
public struct ExecFailure: Error, CustomStringConvertible {
    public let command: String
    public let errno: Int32

    public var description: String {
        switch errno {
        case ENOENT where !command.contains("/"):
            return "exec \(command): executable file not found in $PATH"
        case ENOENT:
            return "exec \(command): no such file or directory"
        case EACCES:
            return "exec \(command): permission denied — is it a directory, or missing its execute bit?"
        case ENOEXEC:
            return "exec \(command): exec format error — not a binary this kernel can run (a script needs a #! line)"
        default:
            return "exec \(command): \(Errno.describe(errno))"
        }
    }
}

/// Replaces this process with the command. Returns only by throwing.
///
/// A name without a slash is looked up in the container's PATH, the way a shell does;
/// since this runs after pivot_root, it finds the rootfs's programs, not the host's.
/// EACCES from one directory is remembered: if no later directory has the program,
/// "permission denied" says more than "not found".
public func execCommand(_ command: [String], environment: [String]) throws(ExecFailure) -> Never {
    let name = command[0]
    if name.contains("/") {
        throw ExecFailure(command: name, errno: execve(name, command, environment))
    }
    let path = environment.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? defaultPath
    var failure = ENOENT
    for directory in path.split(separator: ":", omittingEmptySubsequences: false) {
        let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + name
        let code = execve(candidate, command, environment)
        if code != ENOENT && code != ENOTDIR { failure = code }
    }
    throw ExecFailure(command: name, errno: failure)
}

/// The PATH a container gets, the same as Docker's default.
public let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/// Chapter 10: whether `name` would be found and may be executed, as execCommand
/// will look for it — checked before `create` reports the container created.
func findCommand(_ name: String, environment: [String]) throws(ContainerError) {
    func runnable(_ path: String) -> Bool { fileKind(path) == .regular && access(path, X_OK) == 0 }
    if name.contains("/") {
        if runnable(name) { return }
    } else {
        let path = environment.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? defaultPath
        for directory in path.split(separator: ":", omittingEmptySubsequences: false) {
            if runnable((directory.isEmpty ? "." : String(directory)) + "/" + name) { return }
        }
    }
    throw ContainerError(
        step: "find the command",
        reason:
            "exec: \(ContainerSpec.quoted(name)): executable file not found in $PATH (or not executable) — check process.args[0] and process.env's PATH",
        exitCode: ExitCode.notFound)
}
