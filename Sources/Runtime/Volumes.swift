import Glibc
import Syscalls

// Chapter 6 — volumes: what the container keeps or shares lives outside its image.
//
// An image is the same everywhere; a volume is how one machine's data gets in. Three
// kinds, in Docker's words:
//
//   bind     a host file or directory, mounted at a path inside the container
//            (`-v /srv/data:/data`, `--mount type=bind,...`)
//   volume   a directory the runtime keeps for you by name, `$SCRATCH_HOME/volumes/
//            NAME/data`, made on first use and seeded from the image's content at
//            the path (`-v pgdata:/var/lib/postgresql`); it outlives containers
//   tmpfs    a fresh in-memory filesystem (`--tmpfs /run:size=64m`)
//
// The child mounts them after the rootfs is ready (the overlay) and before the pivot,
// while the host's paths (a bind's source) can still be reached. That is the dangerous
// moment: the target path is the image's, and the image may hold `/data -> /etc` or
// `/data -> ../../../../etc`. Looked up by the host's rules, such a link puts the
// volume over the host's /etc. So every target is looked up with openat2(2)
// RESOLVE_IN_ROOT on a descriptor of the rootfs — links resolve as they would inside
// the container — and mounted on that descriptor (/proc/self/fd/N), never on a path
// that could be looked up twice. runc learned it the hard way (CVE-2021-30465: a
// symlink swapped between check and mount put a volume on the host).

/// One mount the container asks for: from `-v`, `--tmpfs`, `--mount`, or (once the
/// config file comes in) an OCI `mounts` entry.
public struct Mount: Sendable, Equatable {
    public enum Kind: String, Sendable { case bind, volume, tmpfs }

    public var kind: Kind
    /// A bind's host path (absolute), a volume's name; empty for tmpfs.
    public var source: String
    /// Where it appears inside the container: absolute, cleaned (no `.`, `..`, `//`).
    public var target: String
    public var readOnly: Bool
    /// The rest, in mount(8)'s words: tmpfs `size=BYTES`, `mode=OCTAL`, `exec`; a
    /// volume's `nocopy` (do not seed it from the image).
    public var options: [String]
    /// How the user wrote it (`-v /h:/c:ro`), for errors.
    public var origin: String

    public init(kind: Kind, source: String, target: String, readOnly: Bool = false, options: [String] = [], origin: String = "") {
        self.kind = kind
        self.source = source
        self.target = target
        self.readOnly = readOnly
        self.options = options
        self.origin = origin.isEmpty ? "\(kind.rawValue) \(source.isEmpty ? "" : source + ":")\(target)" : origin
    }
}

// MARK: - The flags, read (step 1: nothing exists yet)

extension Mount {
    /// `-v SOURCE:TARGET[:ro|rw|nocopy]`. SOURCE is a host path when it starts with
    /// `/`, else a volume name, as Docker reads it.
    public static func volumeFlag(_ text: String) throws(ContainerError) -> Mount {
        let origin = "-v \(ContainerSpec.quoted(text))"
        func invalid(_ reason: String) -> ContainerError { ContainerError(step: "check the request", reason: "\(origin): \(reason)") }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3 else {
            throw invalid(
                parts.count == 1
                    ? "give SOURCE:TARGET — a host path or a volume name, then the path inside the container (e.g. -v /srv/data:/data)"
                    : "too many ':' — the form is SOURCE:TARGET[:ro|rw] (a path holding ':' needs --mount)")
        }
        let source = parts[0]
        guard !source.isEmpty else {
            throw invalid("the source (before the first ':') is empty — give a host path or a volume name, e.g. -v /srv/data:/data")
        }
        let target = try cleanedTarget(parts[1], origin: origin)
        var readOnly = false
        var options: [String] = []
        let isPath = source.hasPrefix("/")
        if parts.count == 3 {
            guard !parts[2].isEmpty else { throw invalid("the mode after the last ':' is empty — give ro or rw, or leave out the ':'") }
            var seenMode = false
            for mode in parts[2].split(separator: ",", omittingEmptySubsequences: false) {
                switch mode {
                case "ro", "rw":
                    if seenMode { throw invalid("ro and rw given together — choose one") }
                    seenMode = true
                    readOnly = mode == "ro"
                case "nocopy" where !isPath: options.append("nocopy")
                default:
                    let allowed = isPath ? "ro or rw" : "ro, rw or nocopy"
                    throw invalid("unknown mode \(ContainerSpec.quoted(String(mode))) — give \(allowed) (e.g. -v /srv/data:/data:ro)")
                }
            }
        }
        if isPath {
            return Mount(kind: .bind, source: cleanedPath(source), target: target, readOnly: readOnly, options: options, origin: origin)
        }
        if let problem = volumeNameProblem(source) {
            throw invalid(problem)
        }
        // Docker's classic surprise: `-v data:/data` meant ./data and made a volume.
        // When the current directory has that name, the intent is unclear: say both ways.
        if fileKind(source, followLinks: false) != nil {
            throw invalid(
                "\"\(source)\" is read as the named volume \(source), but ./\(source) exists here — for that directory give its absolute path (-v \"$PWD/\(source):\(target)\"); for the volume, --mount type=volume,source=\(source),target=\(target)"
            )
        }
        return Mount(kind: .volume, source: source, target: target, readOnly: readOnly, options: options, origin: origin)
    }

