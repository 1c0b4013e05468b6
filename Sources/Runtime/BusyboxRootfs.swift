import Glibc
import Syscalls

// The default rootfs: one statically linked busybox and a link for each of its
// applets. Built offline from Debian's busybox-static, in well under a second.

/// Where scratch keeps what it builds: $SCRATCH_HOME, else $XDG_CACHE_HOME/scratch,
/// else ~/.cache/scratch (for root; chapter 8: other users, $XDG_DATA_HOME/scratch, else
/// ~/.local/share/scratch).
public func scratchHome() -> String {
    if let home = environmentValue("SCRATCH_HOME"), !home.isEmpty { return home }
    // Chapter 8: a user other than root keeps images and layers with their own data
    // (the XDG base directory rule), as rootless Podman does in ~/.local/share.
    if getuid() != 0 {
        if let data = environmentValue("XDG_DATA_HOME"), !data.isEmpty { return data + "/scratch" }
        return (environmentValue("HOME") ?? "/tmp") + "/.local/share/scratch"
    }
    if let cache = environmentValue("XDG_CACHE_HOME"), !cache.isEmpty { return cache + "/scratch" }
    return (environmentValue("HOME") ?? "/root") + "/.cache/scratch"
}

/// The default rootfs's directory.
public func defaultRootfsPath() -> String { scratchHome() + "/rootfs/busybox" }

/// The busybox binary to copy: $SCRATCH_BUSYBOX, else /bin/busybox.
func busyboxSource() -> String { environmentValue("SCRATCH_BUSYBOX") ?? "/bin/busybox" }

/// Builds the default rootfs if it is not there yet, and returns its path.
///
/// Parallel first runs build it once: each takes a lock (flock) beside it, the first
/// builds, the others wait and then find it there. Under the lock, any half-built
/// `busybox.partial-PID` is a dead builder's, and is removed.
public func ensureDefaultRootfs(announceAs programName: String?) throws(ContainerError) -> String {
    let path = defaultRootfsPath()
    if fileKind(path + "/bin/busybox") == .regular { return path }
    let lock: FileDescriptor
    do {
        lock = try lockRootfsBuilds(blocking: true)
    } catch {
        throw ContainerError(step: "build the busybox rootfs", reason: "\(error)")
    }
    if fileKind(path + "/bin/busybox") == .regular { return path }
    _ = removePartialBuilds(in: parentDirectory(of: path))
    if let programName { writeToStandardError("\(programName): building the default busybox rootfs in \(path)\n") }
    try buildBusyboxRootfs(at: path)
    _ = consume lock
    return path
}

/// The lock that rootfs builds under $SCRATCH_HOME/rootfs take; nil without blocking
/// when another process holds it.
func lockRootfsBuilds(blocking: Bool) throws(SyscallError) -> FileDescriptor {
    let directory = parentDirectory(of: defaultRootfsPath())
    try makeDirectories(directory)
    let path = directory + "/.build.lock"
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    try check("open", path: path, fd)
    let lock = FileDescriptor(owning: fd)
    try check("flock", path: path, retryingFlock(fd, blocking ? LOCK_EX : LOCK_EX | LOCK_NB))
    return lock
}

private func retryingFlock(_ fd: Int32, _ operation: Int32) -> Int32 {
    while true {
        let result = flock(fd, operation)
        if result == -1 && errno == EINTR { continue }
        return result
    }
}

/// Removes the `*.partial-PID` directories in `directory`: interrupted builds. Call it
/// holding the build lock, when no build can be under way.
func removePartialBuilds(in directory: String) -> [String] {
    let partial = ((try? listDirectory(directory)) ?? []).filter { $0.contains(".partial-") }
    for name in partial { _ = try? runProgram(["rm", "-rf", "--one-file-system", directory + "/" + name]) }
    return partial.map { directory + "/" + $0 }
}

/// For `scratch gc`: half-built default rootfses, unless a build is under way.
func removePartialRootfsBuilds() -> [String] {
    guard fileKind(parentDirectory(of: defaultRootfsPath())) == .directory,
        let lock = try? lockRootfsBuilds(blocking: false)
    else { return [] }
    let removed = removePartialBuilds(in: parentDirectory(of: defaultRootfsPath()))
    _ = consume lock
    return removed
}

