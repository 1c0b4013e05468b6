import Foundation
import Glibc
import RunOptions
import Runtime
import Syscalls

// The stand-in host: every run of a learner's runtime happens inside namespaces the
// workbook makes first, so that no mistake in an exercise can change the machine.
//
// A runtime that forgets CLONE_NEWUTS calls sethostname(2) in the UTS namespace it
// runs in; one that forgets to make / private before mounting sends its mounts to
// every peer of /. Both are real mistakes a learner should see, and neither may
// touch a shared machine (or a workshop's). So before the learner's code runs, this
// process moves itself into a UTS and a mount namespace of its own: the stand-in.
// It starts as a copy of the host (same name, same mounts), the learner's runtime
// changes it instead of the host, and at the end we compare and say what changed.
//
// Cgroups have no such namespace to hide in (a cgroup namespace only changes what a
// process sees, not where mkdir lands), so what a mistake leaves in the cgroup tree
// is removed afterwards instead, by the container's id.

/// Runs the container `request` describes with `steps` at `stage`, inside a stand-in
/// host; then reports what the run changed on the stand-in, removes what it left in
/// the cgroup tree, and exits with the container's own exit code.
///
/// Call it before the process has started a thread: unshare(CLONE_NEWNS) refuses a
/// process whose threads share its filesystem information (EINVAL). If one was
/// started anyway, the program starts again through unshare(1).
/// From chapter 5 on, images imported with the learner's code (their `overlayEntry`
/// turns the whiteouts) and the containers run on them use a store of the workbook's
/// own, never scratch's: a layer is named by its content's hash and never unpacked
/// twice, so a layer a mistake unpacked wrong would otherwise be what every later
/// `scratch run` of an image with that layer gets. `SCRATCH_HOME`, when set, is taken
/// as given (the checks give each run one of its own).
public func useWorkbookImageStore() {
    if let home = ProcessInfo.processInfo.environment["SCRATCH_HOME"], !home.isEmpty { return }
    setenv("SCRATCH_HOME", scratchHome() + "-workbook", 1)
}

///
/// `asUser` (chapter 8): once the stand-in is made, the process becomes that user —
/// groups, gid, uid, no capability left — so the runtime runs rootless, as it would
/// for them, and still cannot touch the machine's hostname or mounts.
public func runInStandInHost(_ request: RunRequest, stage: Stage, steps: Steps, programName: String, asUser user: String? = nil) -> Never {
    let host: StandInHost
    do {
        try requireRoot(programName)
        host = try StandInHost.enter()
        if let user {
            guard stage.includes(.userNamespace) else {
                throw WorkbookError(
                    "--as-user \(user): a runtime started by a user who is not root needs a user namespace, which comes in chapter 8 — run at chapter 8's stage or later"
                )
            }
            try becomeUser(user)
            if stage.includes(.layers) { useWorkbookImageStore() }
        }
    } catch {
        standInError("\(programName): \(error)")
        exit((error as? ContainerError)?.exitCode ?? Runtime.ExitCode.runtimeFailed)
    }
    let spec: ContainerSpec
    do {
        // Before anything is made on the host (the default rootfs, on a first run).
        try takeOverSignals()
        spec = try request.spec(stage: stage, programName: programName)
    } catch {
        standInError("\(programName): \(error)")
        exit((error as? ContainerError)?.exitCode ?? Runtime.ExitCode.runtimeFailed)
    }
    let code = runContainer(spec, stage: stage, steps: steps)
    for problem in host.inspectAndRepair(containerID: spec.id, stage: stage, steps: steps) {
        standInError("\(programName): \(problem)")
    }
    exit(code)
}

