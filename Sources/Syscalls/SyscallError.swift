import Glibc

/// A failed system call: which call, on which path, and the errno the kernel gave.
///
/// The message reads like one line of the story: `mount(proc, /proc): Operation not
/// permitted`. Where a common cause is known, `hint` says it in words a person can act on.
public struct SyscallError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let path: String?
    public let errno: Int32
    public var hint: String?

    public init(_ call: String, path: String? = nil, errno: Int32 = Glibc.errno, hint: String? = nil) {
        self.call = call
        self.path = path
        self.errno = errno
        self.hint = hint
    }

    /// errno in words, as strerror(3) says it ("No such file or directory").
    public var errnoDescription: String { Errno.describe(errno) }

    public var description: String {
        var text = call
        if let path { text += "(\(path))" }
        text += ": \(errnoDescription)"
        if let hint { text += " — \(hint)" }
        return text
    }
}

public enum Errno {
    public static func describe(_ code: Int32) -> String {
        guard let cString = strerror(code) else { return "errno \(code)" }
        return String(cString: cString)
    }
}

/// Runs `body` until it stops failing with EINTR. A signal that arrives while we sit in
/// a blocking call (read, waitpid) interrupts it; that is not an error, so every
/// blocking wrapper retries in this one place rather than at each call site.
@inline(__always)
func retryingOnInterrupt<T: BinaryInteger>(_ body: () -> T) -> T {
    while true {
        let result = body()
        if result == -1 && errno == EINTR { continue }
        return result
    }
}

/// Turns the C convention (-1 and errno) into a thrown `SyscallError`.
@inline(__always)
@discardableResult
public func check<T: BinaryInteger>(_ call: String, path: String? = nil, _ result: T) throws(SyscallError) -> T {
    if result == -1 { throw SyscallError(call, path: path) }
    return result
}
