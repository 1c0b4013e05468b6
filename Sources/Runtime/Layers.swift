import Glibc
import Syscalls

// Chapter 5 — layers: every container runs on an overlay.
//
// An image is a stack of read-only layers; a container adds one writable layer of its
// own on top. overlayfs merges them: a lookup finds the topmost layer that has the
// name, a write first copies the file up into the upper layer ("copy-up"), and a
// delete leaves a whiteout there that hides the lower file. The image's layers are
// never written, so no run changes what the next one sees, and many containers share
// one copy of the image.
//
//   $SCRATCH_HOME/layers/<sha256>          one directory per layer, named by the sha256
//                                          of its content as an uncompressed tar (OCI's
//                                          "diff_id"): the same content is stored once
//   $SCRATCH_HOME/images/<name>/<tag>      an image: one `layer=<sha256>` line per layer,
//                                          bottom first, as an OCI manifest lists them
//   $SCRATCH_HOME/containers/<id>/upper    the container's own layer (its writes)
//   $SCRATCH_HOME/containers/<id>/work     overlayfs's scratch space (same filesystem)
//   $SCRATCH_HOME/containers/<id>/rootfs   where the merged tree is mounted, in the
//                                          container's mount namespace only
//
// Why the container's layer lives under $SCRATCH_HOME and not in the state directory
// (/run/scratch, a tmpfs): a container's writes can be large and tmpfs is memory; a
// stopped container's layer must outlive a reboot as Docker's does (to be committed,
// chapter 5's `commit`); and upperdir and workdir must be on one filesystem. The state
// directory records the path (`layer=`), so a dead runtime's layer is found and
// removed like its cgroups.

/// The store's directory of layers.
public func layerStore() -> String { absoluteScratchHome() + "/layers" }

/// Where containers' own layers live.
public func containerLayerRoot() -> String { absoluteScratchHome() + "/containers" }

/// $SCRATCH_HOME made absolute: the overlay is mounted from inside the store (a
/// chdir), where a relative upperdir would point somewhere else; and the state
/// directory's record of a layer must hold from any working directory.
func absoluteScratchHome() -> String {
    let home = scratchHome()
    if home.hasPrefix("/") { return home }
    guard let buffer = getcwd(nil, 0) else { return home }
    defer { free(buffer) }
    return String(cString: buffer) + "/" + home
}

/// The image `scratch run` uses when given neither an image nor --rootfs.
public let defaultImageName = "busybox:latest"

/// A container's overlay: the image's layers and the container's own directory.
public struct ContainerLayers: Sendable, Equatable {
    /// The directory that holds the layers (the mount's relative paths start there).
    public var store: String
    /// The image's layer names in `store`, bottom first.
    public var layers: [String]
    /// `$SCRATCH_HOME/containers/<id>`: upper, work and the mount point.
    public var directory: String
    /// With --rm: `directory`, upper, work and the mount point live in a tmpfs that the
    /// container's own mount namespace mounts on the directory above, and go with it;
    /// nothing of the layer is made on the host's disk. Thrown away at the end, the
    /// layer never needs the disk — and overlayfs syncs the upper layer's
    /// filesystem when it is unmounted: a journal commit on ext4, nothing on tmpfs
    /// (measured here: about 2 ms of every `run --rm`). Its writes use memory, charged
    /// to the container's memory cgroup (--memory bounds them).
    public var inMemory = false

    /// A layer listed twice (an image whose manifest repeats a blob: two steps that
    /// made the same diff) is kept at its topmost place only. overlayfs refuses the
    /// same lower directory twice (ELOOP, "Too many levels of symbolic links"), and the
    /// view is the same: the upper copy brings every file and whiteout the lower one
    /// has, over everything the lower one could have hidden.
    public init(store: String, layers: [String], directory: String, inMemory: Bool = false) {
        self.store = store
        var seen = Set<String>()
        self.layers = layers.reversed().filter { seen.insert($0).inserted }.reversed()
        self.directory = directory
        self.inMemory = inMemory
    }

    public var upper: String { directory + "/upper" }
    public var work: String { directory + "/work" }
    /// The merged tree's mount point: the container's rootfs.
    public var mountPoint: String { directory + "/rootfs" }
}

/// An image's record, `$SCRATCH_HOME/images/<name>/<tag>`: plain `key=value` lines the
/// importer writes from the image's JSON config, so `scratch run` needs no JSON parser
/// (Foundation's costs milliseconds at start): `layer=` bottom first, and chapter 6's
/// `env=`, `entrypoint=`, `cmd=` (one line per element), `workdir=`, `user=`.
public struct ImageRecord: Sendable, Equatable {
    public var layers: [String] = []
    public var environment: [String] = []
    public var entrypoint: [String] = []
    public var cmd: [String] = []
    public var workingDirectory: String?
    public var user: String?

