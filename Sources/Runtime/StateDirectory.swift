import Glibc
import Syscalls

// Where a runtime records the containers it runs (ARCHITECTURE.md, "The state
// directory"): one directory per container under /run/scratch, a tmpfs that is empty
// after a reboot, as the containers are.
//
//   /run/scratch/<id>/state   who, what and where: id, command, rootfs, cgroups, and
//                             the container's first process once it exists; locked
//                             (flock) by the runtime for as long as it lives
//
// The lock is how a reader tells a live container from a leftover: the kernel drops a
// flock when its holder dies, even of SIGKILL, so a lock that can be taken belongs to
// a runtime that is gone, and what it left (its directory, its cgroups) is removed at
// once by the next run or by `scratch gc`. runc keeps the same kind of directory under
// /run/runc; chapter 10's create/start split stands on it.

/// Where the state directories live: /run/scratch for root; for any other user
/// (chapter 8, rootless) their own runtime directory, as Podman's: /run is root's to
/// write, and one user must not see or remove another's containers.
public let stateRoot = defaultStateRoot()

private func defaultStateRoot() -> String {
    // Set by `scratch` for `scratch image`/`commit`, which it runs as root of the
    // user's own user namespace (Unshare.swift): there getuid() is 0, and the user's
    // state is still the user's.
    if let inherited = environmentValue("SCRATCH_STATE_ROOT"), inherited.hasPrefix("/") { return inherited }
    if getuid() == 0 { return "/run/scratch" }
    if let runtime = environmentValue("XDG_RUNTIME_DIR"), runtime.hasPrefix("/") { return runtime + "/scratch" }
    // No XDG_RUNTIME_DIR (su, runuser, cron: no login session made one): systemd's
    // /run/user/UID when it is there and the user's, else a directory of the user's
    // own in /tmp, as Podman's /tmp/podman-run-UID. Checked where it is made
    // (`stateRootProblem`): anyone may make a name in /tmp first.
    let uid = getuid()
    var info = stat()
    if lstat("/run/user/\(uid)", &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR && info.st_uid == uid {
        return "/run/user/\(uid)/scratch"
    }
    return "/tmp/scratch-run-\(uid)/scratch"
}

/// Why the rootless fallback state root (`/tmp/scratch-run-UID`) cannot be used: it
/// is there and not a directory the user alone owns and enters. nil when it can (a
/// missing one is made 0700 with the state, by `makeDirectory(inside:_:)`), or when the
/// state root is elsewhere.
func stateRootProblem() -> String? {
    let parent = parentDirectory(of: stateRoot)
    guard getuid() != 0, parent == "/tmp/scratch-run-\(getuid())" else { return nil }
    var info = stat()
    if lstat(parent, &info) == -1 && errno == ENOENT { return nil }
    if (info.st_mode & S_IFMT) == S_IFDIR && info.st_uid == getuid() && info.st_mode & 0o077 == 0 {
        return nil
    }
    return
        "XDG_RUNTIME_DIR is not set, and \(parent), the state directory's fallback, is not a directory of this user's own with mode 0700 (someone else made it?) — set XDG_RUNTIME_DIR to a directory of your own (a login session sets it to /run/user/\(getuid()))"
}

/// What the state directory says about one container.
public struct ContainerState: Sendable, Equatable {
    public var id: String
    /// The runtime that runs it (`scratch run`, or `workbook run` for a learner's).
    public var runtimePID: pid_t
    /// The container's first process as the host sees it; nil while it is being made.
    public var pid: pid_t?
    /// When it was created, in seconds since the epoch.
    public var created: Int
    public var command: [String]
    public var rootfs: String
    public var hostname: String
    /// The container's group directories, one per hierarchy; none before chapter 4.
    public var cgroups: [String]
    /// The container's own layer (`$SCRATCH_HOME/containers/<id>`); nil with --rootfs.
    public var layer: String?
    /// The image it runs, when it runs on one.
    public var image: String?
    /// Set when the container ended and was kept (no --rm): it is stopped, not a
    /// leftover, and stays until `scratch rm`.
    public var exitCode: Int32?
    /// Chapter 6: the process's configuration, for `scratch exec` to start its
    /// process as the container's own (Docker's exec inherits them too): the
    /// container's variables before the defaults, its user and working directory.
    public var environment: [String] = []
    public var user: String?
    public var workingDirectory: String?
    /// The named volumes it uses (chapter 6): `scratch volume rm` refuses them while
    /// this record exists, running or stopped.
    public var volumes: [String] = []
    /// Chapter 7: the confinement its process got, for `scratch exec` to give the same:
    /// the capability set, no_new_privs, and the seccomp filter's key in the cache
    /// (`/run/scratch/seccomp-cache/<key>.bpf`). nil when it was not confined.
    public var capabilities: UInt64?
    public var noNewPrivileges = false
    public var seccompFilter: String?

    public init(
        id: String, runtimePID: pid_t, created: Int, command: [String], rootfs: String, hostname: String,
        cgroups: [String]
    ) {
        self.id = id
        self.runtimePID = runtimePID
        self.created = created
        self.command = command
        self.rootfs = rootfs
        self.hostname = hostname
        self.cgroups = cgroups
    }

    /// One `key=value` line per field, one `arg=` line per argument: a format read back
    /// without a JSON parser, which the runtime does not carry (it is on the hot path).
    /// Newlines and backslashes in values are escaped.
    func encoded() -> String {
        var lines = [
            "id=\(id)", "runtime=\(runtimePID)", "created=\(created)", "rootfs=\(escapedRecordValue(rootfs))",
            "hostname=\(escapedRecordValue(hostname))",
        ]
        lines += command.map { "arg=\(escapedRecordValue($0))" }
        lines += cgroups.map { "cgroup=\(escapedRecordValue($0))" }
        if let layer { lines.append("layer=\(escapedRecordValue(layer))") }
        if let image { lines.append("image=\(escapedRecordValue(image))") }
        if let exitCode { lines.append("exited=\(exitCode)") }
        lines += environment.map { "env=\(escapedRecordValue($0))" }
        if let user { lines.append("user=\(escapedRecordValue(user))") }
        if let workingDirectory { lines.append("workdir=\(escapedRecordValue(workingDirectory))") }
        lines += volumes.map { "volume=\($0)" }
        if let capabilities { lines.append("caps=\(String(capabilities, radix: 16))") }
        if noNewPrivileges { lines.append("no-new-privileges=1") }
        if let seccompFilter { lines.append("seccomp=\(escapedRecordValue(seccompFilter))") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func decoded(_ text: String) -> ContainerState? {
        var fields: [String: String] = [:]
        var command: [String] = []
        var cgroups: [String] = []
        var environment: [String] = []
        var volumes: [String] = []
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals])
            let value = unescapedRecordValue(line[line.index(after: equals)...])
            switch key {
            case "arg": command.append(value)
            case "cgroup": cgroups.append(value)
            case "env": environment.append(value)
            case "volume": volumes.append(value)
            default: fields[key] = value
            }
        }
        guard let id = fields["id"], let runtime = fields["runtime"].flatMap({ pid_t($0) }),
            let created = fields["created"].flatMap({ Int($0) })
        else { return nil }
        var state = ContainerState(
            id: id, runtimePID: runtime, created: created, command: command, rootfs: fields["rootfs"] ?? "",
            hostname: fields["hostname"] ?? "", cgroups: cgroups)
        state.pid = fields["pid"].flatMap { pid_t($0) }
        state.layer = fields["layer"]
        state.image = fields["image"]
        state.exitCode = fields["exited"].flatMap { Int32($0) }
        state.environment = environment
        state.user = fields["user"]
        state.workingDirectory = fields["workdir"]
        state.volumes = volumes
        state.capabilities = fields["caps"].flatMap { UInt64($0, radix: 16) }
        state.noNewPrivileges = fields["no-new-privileges"] == "1"
        state.seccompFilter = fields["seccomp"]
        return state
    }

    /// Stopped: it ended and was kept (no --rm), waiting for `scratch rm`.
    public var stopped: Bool { exitCode != nil }
}

