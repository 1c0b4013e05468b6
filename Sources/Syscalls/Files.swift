import Glibc

/// What kind of file a path names, following symbolic links (stat(2)); nil if none.
public enum FileKind: Sendable { case directory, regular, symlink, other }

public func fileKind(_ path: String, followLinks: Bool = true) -> FileKind? {
    var info = stat()
    let result = followLinks ? stat(path, &info) : lstat(path, &info)
    if result != 0 { return nil }
    switch info.st_mode & S_IFMT {
    case S_IFDIR: return .directory
    case S_IFREG: return .regular
    case S_IFLNK: return .symlink
    default: return .other
    }
}

/// (device, inode) of a path: two paths are the same file exactly when these match.
public func fileIdentity(_ path: String) throws(SyscallError) -> (device: UInt, inode: UInt) {
    var info = stat()
    try check("stat", path: path, stat(path, &info))
    return (UInt(info.st_dev), UInt(info.st_ino))
}

public func isExecutable(_ path: String) -> Bool { access(path, X_OK) == 0 }

/// The directory a path is in: "/sys/fs/cgroup/scratch" for "/sys/fs/cgroup/scratch/1a2b".
public func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// mkdir(2); a directory that is already there is fine.
public func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(SyscallError) {
    if mkdir(path, mode) == -1 && errno != EEXIST { throw SyscallError("mkdir", path: path) }
}

/// mkdir -p.
public func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SyscallError) {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        current += "/" + component
        try makeDirectory(current, mode: mode)
    }
}

public func removeDirectory(_ path: String) throws(SyscallError) {
    try check("rmdir", path: path, rmdir(path))
}

public func removeFile(_ path: String) throws(SyscallError) {
    if unlink(path) == -1 && errno != ENOENT { throw SyscallError("unlink", path: path) }
}

public func changeDirectory(_ path: String) throws(SyscallError) {
    try check("chdir", path: path, chdir(path))
}

public func makeSymlink(target: String, at path: String) throws(SyscallError) {
    if symlink(target, path) == -1 && errno != EEXIST { throw SyscallError("symlink", path: path) }
}

/// The names in a directory, without "." and "..".
public func listDirectory(_ path: String) throws(SyscallError) -> [String] {
    guard let directory = opendir(path) else { throw SyscallError("opendir", path: path) }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// The whole content of a (small) file.
public func readFile(_ path: String) throws(SyscallError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    try check("open", path: path, fd)
    let descriptor = FileDescriptor(owning: fd)
    do { return try descriptor.readToEnd() } catch { throw SyscallError("read", path: path, errno: error.errno) }
}

/// The content of a file the user named (an env file, a config), at most `limit`
/// bytes, else EFBIG. Pipes are read (`--env-file <(…)` is one); the limit is what
/// stops `/dev/zero` or a runaway generator from filling the runtime's memory.
public func readFile(_ path: String, limit: Int) throws(SyscallError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
    try check("open", path: path, fd)
    let descriptor = FileDescriptor(owning: fd)
    var result: [UInt8] = []
    while true {
        let chunk: [UInt8]?
        do { chunk = try descriptor.readChunk() } catch { throw SyscallError("read", path: path, errno: error.errno) }
        guard let chunk else { return result }
        result += chunk
        if result.count > limit { throw SyscallError("read", path: path, errno: EFBIG, hint: "more than \(limit) bytes") }
    }
}

/// The content of a small regular file that someone else made (an image's
/// /etc/passwd), or nil when there is none. O_NONBLOCK and the fstat keep a hostile
/// image from hanging the runtime: a FIFO there would block open(2) and read(2)
/// forever, and a character device such as /dev/zero would never end.
public func readRegularFile(_ path: String, limit: Int) throws(SyscallError) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
    if fd == -1 && (errno == ENOENT || errno == ENOTDIR) { return nil }
    try check("open", path: path, fd)
    let descriptor = FileDescriptor(owning: fd)
    var info = stat()
    try check("fstat", path: path, fstat(fd, &info))
    guard info.st_mode & S_IFMT == S_IFREG else {
        throw SyscallError("open", path: path, errno: EINVAL, hint: "not a regular file")
    }
    guard info.st_size <= limit else {
        throw SyscallError("read", path: path, errno: EFBIG, hint: "larger than \(limit) bytes")
    }
    do { return try descriptor.readToEnd() } catch { throw SyscallError("read", path: path, errno: error.errno) }
}

/// Writes `bytes` to `path`, creating or truncating it.
public func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, create: Bool = true) throws(SyscallError) {
    let flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0)
    let fd = open(path, flags, mode)
    try check("open", path: path, fd)
    let descriptor = FileDescriptor(owning: fd)
    do { try descriptor.writeAll(bytes) } catch { throw SyscallError("write", path: path, errno: error.errno) }
}

/// Creates an empty file if none is there (a bind-mount target must exist).
public func touchFile(_ path: String, mode: mode_t = 0o644) throws(SyscallError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, mode)
    try check("open", path: path, fd)
    _ = close(fd)
}

/// True when the filesystem holding `path` is mounted read-only (statvfs ST_RDONLY).
public func isOnReadOnlyFilesystem(_ path: String) -> Bool {
    var info = statvfs()
    return statvfs(path, &info) == 0 && (info.f_flag & UInt(ST_RDONLY)) != 0
}

/// realpath(3): the absolute path with every symlink and `..` resolved.
public func resolvedPath(_ path: String) throws(SyscallError) -> String {
    guard let resolved = realpath(path, nil) else { throw SyscallError("realpath", path: path) }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// The value of an environment variable of this process.
public func environmentValue(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// readlink(2): where a symbolic link points.
public func symlinkTarget(_ path: String) throws(SyscallError) -> String {
    var buffer = [CChar](repeating: 0, count: 4097)
    let count = readlink(path, &buffer, 4096)
    try check("readlink", path: path, count)
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
