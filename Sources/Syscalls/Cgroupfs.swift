import CLinux
import Glibc

// The few calls the cgroup code needs beyond plain files: which filesystem a path is
// on, and writes to kernel control files.

/// statfs(2)'s f_type: the magic number of the filesystem that holds `path`
/// (CGROUP2_SUPER_MAGIC, TMPFS_MAGIC, ... from linux/magic.h).
public func filesystemMagic(_ path: String) throws(SyscallError) -> Int {
    Int(try check("statfs", path: path, cl_filesystem_magic(path)))
}

/// Writes `value` to a kernel control file (cgroupfs, procfs) in one write(2).
///
/// No O_CREAT: a control file the kernel does not offer must fail with ENOENT, not be
/// created (cgroupfs refuses anyway). One write: the kernel parses each write on its
/// own, so "+memory +pids" split in two would be two different requests.
public func writeControlFile(_ path: String, _ value: String) throws(SyscallError) {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    try check("open", path: path, fd)
    defer { _ = close(fd) }
    let bytes = Array(value.utf8)
    let written = bytes.withUnsafeBytes { buffer in
        retryingOnInterrupt { Glibc.write(fd, buffer.baseAddress, buffer.count) }
    }
    if written == -1 {
        throw SyscallError("write", path: "\(path), \"\(value)\"", errno: errno)
    }
}

/// The text of a small kernel file, or nil when it cannot be read (the file is absent,
/// the group is gone).
public func readControlFile(_ path: String) -> String? {
    guard let bytes = try? readFile(path) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

/// The time a file's inode last changed (st_ctime), in seconds since the epoch. For a
/// cgroup directory that is when it was created.
public func changeTime(_ path: String) throws(SyscallError) -> Int {
    var info = stat()
    try check("stat", path: path, stat(path, &info))
    return Int(info.st_ctim.tv_sec)
}

/// The time now, in seconds since the epoch.
public func secondsSinceEpoch() -> Int { Int(time(nil)) }

/// Sleeps for `microseconds`.
public func sleepMicroseconds(_ microseconds: UInt32) { _ = usleep(microseconds) }

/// The number of CPUs online (sysconf(_SC_NPROCESSORS_ONLN)).
public func onlineCPUCount() -> Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