    /// `--tmpfs TARGET[:size=SIZE,mode=OCTAL,ro,exec]`.
    public static func tmpfsFlag(_ text: String) throws(ContainerError) -> Mount {
        let origin = "--tmpfs \(ContainerSpec.quoted(text))"
        let colon = text.firstIndex(of: ":")
        let target = try cleanedTarget(String(text[..<(colon ?? text.endIndex)]), origin: origin)
        var mount = Mount(kind: .tmpfs, source: "", target: target, origin: origin)
        if let colon {
            for option in text[text.index(after: colon)...].split(separator: ",", omittingEmptySubsequences: false) {
                try mount.takeTmpfsOption(String(option))
            }
        }
        return mount
    }

    /// `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,tmpfs-size=…]
    /// [,tmpfs-mode=…][,volume-nocopy]`: Docker's long form, one key=value per comma.
    public static func mountFlag(_ text: String) throws(ContainerError) -> Mount {
        let origin = "--mount \(ContainerSpec.quoted(text))"
        func invalid(_ reason: String) -> ContainerError { ContainerError(step: "check the request", reason: "\(origin): \(reason)") }
        var kind = Kind.volume  // Docker's default type
        var source: String?
        var target: String?
        var readOnly = false
        var options: [String] = []
        var tmpfsOptions: [String] = []
        for field in text.split(separator: ",", omittingEmptySubsequences: false) {
            let key = String(field.prefix { $0 != "=" })
            let value: String? = field.contains("=") ? String(field.drop { $0 != "=" }.dropFirst()) : nil
            func bool() throws(ContainerError) -> Bool {
                switch value {
                case nil, "1", "true": return true
                case "0", "false": return false
                default: throw invalid("\(key)=\(value ?? "") — give \(key), \(key)=true or \(key)=false")
                }
            }
            func required() throws(ContainerError) -> String {
                guard let value, !value.isEmpty else { throw invalid("\(key) needs a value: \(key)=…") }
                return value
            }
            switch key {
            case "type":
                guard let chosen = Kind(rawValue: try required()) else {
                    throw invalid("type=\(value ?? "") — the types are bind, volume and tmpfs")
                }
                kind = chosen
            case "source", "src": source = try required()
            case "target", "destination", "dst": target = try required()
            case "readonly", "ro": readOnly = try bool()
            case "volume-nocopy": if try bool() { options.append("nocopy") }
            case "tmpfs-size": tmpfsOptions.append("size=" + (try required()))
            case "tmpfs-mode": tmpfsOptions.append("mode=" + (try required()))
            case "bind-propagation":
                // Every mount in the container's namespace is made private first
                // (chapter 3), so shared or slave could not reach the host anyway.
                guard ["private", "rprivate"].contains(try required()) else {
                    throw invalid(
                        "bind-propagation=\(value ?? "") — only rprivate (the default) is supported: the container's mounts are all private")
                }
            default:
                throw invalid(
                    "unknown key \(ContainerSpec.quoted(key)) — the keys are type, source, target, readonly, tmpfs-size, tmpfs-mode, volume-nocopy, bind-propagation"
                )
            }
        }
        guard let target else { throw invalid("no target — add target=/path/in/the/container") }
        let cleaned = try cleanedTarget(target, origin: origin)
        if kind != .tmpfs && !tmpfsOptions.isEmpty { throw invalid("tmpfs-size and tmpfs-mode are for type=tmpfs") }
        switch kind {
        case .bind:
            guard let source, source.hasPrefix("/") else {
                throw invalid("a bind needs source=/absolute/host/path (given: \(source.map(ContainerSpec.quoted) ?? "none"))")
            }
            return Mount(kind: .bind, source: cleanedPath(source), target: cleaned, readOnly: readOnly, origin: origin)
        case .volume:
            guard let source else { throw invalid("a volume needs source=NAME (anonymous volumes are not supported)") }
            if let problem = volumeNameProblem(source) { throw invalid(problem) }
            return Mount(kind: .volume, source: source, target: cleaned, readOnly: readOnly, options: options, origin: origin)
        case .tmpfs:
            if source != nil { throw invalid("a tmpfs has no source — leave source= out") }
            var mount = Mount(kind: .tmpfs, source: "", target: cleaned, readOnly: readOnly, origin: origin)
            for option in tmpfsOptions { try mount.takeTmpfsOption(option) }
            return mount
        }
    }

