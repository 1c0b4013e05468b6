import Glibc
import Syscalls

// Chapter 8 — the store's work done in the user's own user namespace, as `podman
// unshare` does it.
//
// A rootless container that ran `chown 1000 /x` left a directory owned, on the host,
// by the user's subordinate id START+999. The user cannot remove what is inside it:
// unlink(2) needs write permission on the directory, and the directory is someone
// else's as far as the host's kernel can tell. Root could, but a rootless runtime must
// not need root to clean up after itself. Inside a user namespace with the same maps
// the container had, that id is 1000 again and the caller is root over it
// (CAP_DAC_OVERRIDE counts for every id the namespace maps): the removal works there,
// and nothing outside the user's own range is reachable. The same holds for an image's
// files: their owners are kept only in a user namespace that maps them.

/// Runs `body` in a child process cloned into a new user namespace with the caller's
/// maps (`planUserNamespace`: the subuid range, or the one id), and returns how the
/// child ended. In the child, uid 0 is the caller. `body` runs in a copy of this
/// process: what it changes stays there.
public func runInOwnUserNamespace(_ body: @escaping () -> Int32) throws(ContainerError) -> WaitStatus {
    let maps = try planUserNamespace()
    let goAhead: Pipe
    do { goAhead = try Pipe() } catch { throw ContainerError(step: "enter the user's namespace", reason: "\(error)") }
    let (readEnd, writeEnd) = (goAhead.readEnd.raw, goAhead.writeEnd.raw)
    let child: pid_t
    do {
        child = try clone(flags: .newUser) {
            // Only the parent may hold the write end: should it die before the maps are
            // written, the read below ends at once instead of waiting forever.
            closeDescriptor(writeEnd)
            setParentDeathSignal(SIGKILL)
            var byte: UInt8 = 0
            guard read(readEnd, &byte, 1) == 1 else { exitImmediately(ExitCode.runtimeFailed) }
            closeDescriptor(readEnd)
            exitImmediately(body())
        }
    } catch {
        throw ContainerError(step: "enter the user's namespace", reason: "\(error)")
    }
    goAhead.readEnd.close()
    do {
        try Reference().writeIDMaps(maps, child: child)
        try goAhead.writeEnd.writeAll([1])
    } catch {
        killAndReap(child)
        throw ContainerError(step: "write the user namespace's maps", reason: "\(error)")
    }
    goAhead.writeEnd.close()
    do {
        guard let (_, status) = try waitpid(child) else { return .exited(ExitCode.runtimeFailed) }
        return status
    } catch {
        throw ContainerError(step: "wait for the user's namespace", reason: "\(error)")
    }
}

/// Removes a tree of the store (a container's layer, a volume, an image's layer). As
/// root `rm -rf` does it. Rootless, it runs in the user's own user namespace, where the
/// tree's subordinate ids are mapped and the user is root over them; should that
/// namespace be out of reach (no newuidmap), the user removes what the user may.
public func removeOwnTree(_ path: String) {
    guard getuid() != 0, fileKind(path, followLinks: false) != nil else { return removeTree(path) }
    let status = try? runInOwnUserNamespace {
        removeTree(path)
        return 0
    }
    if status != .exited(0) || fileKind(path, followLinks: false) != nil { removeTree(path) }
}

/// True when `scratch` runs rootless: its store and state are the user's own, and
/// what they hold of other ids needs the user's namespace.
public var runsRootless: Bool { getuid() != 0 }

/// `$SCRATCH_HOME` as an absolute path (what the store's helper is handed).
public func absoluteStoreDirectory() -> String { absoluteScratchHome() }

/// overlayfs's own xattrs as the mounter can write them: `trusted.overlay.*` for root
/// of the host, `user.overlay.*` in a user namespace (trusted.* needs CAP_SYS_ADMIN in
/// the host's namespace), read by overlayfs when mounted with `userxattr`.
public func overlayAttributeName(_ name: String) -> String {
    guard name.hasPrefix("trusted.overlay."), inUserNamespace() else { return name }
    return "user." + name.dropFirst("trusted.".count)
}

/// True in a user namespace other than the host's (for the store's helper).
public func runsInUserNamespace() -> Bool { inUserNamespace() }

/// Rootless, before the clone: the store's and the state's paths written into this
/// process's environment, which the child inherits (the container's own environment is
/// built apart). In its user namespace the child is uid 0, and `scratchHome()` would
/// otherwise answer root's ~/.cache/scratch where a named volume is looked up.
func pinRootlessPaths() {
    guard getuid() != 0 else { return }
    setenv("SCRATCH_HOME", absoluteScratchHome(), 1)
    setenv("SCRATCH_STATE_ROOT", stateRoot, 1)
}
