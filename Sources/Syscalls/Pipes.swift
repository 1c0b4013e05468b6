import CLinux
import Glibc

/// A file descriptor we own: it closes itself when its owner is done with it.
///
/// It cannot be copied (`~Copyable`), so there is never a second owner to close it
/// twice, nor an owner that forgets: every way out of a scope — a return, a thrown
/// error — ends with `deinit`, which closes it. (crun's `cleanup_close` and youki's
/// `OwnedFd` do the same.) A number that must cross into a cloned child, whose memory
/// is a copy, is taken with `raw` and never closed through this type there.
public struct FileDescriptor: ~Copyable, Sendable {
    public let raw: Int32

    /// Takes ownership of `raw`.
    public init(owning raw: Int32) { self.raw = raw }

    deinit { _ = Glibc.close(raw) }

    /// Closes it now rather than at the end of the scope.
    public consuming func close() {}

    /// Writes all of `bytes`, or throws.
    public borrowing func writeAll(_ bytes: [UInt8]) throws(SyscallError) {
        try Syscalls.writeAll(raw, bytes)
    }

    /// Reads until end of file (every writer closed its end) and returns what came.
    public borrowing func readToEnd() throws(SyscallError) -> [UInt8] {
        var result: [UInt8] = []
        while let chunk = try readChunk() { result += chunk }
        return result
    }

    /// One read(2) of up to 4096 bytes; nil at end of file.
    public borrowing func readChunk() throws(SyscallError) -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let count = chunk.withUnsafeMutableBytes { buffer in
            retryingOnInterrupt { Glibc.read(raw, buffer.baseAddress, buffer.count) }
        }
        try check("read", count)
        return count == 0 ? nil : Array(chunk[0..<count])
    }
}

/// Writes all of `bytes` to a descriptor this code does not own (standard error, or a
/// number in a cloned child).
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(SyscallError) {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { buffer in
            retryingOnInterrupt { Glibc.write(fd, buffer.baseAddress, buffer.count) }
        }
        try check("write", written)
        offset += written
    }
}

/// Closes a descriptor by number: for the cloned child, which holds copies of the
/// parent's descriptors but not the parent's owners of them.
public func closeDescriptor(_ fd: Int32) { _ = Glibc.close(fd) }

/// A pipe whose both ends close on exec (O_CLOEXEC).
///
/// Close-on-exec is what makes a pipe tell "exec worked": when the child's execve
/// succeeds the kernel closes its end, and the parent reads end-of-file.
@frozen
public struct Pipe: ~Copyable, Sendable {
    public var readEnd: FileDescriptor
    public var writeEnd: FileDescriptor

    public init() throws(SyscallError) {
        var fds: [Int32] = [-1, -1]
        try check("pipe2", cl_pipe_cloexec(&fds))
        readEnd = FileDescriptor(owning: fds[0])
        writeEnd = FileDescriptor(owning: fds[1])
    }
}

/// Writes a whole string to standard error, unbuffered. In a cloned child stdio
/// buffers belong to a copy of the parent's memory and would never be flushed.
public func writeToStandardError(_ text: String) {
    try? writeAll(2, Array(text.utf8))
}

/// The descriptors this process has open, by number (from /proc/self/fd): what the
/// tests count around failing starts, so that no error path leaks one.
public func openDescriptors() -> [Int32] {
    ((try? listDirectory("/proc/self/fd")) ?? []).compactMap { Int32($0) }.sorted()
}
