import Glibc
// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import enum Runtime.ExitCode
import struct Runtime.NotDoneYet
import protocol Runtime.RootFilesystemSteps
import Syscalls

// Chapter 3 — A root of its own: the mount namespace and pivot_root.
//
// Read first: `./workbook read 3`, sections "The pivot_root dance" and "Your turn".
// Check your work: `./workbook check 3`. Stuck? `./workbook hint 3`.
//
// Both functions run in the child, in its new mount namespace, after the runtime has
// made every mount private (so nothing you do here propagates to the host).

/// Your chapter 3, called through the `RootFilesystemSteps` protocol.
public struct YourRootFilesystem: RootFilesystemSteps {
    public init() {}

    /// Make `rootfs` the container's `/`, and leave no way back to the host's tree.
    ///
    /// 1. pivot_root wants the new root to be a mount point: bind-mount `rootfs` onto
    ///    itself (`mount(source:target:type:flags:)` with `[.bind, .recursive]`).
    /// 2. Make a directory inside it to receive the old root, e.g. `rootfs + "/.oldroot"`.
    /// 3. `pivotRoot(_:putOld:)`.
    /// 4. `changeDirectory("/")`: your working directory still points into the old tree.
    /// 5. Unmount the old root, now at "/.oldroot" — lazily (`detach: true`), since this
    ///    very process still uses files from it — and remove the directory.
    public func pivotToRootfs(_ rootfs: String) throws {
        // TODO: the five steps above.
        throw NotDoneYet(chapter: 3, file: "exercises/03-rootfs/RootFilesystem.swift")
    }

    /// Mount a fresh procfs on /proc, so that `ps` shows the container's processes only.
    /// Flags worth having: `.noSuid`, `.noDev`, `.noExec`. Create /proc first if missing.
    public func mountProc() throws {
        // TODO: mount proc on /proc.
        throw NotDoneYet(chapter: 3, file: "exercises/03-rootfs/RootFilesystem.swift")
    }
}