/// Becomes `name` for good: its groups, its gid, its uid (in that order: setuid takes
/// away the right to change groups), dumpable again (a change of user makes /proc/PID
/// root's, and the user must write its child's maps there), its own HOME and runtime
/// directory. XDG data and cache directories that are not the user's are dropped, so
/// the runtime picks the user's own.
func becomeUser(_ name: String) throws {
    guard let entry = getpwnam(name) else {
        throw WorkbookError("--as-user \(name): no such user (getpwnam); make one with `useradd \(name)`")
    }
    let uid = entry.pointee.pw_uid
    let gid = entry.pointee.pw_gid
    let home = entry.pointee.pw_dir.map { String(cString: $0) } ?? "/"
    guard uid != 0 else { throw WorkbookError("--as-user \(name): that is root; name a user who is not") }
    // The runtime keeps its state in the user's runtime directory. A user who never
    // logged in has none: make /run/user/UID as pam_systemd would at a login (logind
    // mounts its tmpfs over it when one comes).
    let given = getenv("XDG_RUNTIME_DIR").map { String(cString: $0) }
    var information = stat()
    if given.map({ stat($0, &information) == 0 && information.st_uid == uid }) != true {
        let directory = "/run/user/\(uid)"
        if stat(directory, &information) != 0 {
            mkdir("/run/user", 0o755)
            if mkdir(directory, 0o700) == 0 { chown(directory, uid, gid) }
        }
        setenv("XDG_RUNTIME_DIR", directory, 1)
    }
    guard initgroups(name, gid) == 0 else {
        throw WorkbookError("--as-user \(name): initgroups: \(String(cString: strerror(errno)))")
    }
    try setGroupID(gid)
    try setUserID(uid)
    try setDumpable()
    setenv("HOME", home, 1)
    setenv("USER", name, 1)
    setenv("LOGNAME", name, 1)
    for variable in ["XDG_DATA_HOME", "XDG_CACHE_HOME"] {
        guard let value = getenv(variable).map({ String(cString: $0) }) else { continue }
        var information = stat()
        if stat(value, &information) != 0 || information.st_uid != uid { unsetenv(variable) }
    }
}

/// What the host looked like when the stand-in was made: what the learner's runtime
/// must leave as it found it.
public struct StandInHost: Sendable {
    public let hostname: String
    /// The mount table, one line per mount, without the ids that differ between
    /// two identical tables.
    public let mounts: [String]
    /// This process's /proc/self/cgroup, one line per hierarchy.
    public let cgroups: [String]

    /// The stand-in made by `enter()`, once per process.
    nonisolated(unsafe) private static var current: StandInHost?

    /// Set in the environment when the program re-executes itself through unshare(1):
    /// the UTS namespace it came from, so the new process can tell it is in another.
    static let reexecMarker = "WORKBOOK_STAND_IN"

    /// Moves this process into a UTS and a mount namespace of its own (and a network
    /// namespace, `needsOwnNetwork`), with / private
    /// to it, and records what the stand-in looks like. Calling it again returns the
    /// same stand-in.
    public static func enter() throws -> StandInHost {
        if let current { return current }
        // Read while the link still names the program as this root sees it (Repository.programPath).
        _ = Repository.programPath
        if let cameFrom = ProcessInfo.processInfo.environment[reexecMarker] {
            // Started again through unshare(1): make sure it did its part.
            unsetenv(reexecMarker)
            guard namespace("uts") != cameFrom else {
                throw WorkbookError("the stand-in host was not made: unshare(1) ran, but this process is still in the host's UTS namespace")
            }
        } else if callUnshare(cloneNewUTS | cloneNewNS | (needsOwnNetwork ? cloneNewNet : 0)) != 0 {
            let error = errno
            // EINVAL: this process has threads, and a mount namespace is per process.
            // unshare(1) runs us again from the start, single-threaded, inside one.
            if error == EINVAL { try reexecThroughUnshare() }
            throw WorkbookError(
                "make the stand-in host: unshare(CLONE_NEWUTS | CLONE_NEWNS): \(String(cString: strerror(error))) — the workbook runs your runtime in namespaces of its own and needs root (CAP_SYS_ADMIN) for that"
            )
        }
        // Cut every mount's tie to the host first: after this, nothing mounted here
        // reaches the host, and nothing the host (or another container) mounts shows
        // up here.
        if mount("none", "/", nil, msRec | msPrivate, nil) != 0 {
            throw WorkbookError("make the stand-in host: mount --make-rprivate /: \(String(cString: strerror(errno)))")
        }
        // Then share / again, but only inside the stand-in: systemd hosts, which most
        // learners have, mount / shared, and a runtime that forgets to make its own
        // mounts private must show the same mistake here as it would there.
        if mount("none", "/", nil, msRec | msShared, nil) != 0 {
            throw WorkbookError("make the stand-in host: mount --make-rshared /: \(String(cString: strerror(errno)))")
        }
        // Chapter 9: its loopback up, as a host's is (a new network namespace's is down).
        try? Netlink().setUp("lo")
        let host = StandInHost(hostname: currentHostname(), mounts: mountTable(), cgroups: cgroupLines())
        current = host
        return host
    }

