import CLinux
import Glibc

/// One end of a pipe: a file descriptor we own.
public struct FileDescriptor: Sendable {
    public let raw: Int32
    public init(raw: Int32) { self.raw = raw }

    public func close() { _ = Glibc.close(raw) }

    /// Writes all of `bytes`, or throws.
    public func writeAll(_ bytes: [UInt8]) throws(SyscallError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { buffer in
                retryingOnInterrupt { Glibc.write(raw, buffer.baseAddress, buffer.count) }
            }
            try check("write", written)
            offset += written
        }
    }

    /// Reads until end of file (every writer closed its end) and returns what came.
    public func readToEnd() throws(SyscallError) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                retryingOnInterrupt { Glibc.read(raw, buffer.baseAddress, buffer.count) }
            }
            try check("read", count)
            if count == 0 { return result }
            result += chunk[0..<count]
        }
    }
}

/// A pipe whose both ends close on exec (O_CLOEXEC).
///
/// Close-on-exec is what makes a pipe tell "exec worked": when the child's execve
/// succeeds the kernel closes its end, and the parent reads end-of-file.
public struct Pipe: Sendable {
    public let readEnd: FileDescriptor
    public let writeEnd: FileDescriptor

    public init() throws(SyscallError) {
        var fds: [Int32] = [-1, -1]
        try check("pipe2", cl_pipe_cloexec(&fds))
        readEnd = FileDescriptor(raw: fds[0])
        writeEnd = FileDescriptor(raw: fds[1])
    }
}

/// Writes a whole string to standard error, unbuffered. In a cloned child stdio
/// buffers belong to a copy of the parent's memory and would never be flushed.
public func writeToStandardError(_ text: String) {
    try? FileDescriptor(raw: 2).writeAll(Array(text.utf8))
}