    public init() {}

    /// The record's text; values are escaped as the importer writes them (`\\` and `\n`).
    public init(parsing text: String) {
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let value = unescapedRecordValue(line[line.index(after: equals)...])
            switch line[..<equals] {
            case "layer": layers.append(value)
            case "env": environment.append(value)
            case "entrypoint": entrypoint.append(value)
            case "cmd": cmd.append(value)
            case "workdir": workingDirectory = value
            case "user": user = value
            default: continue
            }
        }
    }
}

/// The image's record, its layers checked to be in the store.
public func imageRecord(_ reference: String) throws(ContainerError) -> ImageRecord {
    // A reference is a path under images/, and a record's layer names become the
    // overlay's lowerdirs: `run ../../../tmp/x:y` read a record from anywhere, and its
    // `layer=../../../..` put that host directory under the container. A name never
    // climbs out, and a layer is only ever named by its sha256.
    let name = reference.split(separator: ":", maxSplits: 1).first ?? ""
    if name.hasPrefix("/") || name.split(separator: "/").contains("..") {
        throw ContainerError(step: "find the image", reason: "\(reference) is not an image name (it leaves \(scratchHome())/images)")
    }
    let path = imageRecordFile(reference)
    guard let text = readControlFile(path) else {
        throw ContainerError(step: "find the image", reason: "no image \(reference) in \(scratchHome())/images")
    }
    let record = ImageRecord(parsing: text)
    let hex = Set("0123456789abcdef".utf8)
    for layer in record.layers where layer.utf8.count != 64 || !layer.utf8.allSatisfy(hex.contains) {
        throw ContainerError(
            step: "find the image", reason: "\(path) names the layer \(layer), which is not a sha256 — the record was changed; import the image again"
        )
    }
    for layer in record.layers where fileKind(layerStore() + "/" + layer) != .directory {
        throw ContainerError(
            step: "find the image", reason: "\(reference) needs layer \(layer), which is not in \(layerStore()) — import the image again")
    }
    if record.layers.isEmpty { throw ContainerError(step: "find the image", reason: "\(path) lists no layers") }
    return record
}

/// The image's layers, bottom first.
public func imageLayers(_ reference: String) throws(ContainerError) -> [String] {
    try imageRecord(reference).layers
}

public func imageRecordFile(_ reference: String) -> String {
    let parts = reference.split(separator: ":", maxSplits: 1)
    let name = parts.first.map(String.init) ?? reference
    let tag = parts.count > 1 ? String(parts[1]) : "latest"
    return scratchHome() + "/images/" + name + "/" + tag
}

/// The default busybox image, built on first use, and its layers.
///
/// Its one layer is the busybox rootfs, built under the store's lock in a temporary
/// directory, named by its digest and renamed into place, so parallel first runs
/// build it once and an interrupted build leaves only a `new-PID` that the next
/// build (or `scratch gc`) removes.
public func ensureDefaultImage(announceAs programName: String?) throws(ContainerError) -> [String] {
    if let layers = try? imageLayers(defaultImageName) { return layers }
    let lock: FileDescriptor
    do {
        lock = try lockStore(blocking: true)
    } catch {
        throw ContainerError(step: "build the busybox image", reason: "\(error)")
    }
    if let layers = try? imageLayers(defaultImageName) { return layers }
    _ = removeUnfinishedLayers()
    if let programName { writeToStandardError("\(programName): building the default busybox image in \(layerStore())\n") }
    let temporary = layerStore() + "/new-\(getpid())"
    try buildBusyboxRootfs(at: temporary)
    do {
        let digest = try layerDigest(temporary)
        let final = layerStore() + "/" + digest
        if fileKind(final) == .directory {
            removeTree(temporary)
        } else if rename(temporary, final) == -1 {
            throw SyscallError("rename", path: "\(temporary) to \(final)")
        }
        let record = imageRecordFile(defaultImageName)
        try makeDirectories(parentDirectory(of: record))
        try writeFile(record + ".new", Array("layer=\(digest)\n".utf8))
        if rename(record + ".new", record) == -1 { throw SyscallError("rename", path: "\(record).new to \(record)") }
    } catch {
        removeTree(temporary)
        throw ContainerError(step: "build the busybox image", reason: "\(error)")
    }
    _ = consume lock
    return try imageLayers(defaultImageName)
}