    /// One tmpfs option, checked and kept in mount(8)'s form (a size in bytes).
    public mutating func takeTmpfsOption(_ option: String) throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError { ContainerError(step: "check the request", reason: "\(origin): \(reason)") }
        if option.hasPrefix("size=") {
            guard let bytes = tmpfsSize(String(option.dropFirst(5))) else {
                throw invalid("\(ContainerSpec.quoted(option)) — a size is a whole number with an optional unit k, m or g (e.g. size=64m)")
            }
            options.append("size=\(bytes)")
        } else if option.hasPrefix("mode=") {
            let digits = option.dropFirst(5)
            guard !digits.isEmpty, let mode = UInt32(digits, radix: 8), mode <= 0o7777 else {
                throw invalid("\(ContainerSpec.quoted(option)) — a mode is octal, at most 7777 (e.g. mode=1777)")
            }
            options.append("mode=\(String(mode, radix: 8))")
        } else {
            switch option {
            case "ro": readOnly = true
            case "rw": readOnly = false
            case "exec": options.append("exec")
            case "noexec": options.removeAll { $0 == "exec" }
            // Always so: a tmpfs here never holds set-uid programs or device files.
            case "nosuid", "nodev": break
            // runc's /dev and /run (containerd sends it): every read updates the
            // access time, as on a disk mounted without relatime.
            case "strictatime": if !options.contains("strictatime") { options.append("strictatime") }
            default:
                throw invalid(
                    "unknown tmpfs option \(ContainerSpec.quoted(option)) — the options are size=SIZE, mode=OCTAL, ro, rw, exec, noexec, nosuid, nodev, strictatime"
                )
            }
        }
    }
}

/// A tmpfs size in bytes: digits, then k, m or g (binary), as mount(8) and Docker
/// take it; nil when it is not one, or 0.
func tmpfsSize(_ text: String) -> UInt64? {
    let lowered = text.lowercased()
    let digits = lowered.prefix { $0.isASCII && $0.isNumber }
    let unit = lowered.dropFirst(digits.count)
    let multipliers: [Substring: UInt64] = ["": 1, "b": 1, "k": 1024, "m": 1 << 20, "g": 1 << 30]
    guard let value = UInt64(digits), let multiplier = multipliers[unit], value > 0 else { return nil }
    let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
    return overflow ? nil : bytes
}

/// Docker's rule for a volume's name: a letter or digit, then letters, digits, `_`,
/// `.` or `-` (so never `/`, never `..`). nil when `name` is one.
public func volumeNameProblem(_ name: String) -> String? {
    let bytes = Array(name.utf8)
    func isAlphanumeric(_ byte: UInt8) -> Bool { byte < 0x80 && isalnum(Int32(byte)) != 0 }
    let rest = bytes.dropFirst().allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    if let first = bytes.first, isAlphanumeric(first), bytes.count >= 2, bytes.count <= 128, rest { return nil }
    return
        "\(ContainerSpec.quoted(name)) is neither an absolute host path nor a volume name — a host path starts with / (e.g. \"$PWD/\(name)\"); a volume name is 2 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit"
}