    /// Compares the stand-in with how it started, removes the container's cgroups that
    /// are still there, and returns one message per kind of change, in the learner's
    /// terms. Empty when the run left the host as it found it.
    public func inspectAndRepair(containerID: String, stage: Stage, steps: Steps) -> [String] {
        var problems: [String] = []
        let name = StandInHost.currentHostname()
        if name != hostname && !stage.includes(.hostname) {
            // Before chapter 1 the container shares the runtime's UTS namespace by design:
            // its own `hostname NAME` renames the host. Not a mistake of the runtime.
            problems.append(
                explain(
                    "the container renamed the host: its name went from \(hostname) to \(name).",
                    "At chapter \(stage.chapter)'s stage a container has no UTS namespace of its own yet (chapter 1 gives it one);",
                    "the workbook ran it in a stand-in for the host, so this machine kept its name, \(hostname)."))
        } else if name != hostname {
            problems.append(
                explain(
                    "your runtime renamed the host: its name went from \(hostname) to \(name).",
                    "The workbook runs your runtime in a stand-in for the host (a UTS namespace it made before your code ran),",
                    "so this machine kept its name, \(hostname); a real host would now be called \(name).",
                    "The container's sethostname(2) ran in the host's UTS namespace: \(culprit(1, "hostnameNamespace()", steps))",
                    "must ask for a new UTS namespace (.newUTS), so that the container's name is its own."))
        }
        let left = StandInHost.difference(StandInHost.mountTable(), mounts)
        let points = left.map { $0.split(separator: " ").first.map(String.init) ?? $0 }.joined(separator: ", ")
        if !left.isEmpty && !stage.includes(.rootFilesystem) {
            problems.append(
                explain(
                    "the container left mounts on the host: \(points).",
                    "At chapter \(stage.chapter)'s stage a container has no mount namespace of its own yet (chapter 3 gives it one);",
                    "the workbook ran it in a stand-in for the host, so this machine never had them."))
        } else if !left.isEmpty {
            problems.append(
                explain(
                    "your runtime left mounts on the host: \(points).",
                    "The workbook runs your runtime in a stand-in for the host (a mount namespace of its own, / shared as on",
                    "a systemd host), so this machine never had them; on a real host they would stay after the container ended.",
                    "A mount reaches the host when it is made outside the container's mount namespace, or propagates from it:",
                    "\(culprit(3, "pivotToRootfs(_:) and mountProc()", steps)) must mount only in the container's namespace, never shared."))
        }
        if let problem = repairCgroups(containerID: containerID, steps: steps) {
            problems.append(problem)
        }
        return problems
    }

    /// A headline, then the explanation indented under it.
    func explain(_ headline: String, _ lines: String...) -> String {
        ([headline] + lines.map { "  " + $0 }).joined(separator: "\n")
    }

    /// Puts this process back in the groups it started in (a joinCgroup that wrote
    /// the runtime's own pid moved it into the container's), then removes every group
    /// of the container still there. Returns what was found, if anything.
    func repairCgroups(containerID: String, steps: Steps) -> String? {
        let now = StandInHost.cgroupLines()
        var movedFrom: [String] = []
        if now != cgroups {
            let mounts = StandInHost.cgroupMountPoints()
            for line in cgroups where !now.contains(line) {
                guard let (hierarchy, path) = StandInHost.splitCgroupLine(line),
                    let root = mounts[StandInHost.cgroupHierarchyKey(hierarchy.split(separator: ",").map(String.init))]
                else { continue }
                // Writing a pid to cgroup.procs moves that process, and only it.
                if (try? "\(getpid())\n".write(toFile: root + path + "/cgroup.procs", atomically: false, encoding: .utf8)) != nil {
                    movedFrom.append(hierarchy.isEmpty ? "cgroup2" : hierarchy)
                }
            }
        }
        let groups = StandInHost.containerGroups(id: containerID)
        guard !groups.isEmpty || !movedFrom.isEmpty else { return nil }
        let failed = groups.filter { !StandInHost.removeGroup($0) }
        var lines: [String] = []
        let headline: String
        if groups.isEmpty {
            headline = "your runtime put itself in the container's cgroups (\(movedFrom.joined(separator: ", "))); the workbook moved it back."
        } else {
            headline = "your runtime left cgroups on the host: \(groups.joined(separator: ", "))."
            lines.append(
                failed.isEmpty
                    ? "The workbook has removed them (cgroups have no namespace to hide a mistake in)."
                    : "The workbook removed what it could; still there: \(failed.joined(separator: ", ")) (rmdir each once its cgroup.procs is empty)."
            )
        }
        if !movedFrom.isEmpty {
            lines += [
                "The runtime itself (pid \(getpid())) had been moved into the container's groups: \(culprit(4, "joinCgroup(_:pid:)", steps))",
                "must write the pid it is given (the container's process) to cgroup.procs, not the runtime's own;",
                "a group that still holds a process cannot be removed (rmdir says EBUSY).",
            ]
        } else {
            lines += [
                "\(culprit(4, "removeCgroup(_:)", steps).capitalizedFirst) must remove the container's group in every hierarchy",
                "it was made in (rmdir, deepest first), trying again while the kernel answers EBUSY.",
            ]
        }
        return ([headline] + lines.map { "  " + $0 }).joined(separator: "\n")
    }

