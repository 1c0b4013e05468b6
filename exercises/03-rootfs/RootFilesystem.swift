import Glibc
// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import enum Runtime.ExitCode
import struct Runtime.NotDoneYet
import protocol Runtime.RootFilesystemSteps
import Syscalls

// Chapter 3 — A root of its own: the mount namespace and pivot_root.
//
// Read first: `./workbook read 3`, sections "pivot_root" and "Your turn".
// Check your work: `./workbook check 3`. Stuck? `./workbook hint 3`.
//
// Both functions run in the child, in its new mount namespace, after the runtime has
// made every mount private (so nothing you do here propagates to the host). The
// Syscalls layer has a throwing wrapper for each call: Sources/Syscalls/Mounts.swift
// and Files.swift.

/// Your chapter 3, called through the `RootFilesystemSteps` protocol.
public struct YourRootFilesystem: RootFilesystemSteps {
    public init() {}

    /// Make `rootfs` the container's `/`, and leave no way back to the host's tree.
    ///
    /// When this returns: `/` is the rootfs, the working directory is `/`, no mount of
    /// the host is left in this namespace, and nothing of yours is left in the rootfs.
    /// The lesson's five steps:
    ///
    /// 1. pivot_root(2) takes only a mount point (EBUSY or EINVAL otherwise): bind-mount
    ///    `rootfs` onto itself, recursively, with mount(2).
    /// 2. Make a directory inside it to receive the old root (mkdir(2)).
    /// 3. pivot_root(2), with that directory as `put_old`.
    /// 4. chdir(2) to "/": your working directory still points into the old tree.
    /// 5. Unmount the old root (now under "/", not under `rootfs`) with umount2(2) —
    ///    detached, because it has submounts (/proc, /sys, ...) and a plain unmount
    ///    fails with EBUSY — then rmdir(2) its directory.
    ///
    /// Or runc's way, which needs no directory (a read-only rootfs works too): see
    /// "Five steps, and the old root" in the lesson.
    public func pivotToRootfs(_ rootfs: String) throws {
        // TODO: the five steps above.
        throw NotDoneYet(chapter: 3, file: "exercises/03-rootfs/RootFilesystem.swift")
    }

    /// Mount a fresh procfs (proc(5)) on /proc, so that `ps` shows the container's
    /// processes only: a procfs shows the PID namespace of whoever mounts it.
    /// Nothing in it is a program, a set-uid file or a device: say so in its flags.
    /// Make /proc first (mode 0555) if the rootfs has none.
    public func mountProc() throws {
        // TODO: mount proc on /proc.
        throw NotDoneYet(chapter: 3, file: "exercises/03-rootfs/RootFilesystem.swift")
    }
}