/// Builds a busybox rootfs at `path` (replacing nothing: it fails if `path` exists).
///
/// It is built in a temporary directory beside `path` and renamed into place, so an
/// interrupted build never leaves a half-made rootfs that later runs would trust.
public func buildBusyboxRootfs(at path: String) throws(ContainerError) {
    func failed(_ reason: String) -> ContainerError {
        ContainerError(step: "build the busybox rootfs", reason: reason)
    }
    let busybox = busyboxSource()
    guard fileKind(busybox) == .regular else {
        throw failed("\(busybox) not found — install Debian's busybox-static: apt-get install -y busybox-static")
    }
    guard isStaticallyLinked(busybox) else {
        throw failed(
            "\(busybox) is dynamically linked, so it cannot run in a rootfs without its libraries — install busybox-static: apt-get install -y busybox-static"
        )
    }
    let applets: [String]
    do {
        let (status, output) = try runProgram([busybox, "--list-full"])
        guard status == .exited(0) else { throw failed("\(busybox) --list-full failed") }
        applets = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
    } catch let error as ContainerError {
        throw error
    } catch {
        throw failed("\(error)")
    }
    let temporary = path + ".partial-\(getpid())"
    do { try makeDirectories(parentDirectory(of: path)) } catch { throw failed("\(error)") }
    // Made here, or the build stops: `DIR.partial-PID` is a guessable name, and with
    // DIR in /tmp a local user could have put `DIR.partial-PID -> /` there — then
    // "making" it would succeed and etc/passwd, etc/group and bin/busybox would be
    // written over the host's own. Only what this mkdir made is removed on failure.
    if mkdir(temporary, 0o755) == -1 {
        throw failed("\(SyscallError("mkdir", path: temporary)) — something is already there; remove it if it is a leftover of yours")
    }
    do {
        for directory in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "proc", "dev", "sys", "tmp", "var"] {
            try makeDirectories(temporary + "/" + directory)
        }
        if chmod(temporary + "/tmp", 0o1777) == -1 { throw SyscallError("chmod", path: temporary + "/tmp") }
        if chmod(temporary + "/root", 0o700) == -1 { throw SyscallError("chmod", path: temporary + "/root") }
        try writeFile(temporary + "/bin/busybox", try readFile(busybox), mode: 0o755)
        for applet in applets where applet != "bin/busybox" {
            try makeSymlink(target: "/bin/busybox", at: temporary + "/" + applet)
        }
        try writeFile(temporary + "/etc/passwd", Array("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n".utf8))
        try writeFile(temporary + "/etc/group", Array("root:x:0:\nnogroup:x:65534:\n".utf8))
        try writeFile(temporary + "/etc/hosts", Array("127.0.0.1\tlocalhost\n::1\tlocalhost\n".utf8))
        try makeDirectories(parentDirectory(of: path))
        if rename(temporary, path) == -1 { throw SyscallError("rename", path: "\(temporary) to \(path)") }
    } catch {
        _ = try? runProgram(["rm", "-rf", temporary])
        throw failed("\(error)")
    }
}

/// True when the ELF file at `path` has no program interpreter (PT_INTERP): it needs
/// no dynamic loader and no shared libraries, so it runs alone in an empty rootfs.
func isStaticallyLinked(_ path: String) -> Bool {
    guard let bytes = try? readFile(path), bytes.count > 64, bytes[0..<4] == [0x7f, 0x45, 0x4c, 0x46],
        bytes[4] == 2  // ELFCLASS64
    else { return false }
    func integer(at offset: Int, size: Int) -> Int {
        (0..<size).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }  // little-endian
    }
    let programHeaders = integer(at: 0x20, size: 8)
    let entrySize = integer(at: 0x36, size: 2)
    let count = integer(at: 0x38, size: 2)
    for index in 0..<count {
        let offset = programHeaders + index * entrySize
        guard offset + 4 <= bytes.count else { return false }
        // Type 3 is PT_INTERP.
        if integer(at: offset, size: 4) == 3 { return false }
    }
    return true
}