/// `path` without `.`, `..` (clamped at `/`) and repeated slashes, as the container
/// will see it.
func cleanedPath(_ path: String) -> String {
    var parts: [Substring] = []
    for part in path.split(separator: "/") {
        switch part {
        case ".": continue
        case "..": _ = parts.popLast()
        default: parts.append(part)
        }
    }
    return "/" + parts.joined(separator: "/")
}

/// A mount's target, checked: absolute, and not where the runtime mounts its own
/// filesystems.
func cleanedTarget(_ target: String, origin: String) throws(ContainerError) -> String {
    func invalid(_ reason: String) -> ContainerError { ContainerError(step: "check the request", reason: "\(origin): \(reason)") }
    guard target.hasPrefix("/") else {
        throw invalid(
            target.isEmpty
                ? "the target inside the container is empty — give an absolute path, e.g. /data"
                : "the target \(ContainerSpec.quoted(target)) must be an absolute path inside the container, e.g. /\(target)")
    }
    let cleaned = cleanedPath(target)
    if cleaned == "/" {
        throw invalid("the target cannot be / — a volume over the container's whole root would hide the image; mount it at a directory, e.g. /data")
    }
    // The runtime mounts /proc, /dev and /sys after the volumes, over whatever is
    // there: a volume at or under them would be hidden, or (under /proc and /sys)
    // would sit where the kernel's own knobs are expected.
    for reserved in ["/proc", "/dev", "/sys"] where cleaned == reserved || cleaned.hasPrefix(reserved + "/") {
        throw invalid(
            "the target \(cleaned) is at or under \(reserved), which the runtime mounts itself after the volumes (it would hide the volume) — choose another path"
        )
    }
    return cleaned
}

// MARK: - Validation (step 1, with the rest of the request)

/// Checks the mounts against the host and each other: a bind's source must exist
/// (scratch never creates it: a typo would silently make an empty directory), and
/// no two mounts may share a target. Runs before anything is made.
public func validateMounts(_ mounts: [Mount], stage: Stage) throws(ContainerError) {
    guard !mounts.isEmpty else { return }
    func invalid(_ mount: Mount, _ reason: String) -> ContainerError {
        ContainerError(step: "check the request", reason: "\(mount.origin): \(reason)")
    }
    if !stage.includes(.rootFilesystem) {
        throw ContainerError(
            step: "check the request",
            reason: "volumes need a root of the container's own, which comes in chapter 3 — run at chapter 3's stage or later")
    }
    var targets: [String: Mount] = [:]
    for mount in mounts {
        let target = try cleanedTarget(mount.target, origin: mount.origin)
        if let other = targets[target] {
            throw invalid(mount, "\(target) is already the target of \(other.origin) — one mount per path")
        }
        targets[target] = mount
        switch mount.kind {
        case .bind:
            guard mount.source.hasPrefix("/") else { throw invalid(mount, "the host path \(mount.source) must be absolute") }
            var info = stat()
            if stat(mount.source, &info) != 0 {
                let code = errno
                throw invalid(
                    mount,
                    code == ENOENT
                        ? "the host path \(mount.source) does not exist — create it first (scratch does not make it: a typo would become an empty directory)"
                        : "stat(\(mount.source)): \(Errno.describe(code))")
            }
        case .volume:
            if let problem = volumeNameProblem(mount.source) { throw invalid(mount, problem) }
            if let option = mount.options.first(where: { $0 != "nocopy" }) {
                throw invalid(mount, "unknown volume option \(ContainerSpec.quoted(option))")
            }
        case .tmpfs:
            if !mount.source.isEmpty { throw invalid(mount, "a tmpfs has no source") }
            for option in mount.options where !(option.hasPrefix("size=") || option.hasPrefix("mode=") || option == "exec" || option == "strictatime")
            {
                throw invalid(mount, "unknown tmpfs option \(ContainerSpec.quoted(option))")
            }
        }
    }
}

// MARK: - Named volumes: the store

// Named volumes live in `$SCRATCH_HOME/volumes/NAME/data` (Docker's are in
// /var/lib/docker/volumes/NAME/_data). Not in the state directory, /run/scratch: that
// is a tmpfs — memory, emptied at every reboot — and a volume is exactly the data that
// must outlive its containers and the machine's restarts (a database's files). Not
// under `containers/` either: `scratch gc` and `scratch rm` remove what is there.
//
//   volumes/.lock        taken by `volume rm` and by a run making its volumes, so a
//                        volume is never removed between "no one uses it" and rm -rf
//   volumes/NAME/data    the content, what the container sees
//   volumes/NAME/lock    taken while the volume is seeded from an image