/// The sha256 of the layer as a reproducible uncompressed tar (sorted names, times
/// and owners zeroed): its OCI diff_id. Off the hot path: only when a layer is made.
func layerDigest(_ directory: String) throws -> String {
    let script =
        "tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu -C \"$1\" -cf - . | sha256sum"
    // bash, not sh: a busybox sh (as in the cgroup v2 VM) runs its own tar, which has
    // no --sort.
    let (status, output) = try runProgram(["bash", "-c", script, "bash", directory])
    let digest = String(decoding: output.prefix(64), as: UTF8.self)
    guard status == .exited(0), digest.count == 64, digest.allSatisfy(\.isHexDigit) else {
        throw ContainerError(step: "hash the layer", reason: "tar | sha256sum of \(directory) failed — is GNU tar installed?")
    }
    return digest
}

/// `path`, made if missing, entered by root alone (0700, also when it was made
/// earlier with 0755). The layers hold images' files as they are, set-uid-root
/// programs among them, and a volume holds what a container's root wrote: with
/// SCRATCH_HOME under a directory others can enter (/var/lib/scratch, /srv), any
/// user of the host could run `$SCRATCH_HOME/layers/<id>/usr/bin/su-like` as root.
/// overlayfs reaches its layers with the mounter's credentials, so containers running
/// as other users are not affected (Docker's /var/lib/docker is 0710 for the same reason).
public func makePrivateDirectory(_ path: String) throws(SyscallError) {
    try makeDirectories(path)
    try check("chmod", path: path, chmod(path, 0o700))
}

/// The lock that changes to the store take (`$SCRATCH_HOME/layers/.lock`).
public func lockStore(blocking: Bool) throws(SyscallError) -> FileDescriptor {
    try makePrivateDirectory(layerStore())
    let path = layerStore() + "/.lock"
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    try check("open", path: path, fd)
    let lock = FileDescriptor(owning: fd)
    while flock(fd, blocking ? LOCK_EX : LOCK_EX | LOCK_NB) == -1 {
        if errno == EINTR { continue }
        throw SyscallError("flock", path: path)
    }
    return lock
}

/// Removes layers that were being made when their maker died. Call it holding the
/// store's lock.
public func removeUnfinishedLayers() -> [String] {
    let names = ((try? listDirectory(layerStore())) ?? []).filter { $0.hasPrefix("new-") }
    // (Rootless, an interrupted import's files have the image's owners: removeOwnTree.)
    for name in names { removeOwnTree(layerStore() + "/" + name) }
    return names.map { layerStore() + "/" + $0 }
}

/// For `scratch gc`: unfinished layers, unless a build is under way.
func removeUnfinishedLayersIfIdle() -> [String] {
    guard fileKind(layerStore()) == .directory, let lock = try? lockStore(blocking: false) else { return [] }
    let removed = removeUnfinishedLayers()
    _ = consume lock
    return removed
}

/// Step 2: the container's own layer — an empty upper, a work directory and the
/// mount point. Recorded in the state directory before it is made.
func makeContainerLayer(_ layers: ContainerLayers) throws(SyscallError) {
    try makeDirectories(parentDirectory(of: layers.directory), mode: 0o700)
    // In memory: nothing on the host's disk. The child mounts its tmpfs on the
    // containers directory above (it already exists) and makes all of the layer in it.
    // A directory of its own per run cost a journal commit at mkdir and, on a disk
    // mounted with `discard`, a synchronous discard at rmdir (0.4 to 3 ms here).
    if layers.inMemory { return }
    try makeDirectory(layers.directory, mode: 0o700)
    try makeDirectory(layers.upper, mode: 0o755)
    try makeDirectory(layers.work, mode: 0o700)
    try makeDirectory(layers.mountPoint, mode: 0o755)
}

/// Removes a container's layer (step 7: `--rm`, or a start that failed). With --rm
/// there is nothing on the host to remove. A disk layer that holds nothing is empty
/// directories: rmdir(2) them, and start `rm -rf` only when that fails — a process
/// started for every such layer would cost a millisecond.
func removeContainerLayer(_ layers: ContainerLayers) {
    // In memory: it went with the container's mount namespace; the host has none of it.
    if layers.inMemory { return }
    for path in [layers.upper, layers.work + "/work", layers.work, layers.mountPoint, layers.directory] {
        if rmdir(path) == -1 && errno != ENOENT { return removeOwnTree(layers.directory) }
    }
}

/// Removes a directory tree: what `--rm`, `scratch rm` and the cleanup of a dead
/// runtime throw away. `--one-file-system`: should the merged tree still be mounted
/// somewhere, rm must not descend into the image below.
public func removeTree(_ path: String) {
    guard fileKind(path, followLinks: false) != nil else { return }
    _ = try? runProgram(["rm", "-rf", "--one-file-system", "--", path])
}

