import Glibc

/// posix_spawn attributes for a process that starts as a shell would start it: no
/// signal blocked, every disposition the default, whatever the spawning process (a
/// test runner, a checker with threads) blocks or ignores. `extraFlags` adds
/// POSIX_SPAWN_* flags (the snippet tests add SETSID).
///
/// Every bit of the default set is set by hand: glibc's sigfillset leaves out its own
/// signals 32 and 33 (SIGCANCEL, SIGSETXID), and posix_spawn's child then sets those
/// to SIG_IGN, so every program it runs would start with them ignored
/// (SigIgn 0000000180000000) — which no shell's child has.
public func withCleanSpawnAttributes<T>(extraFlags: Int32 = 0, _ body: (inout posix_spawnattr_t) -> T) -> T {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var all = sigset_t()
    withUnsafeMutableBytes(of: &all) { $0.initializeMemory(as: UInt8.self, repeating: 0xFF) }
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setflags(&attributes, Int16(extraFlags | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    return body(&attributes)
}