/// Where named volumes live.
public func volumeRoot() -> String { absoluteScratchHome() + "/volumes" }

/// The directory a named volume's content is in.
public func volumeDataDirectory(_ name: String) -> String { volumeRoot() + "/" + name + "/data" }

func lockVolumes() throws(SyscallError) -> FileDescriptor {
    try makePrivateDirectory(volumeRoot())
    return try lockFile(volumeRoot() + "/.lock")
}

func lockFile(_ path: String) throws(SyscallError) -> FileDescriptor {
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    try check("open", path: path, fd)
    let lock = FileDescriptor(owning: fd)
    while flock(fd, LOCK_EX) == -1 {
        if errno == EINTR { continue }
        throw SyscallError("flock", path: path)
    }
    return lock
}

/// Step 2: the named volumes a container uses, made if new (empty: the child seeds
/// them). The container's state already records them, so `volume rm` refuses them
/// from here on.
func makeNamedVolumes(_ names: [String]) throws(SyscallError) {
    let lock = try lockVolumes()
    for name in names {
        try makeDirectory(volumeRoot() + "/" + name, mode: 0o755)
        try makeDirectory(volumeDataDirectory(name), mode: 0o755)
    }
    _ = consume lock
}

/// `scratch volume create NAME`.
public func createNamedVolume(_ name: String) throws(ContainerError) {
    if let problem = volumeNameProblem(name) { throw ContainerError(step: "create the volume", reason: problem) }
    do {
        try makeNamedVolumes([name])
    } catch {
        throw ContainerError(step: "create the volume", reason: "\(error)")
    }
}

/// `scratch volume ls`: the names, sorted.
public func namedVolumes() -> [String] {
    let names = (try? listDirectory(volumeRoot())) ?? []
    return names.filter { !$0.hasPrefix(".") && fileKind(volumeDataDirectory($0)) == .directory }.sorted()
}

/// The containers (running, being born, or stopped and kept) whose state names the
/// volume.
public func containersUsingVolume(_ name: String) -> [String] {
    (recordedContainers(includingUnborn: true).filter(\.alive) + stoppedContainers())
        .compactMap(\.state).filter { $0.volumes.contains(name) }.map(\.id)
}

/// `scratch volume rm NAME`: refused while a container uses it, running or stopped
/// (as Docker refuses until `docker rm`).
public func removeNamedVolume(_ name: String) throws(ContainerError) {
    func failed(_ reason: String) -> ContainerError { ContainerError(step: "remove the volume", reason: reason) }
    if volumeNameProblem(name) != nil || fileKind(volumeDataDirectory(name)) != .directory {
        throw failed("no volume \(ContainerSpec.quoted(name)) — `scratch volume ls` lists them")
    }
    let lock: FileDescriptor
    do { lock = try lockVolumes() } catch { throw failed("\(error)") }
    // Dead runtimes' records first: a container killed with its runtime uses nothing.
    removeLeftovers()
    let users = containersUsingVolume(name)
    if !users.isEmpty {
        throw failed(
            "\(name) is in use by container\(users.count == 1 ? "" : "s") \(users.joined(separator: ", ")) — stop and remove \(users.count == 1 ? "it" : "them") first (`scratch rm ID`)"
        )
    }
    removeOwnTree(volumeRoot() + "/" + name)
    _ = consume lock
}

// MARK: - In the child: the mounts (before the pivot)

/// Mounts every volume inside `rootfs`, parents before children (`/data` before
/// `/data/cache`), as Docker orders them. In the child, in its own mount namespace,
/// after the overlay and before the pivot. Binds and named volumes go through chapter
/// 6's `mountBindVolume`.
func mountVolumes(_ mounts: [Mount], rootfs: String, steps: Steps = .reference) throws {
    let root = try openPath(rootfs)
    let ordered = mounts.enumerated().sorted { left, right in
        let (a, b) = (depth(left.element.target), depth(right.element.target))
        return a != b ? a < b : left.offset < right.offset
    }
    for (_, volume) in ordered {
        do {
            try mountVolume(volume, root: root, steps: steps)
        } catch {
            throw ContainerError(step: "mount the volumes", reason: "\(volume.origin) on \(volume.target) in the rootfs: \(error)")
        }
    }
}