/// Escapes a path for overlayfs's options: ',' separates options and ':' separates
/// lower layers, and a backslash makes either literal (as it does itself).
public func escapedOverlayPath(_ path: String) -> String {
    var result = ""
    for character in path {
        if character == "\\" || character == ":" || character == "," { result.append("\\") }
        result.append(character)
    }
    return result
}

/// The overlay's mount options. The lower layers are given relative to the store (the
/// caller's working directory when it mounts): the options must fit in one page (4096
/// bytes), and 64-digit names plus a long absolute prefix each would stop near 40
/// layers. Top layer first: overlayfs reads `lowerdir` left to right, top to bottom.
///
/// No `volatile`: it would skip the syncfs of the upper layer's filesystem at
/// unmount, but measured here (tools/bench) a volatile overlay made `run --rm` slower,
/// not faster.
public func overlayMountOptions(_ layers: ContainerLayers) -> String {
    Reference().overlayOptions(lower: layers.layers, upper: layers.upper, work: layers.work)
}

extension Reference: LayerSteps {
    public func overlayOptions(lower: [String], upper: String, work: String) -> String {
        let lowerdir = lower.reversed().map(escapedOverlayPath).joined(separator: ":")
        return "lowerdir=\(lowerdir),upperdir=\(escapedOverlayPath(upper)),workdir=\(escapedOverlayPath(work))"
    }

    /// OCI marks a deletion with a file (`.wh.NAME`), overlayfs with a 0/0 character
    /// device named NAME; OCI marks "nothing below shows through this directory" with
    /// `.wh..wh..opq` in it, overlayfs with the xattr trusted.overlay.opaque=y on the
    /// directory itself. trusted.*, not user.*: overlayfs reads user.overlay.* only
    /// when mounted with `userxattr` (rootless, chapter 8).
    public func overlayEntry(for name: String) -> LayerEntry {
        let slash = name.lastIndex(of: "/")
        let parent = slash.map { String(name[..<$0]) } ?? ""
        let base = slash.map { String(name[name.index(after: $0)...]) } ?? name
        if base == ".wh..wh..opq" { return .xattr(path: parent, name: "trusted.overlay.opaque", value: "y") }
        guard base.hasPrefix(".wh.") else { return .asIs(name) }
        let hidden = String(base.dropFirst(".wh.".count))
        return .node(path: parent.isEmpty ? hidden : parent + "/" + hidden, mode: S_IFCHR, device: 0)
    }
}

/// In the child, before the pivot: mounts the merged tree on the container's mount
/// point. The mount exists only in the container's mount namespace and goes with it.
/// None of these paths is inside the rootfs: nothing of the image is resolved here.
func mountContainerLayers(_ layers: ContainerLayers, steps: Steps) throws {
    let options = try steps.layers.overlayOptions(lower: layers.layers, upper: layers.upper, work: layers.work)
    if options.utf8.count >= 4096 {
        throw ContainerError(
            step: "mount the overlay",
            reason: "the image has \(layers.layers.count) layers: their mount options (\(options.utf8.count) bytes) pass the kernel's one page")
    }
    if layers.inMemory {
        // Over the whole containers directory, in this mount namespace only: it hides
        // the other containers' layers from this one, which is about to pivot away
        // from all of them anyway.
        try mount(
            source: "tmpfs", target: parentDirectory(of: layers.directory), type: "tmpfs", flags: [.noSuid, .noDev],
            data: "mode=0700")
        try makeDirectory(layers.directory, mode: 0o700)
        try makeDirectory(layers.upper, mode: 0o755)
        try makeDirectory(layers.work, mode: 0o700)
        try makeDirectory(layers.mountPoint, mode: 0o755)
    }
    try changeDirectory(layers.store)
    do {
        // Chapter 8: in a user namespace overlayfs cannot use its trusted.* xattrs
        // (they need CAP_SYS_ADMIN in the host's namespace): with `userxattr` it
        // keeps its marks in user.overlay.* instead, as the rootless store's layers do.
        // Without it a removed directory could not be made opaque (EIO). Where the
        // kernel refuses the mount (before 5.11), fuse-overlayfs does it in user space.
        if inUserNamespace() {
            try mountRootlessOverlay(options: options, layers: layers)
        } else {
            try mount(source: "overlay", target: layers.mountPoint, type: "overlay", flags: [], data: options)
        }
    } catch let error as ContainerError {
        throw error
    } catch let error as SyscallError {
        // The errno (EINVAL, ELOOP) does not say which option the kernel refused: the
        // options, quoted, let the reader (and chapter 5's checks) see it.
        var error = error
        error.hint = (error.hint.map { $0 + "; " } ?? "") + "the options were \(options)"
        throw error
    } catch {
        throw error
    }
    try changeDirectory("/")
}