    // MARK: Reading the host

    /// Chapter N's function in the learner's words: theirs if they wrote it, else the
    /// runtime's step (the reference stood in, so the mistake is in another chapter).
    func culprit(_ chapter: Int, _ function: String, _ steps: Steps) -> String {
        guard steps.authors[chapter] != "\(Reference.self)", let file = ChapterCatalog.chapter(chapter)?.exerciseFiles.first
        else { return "the runtime's \(function) step (the reference's code here, so look at the chapters of yours it calls)" }
        return "chapter \(chapter)'s \(function) in \(file)"
    }

    static func currentHostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// /proc/self/mountinfo without the ids and the propagation tags: mount point,
    /// its root in the filesystem, options, type, source, superblock options.
    static func mountTable() -> [String] {
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { line in
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash >= 6 else { return String(line) }
            return ([fields[4], fields[3], fields[5]] + fields[(dash + 1)...]).joined(separator: " ")
        }
    }

    /// The lines of `after` that `before` does not have, counting repeats.
    static func difference(_ after: [String], _ before: [String]) -> [String] {
        var remaining = before
        return after.filter { line in
            if let index = remaining.firstIndex(of: line) {
                remaining.remove(at: index)
                return false
            }
            return true
        }
    }

    static func cgroupLines() -> [String] {
        let text = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    /// "4:memory:/user.slice" → ("memory", "/user.slice"); the v2 line "0::/x" → ("", "/x").
    static func splitCgroupLine(_ line: String) -> (String, String)? {
        let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3 else { return nil }
        return (String(fields[1]), String(fields[2]))
    }

    /// The controllers (and `name=`) of a hierarchy, in one order.
    static func cgroupHierarchyKey(_ names: [String]) -> String { names.sorted().joined(separator: ",") }

    /// The controllers the kernel has (the first column of /proc/cgroups).
    static var knownControllers: Set<String> {
        let text = (try? String(contentsOfFile: "/proc/cgroups", encoding: .utf8)) ?? ""
        return Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: "\t").first.map(String.init) })
    }

    /// Where each hierarchy of /proc/self/cgroup is mounted: "memory", "cpu,cpuacct",
    /// "name=systemd" (v1) or "" (cgroup2) → its mount point.
    static func cgroupMountPoints() -> [String: String] {
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        let knownControllers = knownControllers
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), fields.count > dash + 3 else { continue }
            let point = String(fields[4])
            switch fields[dash + 1] {
            case "cgroup2":
                if result[""] == nil { result[""] = point }
            case "cgroup":
                // The superblock options hold the controllers ("rw,cpu,cpuacct") or the
                // name of a controller-less tree ("rw,xattr,name=systemd").
                let options = fields[dash + 3].split(separator: ",").map(String.init)
                let key = cgroupHierarchyKey(options.filter { knownControllers.contains($0) || $0.hasPrefix("name=") })
                if result[key] == nil { result[key] = point }
            default:
                continue
            }
        }
        return result
    }

    /// Every group named `id` under a `scratch` parent, in every hierarchy: v1's
    /// /sys/fs/cgroup/TREE/scratch/ID, v2's /sys/fs/cgroup/scratch/ID, a hybrid's
    /// /sys/fs/cgroup/unified/scratch/ID. A tree mounted twice (cpu and cpuacct as
    /// links to cpu,cpuacct) is listed once.
    static func containerGroups(id: String) -> [String] {
        let root = "/sys/fs/cgroup"
        var candidates = [root + "/scratch/" + id]
        for tree in ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted() {
            candidates.append("\(root)/\(tree)/scratch/\(id)")
        }
        var seen: Set<String> = []
        var groups: [String] = []
        for candidate in candidates {
            var information = stat()
            guard lstat(candidate, &information) == 0, (information.st_mode & S_IFMT) == S_IFDIR else { continue }
            if seen.insert(realPath(candidate)).inserted { groups.append(candidate) }
        }
        return groups
    }

    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// rmdir of a group and the groups inside it, deepest first. Processes still in
    /// it belong to this container (its id is in the path): they are killed first,
    /// since a group with a process in it cannot go.
    static func removeGroup(_ group: String) -> Bool {
        for child in (try? FileManager.default.contentsOfDirectory(atPath: group)) ?? [] {
            var information = stat()
            if lstat(group + "/" + child, &information) == 0, (information.st_mode & S_IFMT) == S_IFDIR {
                _ = removeGroup(group + "/" + child)
            }
        }
        // A process the kernel is still tearing down stays listed for a moment:
        // rmdir answers EBUSY until it has left.
        for _ in 0..<200 {
            if rmdir(group) == 0 || errno == ENOENT { return true }
            guard errno == EBUSY else { return false }
            let procs = (try? String(contentsOfFile: group + "/cgroup.procs", encoding: .utf8)) ?? ""
            for pid in procs.split(separator: "\n").compactMap({ pid_t($0) }) where pid != getpid() {
                kill(pid, SIGKILL)
            }
            usleep(5_000)
        }
        return false
    }

    static func namespace(_ kind: String, of process: String = "self") -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process)/ns/\(kind)")) ?? ""
    }

    /// Chapter 9: the stand-in gets a network namespace of its own (no uplink: nothing
    /// a container does leaves it) when this process is in the machine's — PID 1's.
    /// A check that made one to share between its containers keeps it.
    static var needsOwnNetwork: Bool { namespace("net") == namespace("net", of: "1") }

    // MARK: Entering

    /// The program again, from the start, inside new UTS and mount namespaces made by
    /// unshare(1). Returns only by throwing.
    static func reexecThroughUnshare() throws -> Never {
        let executable = Repository.programPath ?? CommandLine.arguments[0]
        setenv(reexecMarker, namespace("uts"), 1)
        let arguments =
            ["unshare", "--uts", "--mount"] + (needsOwnNetwork ? ["--net"] : []) + ["--propagation", "private", "--", executable]
            + CommandLine.arguments.dropFirst()
        let error = executeSearchingPath(arguments)
        unsetenv(reexecMarker)
        throw WorkbookError(
            "make the stand-in host: this process has threads, so unshare(2) refused a mount namespace, and running unshare(1) failed too: \(String(cString: strerror(error))) — install util-linux (apt-get install util-linux)"
        )
    }
}