/// A mount's option (not mount(8)'s): skip it when its target is not in the rootfs.
let ifPresentOption = "if-present"

private func depth(_ path: String) -> Int { path.split(separator: "/").count }

/// One volume: find (or make) its mount point inside the root, then mount it there:
/// a bind or a named volume with chapter 6's `mountBindVolume`, a tmpfs here.
func mountVolume(_ volume: Mount, root: borrowing FileDescriptor, steps: Steps = .reference) throws {
    // Chapter 9's /etc files go only over files the rootfs has: a --rootfs DIR is used
    // as it is (nothing made in it), and a read-only one could not take a new file.
    if volume.options.contains(ifPresentOption) {
        do { _ = try openInRoot(root, volume.target) } catch { return }
    }
    let source = volume.kind == .volume ? volumeDataDirectory(volume.source) : volume.source
    // A file is mounted on a file, a directory on a directory.
    let isDirectory = volume.kind != .bind || fileKind(source) == .directory
    let place = try mountPoint(volume.target, in: root, directory: isDirectory)
    switch volume.kind {
    case .bind, .volume:
        if volume.kind == .volume && !volume.options.contains("nocopy") {
            try seedVolume(volume.source, from: root, at: volume.target)
        }
        do {
            try steps.configuration.mountBindVolume(source: source, target: volume.target, readOnly: volume.readOnly, root: root)
            try restrictBind(volume, root: root)
        } catch let error as SyscallError where error.errno == ENOTDIR {
            var explained = error
            explained.hint =
                "a directory mounts on a directory and a file on a file: the image has \(isDirectory ? "a file" : "a directory") at \(volume.target), the source is \(isDirectory ? "a directory" : "a file") — choose another target"
            throw explained
        } catch {
            throw error
        }
    case .tmpfs:
        // Docker's defaults for --tmpfs: no set-uid programs, no device files, and no
        // programs at all unless `exec` is given.
        var flags: MountFlags = [.noSuid, .noDev]
        if !volume.options.contains("exec") { flags.insert(.noExec) }
        if volume.readOnly { flags.insert(.readOnly) }
        // MS_STRICTATIME (linux/mount.h): a flag, not one of tmpfs's own options.
        if volume.options.contains("strictatime") { flags.insert(MountFlags(rawValue: 1 << 24)) }
        let data = volume.options.filter { $0 != "exec" && $0 != "strictatime" }.joined(separator: ",")
        try mount(source: "tmpfs", target: descriptorPath(place), type: "tmpfs", flags: flags, data: data.isEmpty ? nil : data)
        let mounted = try openInRoot(root, volume.target)
        try mount(source: nil, target: descriptorPath(mounted), type: nil, flags: [.recursive, .private])
    }
}

/// A `run --config` bind with `nosuid`, `nodev` or `noexec`: one more bind remount with
/// those flags, over what it has. (A bundle's binds take theirs in BundleMounts.swift.)
func restrictBind(_ volume: Mount, root: borrowing FileDescriptor) throws {
    var extra: MountFlags = []
    if volume.options.contains("nosuid") { extra.insert(.noSuid) }
    if volume.options.contains("nodev") { extra.insert(.noDev) }
    if volume.options.contains("noexec") { extra.insert(.noExec) }
    guard !extra.isEmpty else { return }
    let mounted = try openInRoot(root, volume.target)
    var flags = try lockedMountFlags(mounted).union(extra).union([.remount, .bind])
    if volume.readOnly { flags.insert(.readOnly) }
    try mount(source: nil, target: descriptorPath(mounted), type: nil, flags: flags)
}

