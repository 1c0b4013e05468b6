import Glibc
import Syscalls

// Seeding a named volume, safe against a container that holds the same volume.
//
// The volume's data directory is shared: another container may have it mounted and
// write into it while this run seeds it. `cp -a SRC/. DATA/` writes *through* a
// symlink it finds at the destination (GNU cp opens an existing file there with
// O_TRUNC, following the link): a container that plants `f -> /etc/shadow` in the
// volume between the "is it empty?" check and the copy has the image's `f` written
// over the host's /etc/shadow — cp runs before the pivot, where / is the host's.
// So cp writes only into a directory no container can reach, and each top entry is
// then renamed into the data directory: rename(2) never follows a link at its
// destination, and an entry a container made meanwhile is left as it is (the volume
// is no longer empty; its content wins, as Docker keeps a volume's content).

/// Copies `source`'s content (owners, modes, links as links) into `data`, through
/// `staging` (made here, removed after; beside `data`, so on the same filesystem). The
/// data directory takes the source directory's owner and mode, as `cp -a SRC/.` gave it.
public func seedCopy(from source: String, into data: String, staging: String) throws {
    removeTree(staging)
    try makeDirectory(staging, mode: 0o700)
    defer { removeTree(staging) }
    let (status, _) = try runProgram(["cp", "-a", "--", source + "/.", staging + "/"])
    guard status == .exited(0) else {
        throw ContainerError(step: "mount the volumes", reason: "seed the volume: cp -a \(source)/. \(staging)/ failed (\(status))")
    }
    for name in try listDirectory(staging) {
        var info = stat()
        // Already there: the container that shares the volume wrote it first.
        if lstat(data + "/" + name, &info) == 0 { continue }
        if rename(staging + "/" + name, data + "/" + name) == -1 {
            throw SyscallError("rename", path: "\(staging)/\(name) to \(data)/\(name)")
        }
    }
    var info = stat()
    try check("lstat", path: staging, lstat(staging, &info))
    try check("chown", path: data, lchown(data, info.st_uid, info.st_gid))
    try check("chmod", path: data, chmod(data, info.st_mode & 0o7777))
}
