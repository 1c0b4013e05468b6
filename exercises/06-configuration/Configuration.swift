import Glibc
// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import protocol Runtime.ConfigurationSteps
import struct Runtime.NotDoneYet
import Syscalls

// Chapter 6 — Configuration: environment and volumes.
//
// Read first: `./workbook read 6`, sections "Where a variable comes from", "A volume
// by hand", "The symlinked target" and "Your turn".
// Check your work: `./workbook check 6`. Stuck? `./workbook hint 6`.
//
// The runtime reads the flags, the image's config and the env files in step 1 (a bad
// one fails before anything exists), finds the user (for HOME), and asks you for the
// variables the command starts with (`environment`). Before the pivot it makes each
// volume's mount point inside the rootfs and asks you to mount a bind volume there
// (`mountBindVolume`); named volumes are binds of a directory the runtime keeps.

/// Your chapter 6, called through the `ConfigurationSteps` protocol.
public struct YourConfiguration: ConfigurationSteps {
    public init() {}

    /// The command's variables, `K=V` each, from their sources, lowest precedence first:
    ///
    /// - `image`: the image's Env; `config`: a config file's process.env;
    /// - `envFileLines`: every --env-file's lines as written (the runtime checked them):
    ///   skip blank lines and lines starting with `#`, drop leading spaces and tabs; a
    ///   line `K` with no `=` takes the host's K (`environmentValue(K)`), or is left out
    ///   when the host has none;
    /// - `flags`: -e, in order (a bare `-e K` already holds the host's value).
    ///
    /// A later source's variable replaces an earlier one's of the same name (the name is
    /// what comes before the first `=`). `defaults` (PATH, HOSTNAME, HOME, maybe TERM)
    /// come in only for names no source set. And nothing else: the runtime's own
    /// variables (this process's environment) are the host's, not the container's.
    public func environment(image: [String], config: [String], envFileLines: [String], flags: [String], defaults: [String]) throws
        -> [String]
    {
        // TODO: the env files' variables, then the four sources merged in order, then the defaults.
        throw NotDoneYet(chapter: 6, file: "exercises/06-configuration/Configuration.swift")
    }

    /// Runs in the child, before the pivot: bind-mount the host's `source` on `target`
    /// inside the rootfs, read-only when `readOnly`.
    ///
    /// - `root` is an O_PATH descriptor of the rootfs; `target` is absolute and exists
    ///   in the rootfs already. Look it up *inside* the root: `openInRoot(root, target)`
    ///   (openat2 RESOLVE_IN_ROOT) gives a descriptor, and mount(2) reaches what it holds
    ///   through `descriptorPath(...)`. The image is not yours: a path built from the
    ///   rootfs's path and `target` is looked up by the host's rules.
    /// - The bind is recursive (mounts under `source` come along): `mount(source:target:
    ///   type:flags:)` with `[.bind, .recursive]`.
    /// - Read-only takes a second mount(2) call on the new mount (look it up again):
    ///   which flags does a bind mount's remount need, and which of the mount's own flags
    ///   (`lockedMountFlags(...)`) must it keep?
    public func mountBindVolume(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws {
        // TODO: look the target up in the root, bind, then (readOnly) the remount.
        throw NotDoneYet(chapter: 6, file: "exercises/06-configuration/Configuration.swift")
    }
}