extension Reference {
    public func mountBindVolume(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws {
        // Looked up as the container will see it: a link in the image (`/data ->
        // /etc`) resolves inside the root. `rootfs + target` would be looked up by the
        // host's rules, and the volume would land on the host's /etc.
        let place = try openInRoot(root, target)
        // Recursive, as Docker binds: mounts under the host directory come along.
        try mount(source: source, target: descriptorPath(place), type: nil, flags: [.bind, .recursive])
        // The mount just made, looked up again in the root: `place` is the directory
        // under it.
        let mounted = try openInRoot(root, target)
        // rprivate, Docker's default: nothing mounted later on the host under the source
        // shows up inside, and nothing the container mounts there shows up on the host.
        try mount(source: nil, target: descriptorPath(mounted), type: nil, flags: [.recursive, .private])
        guard readOnly else { return }
        // A bind mount takes MS_RDONLY only through a remount of its own (the flag is
        // ignored on the bind itself). The remount replaces all the mount's flags, so
        // keep those the source already had. Without MS_BIND, a remount changes the
        // filesystem itself, the host's, for every mount of it.
        let keep = try lockedMountFlags(mounted)
        try mount(source: nil, target: descriptorPath(mounted), type: nil, flags: keep.union([.remount, .bind, .readOnly]))
        // The remount reaches this mount only: a host mount under the source (brought
        // along by the recursive bind) would stay writable. mount_setattr(2) sets the
        // flag on the whole tree, as Docker 25 does where the kernel has it (5.12).
        _ = try makeMountTreeReadOnly(mounted)
    }
}

/// `target` inside the root, made where missing: directories on the way, and at the
/// end a directory or (for a file bind) an empty file. Every lookup is openat2
/// RESOLVE_IN_ROOT from the root; every make is one name in a directory found that
/// way. A dangling link on the way (`/data -> /srv/gone`) is followed inside the root,
/// and what it names is made there — never on the host.
func mountPoint(_ target: String, in root: borrowing FileDescriptor, directory: Bool) throws -> FileDescriptor {
    var path = target
    var linksFollowed = 0
    for _ in 0..<1024 {
        do {
            return try openInRoot(root, path)
        } catch  where error.errno == ENOENT {
        } catch {
            throw error
        }
        let parts = path.split(separator: "/").map(String.init)
        func prefix(_ count: Int) -> String { "/" + parts.prefix(count).joined(separator: "/") }
        // The first component that does not resolve.
        var missing = parts.count
        for count in 1..<max(parts.count, 1) {
            do {
                _ = try openInRoot(root, prefix(count))
            } catch  where error.errno == ENOENT {
                missing = count
                break
            } catch {
                throw error
            }
        }
        let parent = try openInRoot(root, prefix(missing - 1))
        let name = parts[missing - 1]
        if let link = symlinkTarget(in: parent, name) {
            linksFollowed += 1
            if linksFollowed > 40 { throw SyscallError("openat2", path: "\(target) in the rootfs", errno: ELOOP) }
            let rest = parts.dropFirst(missing).joined(separator: "/")
            path = (link.hasPrefix("/") ? link : prefix(missing - 1) + "/" + link) + (rest.isEmpty ? "" : "/" + rest)
        } else if missing == parts.count && !directory {
            try makeEmptyFile(in: parent, name)
        } else {
            try makeDirectory(in: parent, name)
        }
    }
    throw SyscallError("openat2", path: "\(target) in the rootfs", errno: ELOOP)
}

/// Docker's first-use rule: a named volume that is still empty gets a copy of what
/// the image has at the path (owners, modes, links as they are), so `-v pgdata:/var/
/// lib/postgresql` starts from the image's files. Under the volume's lock: two first
/// runs copy once.
func seedVolume(_ name: String, from root: borrowing FileDescriptor, at target: String) throws {
    let lock = try lockFile(volumeRoot() + "/" + name + "/lock")
    try copyImageContent(into: volumeDataDirectory(name), from: root, at: target, volume: name)
    _ = consume lock
}

private func copyImageContent(into data: String, from root: borrowing FileDescriptor, at target: String, volume name: String) throws {
    guard try listDirectory(data).isEmpty else { return }
    // Inheritable: `cp` reads it as its own /proc/self/fd/N.
    let image = try openInRoot(root, target, inheritable: true)
    guard fileKind(descriptorPath(image)) == .directory, try !listDirectory(descriptorPath(image)).isEmpty else { return }
    // cp -a copies links as links: nothing in the image is followed on the host. Not
    // straight into `data`: a container sharing the volume could plant a link there
    // for cp to write through (VolumeSeed.swift).
    try seedCopy(from: descriptorPath(image), into: data, staging: volumeRoot() + "/" + name + "/seed")
}
