import Glibc
import Syscalls

// Chapter 8 — the overlay, rootless.
//
// Linux 5.11 lets root of a user namespace mount overlayfs (the filesystem is marked
// FS_USERNS_MOUNT), with `userxattr` for its marks. An older kernel refuses it (EPERM),
// and a kernel may refuse a given mix of options too. fuse-overlayfs is the same
// merge done by a program in user space behind FUSE, which a user namespace may mount
// since Linux 4.18: what rootless Podman used before 5.11. It reads the same layers
// (whiteouts as 0/0 character devices, user.overlay.opaque) and daemonizes once the
// mount is there; its daemon lives in the container's PID namespace and ends with it.

/// Where fuse-overlayfs is (Debian's package `fuse-overlayfs`); `SCRATCH_FUSE_OVERLAYFS`
/// names another (the tests name a missing one).
func fuseOverlayfsPath() -> String { environmentValue("SCRATCH_FUSE_OVERLAYFS") ?? "/usr/bin/fuse-overlayfs" }

/// True when `SCRATCH_OVERLAY=fuse-overlayfs` asks for fuse-overlayfs even where the
/// kernel's overlay would do (to test the fallback, or to avoid a kernel's bug).
func fuseOverlayForced() -> Bool { environmentValue("SCRATCH_OVERLAY") == "fuse-overlayfs" }

/// In the child, in its user namespace, from inside the store: the kernel's overlay,
/// else fuse-overlayfs with the same options.
func mountRootlessOverlay(options: String, layers: ContainerLayers) throws {
    var refused: SyscallError?
    if !fuseOverlayForced() {
        do {
            try mount(source: "overlay", target: layers.mountPoint, type: "overlay", flags: [], data: options + ",userxattr")
            return
        } catch  where error.errno == EPERM || error.errno == EINVAL || error.errno == ENODEV {
            refused = error
        } catch {
            throw error
        }
    }
    let why =
        refused.map { "the kernel refused the overlay in a user namespace (\($0)); Linux 5.11 or later mounts it" }
        ?? "SCRATCH_OVERLAY=fuse-overlayfs asks for it"
    let program = fuseOverlayfsPath()
    guard access(program, X_OK) == 0 else {
        throw ContainerError(
            step: "mount the overlay",
            reason:
                "\(why), and fuse-overlayfs, the fallback, is not at \(program) — install it (apt-get install fuse-overlayfs), or run on a kernel that mounts overlayfs rootless, or run as root"
        )
    }
    // allow_other: FUSE lets in only processes with the mounter's ids otherwise, and
    // a container's `-u nobody` is another id. In a user namespace the kernel allows
    // it for processes of that namespace only.
    // Its output is read to the end: the daemon it leaves behind points its standard
    // output and error at /dev/null once the mount is there. Shown only on failure
    // (1.10 says "unknown argument ignored: lazytime" on every mount).
    let result = try runProgram([program, "-o", options + ",allow_other", layers.mountPoint], withStandardError: true)
    guard result.status == .exited(0) else {
        let message = String(decoding: result.output, as: UTF8.self).split(separator: "\n").joined(separator: "; ")
        throw ContainerError(
            step: "mount the overlay",
            reason: "\(why), and fuse-overlayfs -o \(options) \(layers.mountPoint) failed (\(result.status)): \(message)")
    }
}
