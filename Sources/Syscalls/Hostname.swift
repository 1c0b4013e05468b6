import Glibc

/// sethostname(2): the name `uname -n` and `hostname` print. It is per UTS namespace,
/// so a process in a new UTS namespace may change it without touching the host's.
public func setHostname(_ name: String) throws(SyscallError) {
    // sethostname takes a length, not a NUL-terminated string.
    let length = name.utf8.count
    let result = name.withCString { Glibc.sethostname($0, length) }
    if result == -1 {
        let code = errno
        let hint =
            code == EPERM
            ? "changing the hostname needs CAP_SYS_ADMIN; without a new UTS namespace it would change the host's"
            : (code == EINVAL ? "a hostname is 1 to 64 bytes" : nil)
        throw SyscallError("sethostname", path: name, errno: code, hint: hint)
    }
}

/// gethostname(2).
public func hostname() throws(SyscallError) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    try check("gethostname", Glibc.gethostname(&buffer, buffer.count))
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