// unshare(2)'s flags and mount(2)'s, from the kernel's ABI (Swift's Glibc hides them
// without _GNU_SOURCE).
let cloneNewNS: Int32 = 0x0002_0000
let cloneNewUTS: Int32 = 0x0400_0000
let cloneNewNet: Int32 = 0x4000_0000
let msRec: UInt = 0x4000
let msPrivate: UInt = 0x4_0000
let msShared: UInt = 0x10_0000

/// unshare(2), looked up in the C library at run time: Swift's Glibc declares it only
/// with _GNU_SOURCE.
func callUnshare(_ flags: Int32) -> Int32 {
    typealias Unshare = @convention(c) (Int32) -> Int32
    guard let symbol = dlsym(nil, "unshare") else {
        errno = ENOSYS
        return -1
    }
    return unsafeBitCast(symbol, to: Unshare.self)(flags)
}

/// execvp(3): returns errno if it failed.
func executeSearchingPath(_ arguments: [String]) -> Int32 {
    var pointers: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
    pointers.append(nil)
    execvp(arguments[0], &pointers)
    let error = errno
    for pointer in pointers { free(pointer) }
    return error
}

/// One line on stderr, unbuffered: it must come out even if the program exits next.
func standInError(_ text: String) {
    let line = Array((text + "\n").utf8)
    line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