/// A value for one `key=value` line of a record (the state file, an image record):
/// a backslash and a newline escaped, so every value is one line.
public func escapedRecordValue(_ value: String) -> String {
    value.replacingAll("\\", with: "\\\\").replacingAll("\n", with: "\\n")
}

/// A record value as it was before `escapedRecordValue`: the state file's and the image record's
/// (Layers.swift) lines share the escaping.
func unescapedRecordValue(_ value: some StringProtocol) -> String {
    guard value.contains("\\") else { return String(value) }
    var result = ""
    var escaping = false
    for character in value {
        if escaping {
            result.append(character == "n" ? "\n" : character)
            escaping = false
        } else if character == "\\" {
            escaping = true
        } else {
            result.append(character)
        }
    }
    return result
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}

/// A container's state directory, held for the life of its runtime.
///
/// Made under a dot-name, locked, filled, then renamed into place: a directory that a
/// reader can see by its id always has its lock held already, so a reader never
/// mistakes a container being born for a leftover. One file, which is also the lock:
/// every run pays for the record in a handful of syscalls.
public struct StateRecord: ~Copyable {
    public let directory: String
    let lock: FileDescriptor

    /// Records `state`. Step 2 of the story: before the cgroup, so that everything a
    /// runtime makes on the host is written down before it exists.
    public init(_ state: ContainerState) throws(SyscallError) {
        let final = stateRoot + "/" + state.id
        // The runtime's pid in the name: a directory left by one killed before it
        // took the lock is known dead by that pid, not guessed dead by its age.
        let temporary = stateRoot + "/.new-\(state.id)-\(getpid())"
        if let problem = stateRootProblem() { throw SyscallError("mkdir", path: parentDirectory(of: stateRoot), errno: EPERM, hint: problem) }
        // (/run is there on every systemd host; a bare one — a container, an initramfs —
        // may lack it: makeDirectory(inside:) makes it too.)
        try makeDirectory(inside: stateRoot, temporary)
        let fd = open(temporary + "/state", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        try check("open", path: temporary + "/state", fd)
        let lockFile = FileDescriptor(owning: fd)
        try check("flock", path: temporary + "/state", flock(fd, LOCK_EX))
        try lockFile.writeAll(Array(state.encoded().utf8))
        if rename(temporary, final) == -1 {
            let error = SyscallError("rename", path: "\(temporary) to \(final)")
            removeStateFiles(temporary)
            throw error
        }
        directory = final
        lock = lockFile
    }

    /// The descriptor a cloned child must close, so that only the runtime holds the lock.
    public var lockDescriptor: Int32 { lock.raw }

    /// Records the container's first process, once cloned: one more line at the end
    /// of the state file, written through the descriptor that holds the lock.
    public func recordPID(_ pid: pid_t) throws(SyscallError) {
        try lock.writeAll(Array("pid=\(pid)\n".utf8))
    }

    /// Step 7's last act: the container is gone, and so is its record. (The lock is
    /// released when this value ends.)
    public func remove() {
        removeStateFiles(directory)
    }

    /// Step 7 without --rm: the container is kept, stopped, with its exit code, in
    /// `/run/scratch/stopped/<id>` (written under a dot-name and renamed, so a reader
    /// sees it whole); then its live record goes. Stopped containers live apart from
    /// the live ones: every `scratch run` reads the live directory, and a pile of
    /// stopped containers must not slow that down.
    public func markStopped(_ state: ContainerState, exitCode: Int32) {
        var stopped = state
        stopped.exitCode = exitCode
        stopped.pid = nil
        let final = stoppedRoot + "/" + state.id
        let temporary = stoppedRoot + "/.new-" + state.id
        do {
            try makeDirectory(inside: stoppedRoot, temporary)
            try writeFile(temporary + "/state", Array(stopped.encoded().utf8), mode: 0o600)
            if rename(temporary, final) == -1 { throw SyscallError("rename", path: "\(temporary) to \(final)") }
        } catch {
            writeToStandardError("scratch: keep the stopped container \(state.id): \(error)\n")
            removeStateFiles(temporary)
        }
        removeStateFiles(directory)
    }
}

/// Where stopped containers (run without --rm) are recorded until `scratch rm`.
public let stoppedRoot = stateRoot + "/stopped"

private func removeStateFiles(_ directory: String) {
    // (lock and pid: the files of the first version of this layout.)
    // (hosts, hostname, resolv.conf: chapter 9's files, bound into the container.)
    for name in ["state", "state.new", "lock", "pid", "hosts", "hostname", "resolv.conf"] { try? removeFile(directory + "/" + name) }
    removeCNIRecord(directory + "/cni")
    _ = try? removeDirectory(directory)
}

/// One entry of the state root, as a reader finds it.
public struct RecordedContainer: Sendable {
    public let directory: String
    public let state: ContainerState?
    /// False when the lock could be taken: the runtime is gone.
    public let alive: Bool
    /// Seconds since the directory changed (for dot-names being born).
    public let age: Int
}

/// Every container the state root knows of, alive or left behind. Entries being born
/// (dot-names) are listed only with `includingUnborn`.
public func recordedContainers(includingUnborn: Bool = false) -> [RecordedContainer] {
    guard let names = try? listDirectory(stateRoot) else { return [] }
    let now = secondsSinceEpoch()
    return names.sorted().compactMap { name in
        if name.hasPrefix(".") && !includingUnborn { return nil }
        // Not containers: the stopped ones' records, chapter 7's compiled seccomp filters.
        if name == "stopped" || name == "seccomp-cache" { return nil }
        let directory = stateRoot + "/" + name
        let state = readControlFile(directory + "/state").flatMap(ContainerState.decoded)
        let age = (try? changeTime(directory)).map { now - $0 } ?? 0
        return RecordedContainer(directory: directory, state: state, alive: isLocked(directory + "/state"), age: age)
    }
}

/// The seccomp cache's filters older than a minute, and the directory once empty.
func removeIdleSeccompCache() -> [String] {
    guard let names = try? listDirectory(seccompCacheDirectory) else { return [] }
    let now = secondsSinceEpoch()
    var removed: [String] = []
    for name in names {
        let path = seccompCacheDirectory + "/" + name
        guard let changed = try? changeTime(path), now - changed > 60 else { continue }
        if (try? removeFile(path)) != nil { removed.append(path) }
    }
    if (try? listDirectory(seccompCacheDirectory))?.isEmpty == true, (try? removeDirectory(seccompCacheDirectory)) != nil {
        removed.append(seccompCacheDirectory)
    }
    return removed
}

/// `.new-<id>-<pid>`: a state directory being made by runtime `pid`.
func unbornName(_ name: String) -> (id: String, runtime: pid_t)? {
    guard name.hasPrefix(".new-") else { return nil }
    let parts = name.dropFirst(5).split(separator: "-")
    guard parts.count == 2, looksLikeContainerID(String(parts[0])), let pid = pid_t(parts[1]) else { return nil }
    return (String(parts[0]), pid)
}

/// True when someone holds the flock on `path`. Taking it to find out releases it at
/// once. A visible directory always has its file locked before it is renamed into
/// place, so a missing file is no one's.
func isLocked(_ path: String) -> Bool {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd == -1 { return false }
    defer { _ = close(fd) }
    return flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK
}

/// Removes what runtimes that died left behind: their state directories and the
/// cgroups those record. Run at the start of every `scratch run` (cheap: one readdir
/// of a directory that holds only the running containers) and by `scratch gc`.
/// Returns what it removed, for `gc` to say.
@discardableResult
public func removeLeftovers() -> [String] {
    guard let names = try? listDirectory(stateRoot), !names.isEmpty else { return [] }
    var removed: [String] = []
    for name in names where name != "stopped" {
        let directory = stateRoot + "/" + name
        if let (_, runtime) = unbornName(name) {
            // Being born: its runtime is alive, whether or not it has taken the lock yet.
            if kill(runtime, 0) == 0 || errno == EPERM { continue }
        } else {
            // Only containers' directories: `<id>`. The lock first: a live container
            // costs one open and one flock, nothing more.
            guard looksLikeContainerID(name), !isLocked(directory + "/state") else { continue }
        }
        let state = readControlFile(directory + "/state").flatMap(ContainerState.decoded)
        // Chapter 9: DEL for a CNI network, from the record ADD left (only then: no
        // plugin runs for a container that had none).
        removed += releaseLeftoverCNINetwork(stateDirectory: directory)
        for group in state?.cgroups ?? [] where fileKind(group) != nil {
            removeAbandonedGroup(group)
            removed.append(group)
        }
        if let layer = state?.layer, fileKind(layer) != nil {
            removeOwnTree(layer)
            removed.append(layer)
        }
        removeStateFiles(directory)
        removed.append(directory)
    }
    // Chapter 9: the addresses, ports and host veths of the dead, in this network
    // namespace (checked by their state's lock, as above).
    return removed + removeNetworkLeftovers()
}

/// Stopped containers, kept because they ran without --rm. With `pruning`, an entry
/// whose layer is gone (its $SCRATCH_HOME was deleted) is removed: nothing is left to
/// keep.
public func stoppedContainers(pruning: Bool = false) -> [RecordedContainer] {
    guard let names = try? listDirectory(stoppedRoot) else { return [] }
    return names.sorted().compactMap { name in
        if name.hasPrefix(".") { return nil }
        let directory = stoppedRoot + "/" + name
        let state = readControlFile(directory + "/state").flatMap(ContainerState.decoded)
        if pruning, state?.layer.map({ fileKind($0) == nil }) ?? true {
            removeStateFiles(directory)
            return nil
        }
        return RecordedContainer(directory: directory, state: state, alive: false, age: 0)
    }
}

/// `scratch rm`: removes a stopped container — its layer and its record. A running
/// one is refused: stop it first (`scratch kill`).
public func removeStoppedContainer(_ id: String) throws(ContainerError) -> String {
    let matches = (recordedContainers() + stoppedContainers()).filter { $0.state?.id.hasPrefix(id) ?? false }
    guard !id.isEmpty, let first = matches.first, let state = first.state else {
        throw ContainerError(step: "find the container", reason: "no container \(id.isEmpty ? "\"\"" : id) — `scratch ps -a` lists them")
    }
    if matches.count > 1 {
        throw ContainerError(step: "find the container", reason: "\(id) names \(matches.count) containers: give more of the id (`scratch ps -a`)")
    }
    if first.alive {
        throw ContainerError(
            step: "remove the container", reason: "\(state.id) is running — stop it first (`scratch kill \(state.id)`), then remove it")
    }
    if let layer = state.layer { removeOwnTree(layer) }
    removeStateFiles(first.directory)
    return state.id
}

/// `scratch gc`: container layers in this $SCRATCH_HOME that no record names — a
/// runtime killed before it could record its end, whose record another cleaner
/// removed, or records lost with /run at a reboot.
func removeUnrecordedLayers() -> [String] {
    // The layers first, the records second: a runtime records its layer before it
    // makes it, and records it as stopped before it drops its live record, so a layer
    // listed here that is still wanted is in the records read after.
    guard let names = try? listDirectory(containerLayerRoot()) else { return [] }
    let recorded = Set(
        (recordedContainers(includingUnborn: true) + stoppedContainers()).compactMap { $0.state?.layer })
    var removed: [String] = []
    for name in names {
        let layer = containerLayerRoot() + "/" + name
        if recorded.contains(layer) { continue }
        removeOwnTree(layer)
        removed.append(layer)
    }
    return removed
}

/// A cgroup whose runtime is gone: its processes (there should be none — the kernel
/// killed the container with its runtime) are killed, then the group is removed, and
/// its `scratch` parent if that is now empty.
func removeAbandonedGroup(_ group: String) {
    let procs = readControlFile(group + "/cgroup.procs") ?? ""
    for line in procs.split(separator: "\n") { if let pid = pid_t(line) { try? sendSignal(SIGKILL, to: pid) } }
    _ = removeGroupDirectory(group)
    removeEmptyLevels(above: group)
}

/// The empty groups above a removed one, as far as they are scratch's: inside its own
/// parent group every level is one a container's path made (a bundle's relative
/// linux.cgroupsPath, testdir/cgrouptest/container, makes three), so up to and
/// including `scratch` itself. Above a group outside it (an absolute cgroupsPath such
/// as /libpod_parent/libpod-ID) only the direct parent, which rmdir(2) removes only
/// once it is empty. A level with groups or processes in it ends the walk.
func removeEmptyLevels(above group: String) {
    let isOwn = group.split(separator: "/").dropLast().contains(Substring(cgroupParentName))
    var parent = parentDirectory(of: group)
    while parent.count > cgroupRoot.count, (try? removeDirectory(parent)) != nil || fileKind(parent) == nil {
        if !isOwn || lastPathComponent(parent) == cgroupParentName { return }
        parent = parentDirectory(of: parent)
    }
}

/// The running container whose id is, or starts with, `id`.
public func runningContainer(_ id: String) throws(ContainerError) -> ContainerState {
    let matches = recordedContainers().filter { $0.alive && ($0.state?.id.hasPrefix(id) ?? false) }
    guard !id.isEmpty, let first = matches.first?.state else {
        throw ContainerError(step: "find the container", reason: "no running container \(id.isEmpty ? "\"\"" : id) — `scratch ps` lists them")
    }
    if matches.count > 1 {
        throw ContainerError(
            step: "find the container",
            reason: "\(id) names \(matches.count) containers: give more of the id (`scratch ps`)")
    }
    return first
}

/// `scratch gc`: everything dead runtimes left — state directories and their cgroups,
/// cgroups no state records, half-built default rootfses. What is alive is untouched.
public func collectGarbage() -> [String] {
    var removed = removeLeftovers()
    let recorded = Set(recordedContainers(includingUnborn: true).compactMap { $0.state?.id })
    // Rootless, the host's `scratch` groups are root's containers', which this user's
    // state does not record: they are not leftovers. (Its own groups, in a delegated
    // subtree, are recorded and went with removeLeftovers.)
    if !runsRootless { removed += removeUnrecordedGroups(recorded: recorded) }
    removed += removePartialRootfsBuilds()
    removed += removeUnfinishedLayersIfIdle()
    let stoppedBefore = Set(stoppedContainers().map(\.directory))
    removed += stoppedBefore.subtracting(stoppedContainers(pruning: true).map(\.directory)).sorted()
    removed += removeUnrecordedLayers()
    // Chapter 7's compiled filters are a cache that `scratch exec` needs while its
    // container lives. With no container recorded it goes too — all but a filter made
    // in the last minute: a run between compiling its filter (step 1) and recording
    // its state (step 2) would find it gone at its first exec.
    if recordedContainers(includingUnborn: true).isEmpty {
        removed += removeIdleSeccompCache()
    }
    // Empty, the directories themselves go too: a host with no container has no trace
    // of one. (A run making them again meanwhile retries: `makeDirectory(inside:_:)`.)
    for directory in [stoppedRoot, stateRoot] where (try? listDirectory(directory))?.isEmpty == true {
        if (try? removeDirectory(directory)) != nil { removed.append(directory) }
    }
    return removed
}

/// mkdir `parent` (and /run) if need be, then `directory` in it. `scratch gc` removes
/// an empty `parent`; should it do so between the two, make it again.
func makeDirectory(inside parent: String, _ directory: String) throws(SyscallError) {
    for attempt in 0..<3 {
        // (Rootless, the directory above is the user's runtime directory, or its
        // fallback in /tmp: the user's alone.)
        try makeDirectory(parentDirectory(of: parent), mode: getuid() == 0 ? 0o755 : 0o700)
        try makeDirectory(parent, mode: 0o700)
        do {
            try makeDirectory(directory, mode: 0o700)
            return
        } catch  where error.errno == ENOENT && attempt < 2 {
            continue
        }
    }
}
