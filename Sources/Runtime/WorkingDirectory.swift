import Glibc
import Syscalls

// Chapter 6 — the working directory: `-w DIR`, the image's WorkingDir, or /.

/// What is wrong with a `-w` value, or nil. It must be absolute: relative to what? The
/// runtime's own directory is on the host, and the image's may not exist yet.
public func workingDirectoryProblem(_ path: String) -> String? {
    if !path.hasPrefix("/") {
        return "\(ContainerSpec.quoted(path)) is relative — the working directory is a path inside the container, so it starts with / (e.g. -w /app)"
    }
    if path.utf8.contains(0) { return "a path cannot hold a NUL byte" }
    return nil
}

/// In the child, after the pivot and as root, before a read-only remount: makes the
/// directory when the image lacks it, as Docker does (root's, mode 0755 less the
/// umask). After the pivot "/" is the rootfs, so a symlink in the image's path
/// resolves inside it and cannot make us create a directory on the host.
func makeWorkingDirectory(_ path: String) throws(SyscallError) {
    if fileKind(path) == .directory { return }
    try makeDirectories(path)
}

/// Enters the working directory, once the command's user is set: a directory that
/// user may not enter fails here with EACCES, as it would for the command, rather
/// than be entered with root's rights.
func enterWorkingDirectory(_ path: String) throws(SyscallError) {
    do {
        try changeDirectory(path)
    } catch {
        var error = error
        if error.errno == EACCES { error.hint = "the container's user may not enter it — choose another -w, or a user who may" }
        if error.errno == ENOTDIR { error.hint = "a part of the path is a file in the image, not a directory" }
        throw error
    }
}
