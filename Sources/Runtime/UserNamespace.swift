import Glibc
import Syscalls

// Chapter 8 — rootless: the user namespace.
//
// A user namespace renumbers users. Its uid_map says which ids of the namespace stand
// for which ids of the host, line by line: `0 1000 1` makes uid 0 inside the host's
// uid 1000. The process that made the namespace holds every capability *in it* — root
// over what the namespace owns (its mount, UTS, PID namespaces made with it), nothing
// over the host: to the host's kernel checks it is still uid 1000. So an ordinary user
// can be root in a container and nothing more than themselves outside.
//
// Who may write the maps (user_namespaces(7)), and why the parent does it:
//  - only once per namespace, and from a process that has CAP_SETUID over it;
//  - a process of the parent namespace with the same euid as the namespace's creator
//    may map one id: its own (`0 UID 1`). For gid_map it must first write "deny" to
//    /proc/PID/setgroups: otherwise root in the namespace could setgroups(2) away a
//    supplementary group the user was put in to be *kept out* of files (a group with
//    fewer rights in an ACL, mode 0707) — CVE-2014-8989.
//  - more ids need a privileged helper: newuidmap/newgidmap (setuid root, Debian's
//    `uidmap`) check /etc/subuid and /etc/subgid, where the administrator gave the
//    user a range of host ids of their own, and write the maps for us.
// The child waits for the go-ahead until the maps are written: before that its ids
// are unmapped (65534, the "overflow" id) and it could not even write a file.

/// The ids a container's user namespace maps, planned before anything exists.
public struct IDMaps: Sendable, Equatable {
    /// The caller: container 0 stands for them.
    public var uid: uid_t
    public var gid: gid_t
    /// From /etc/subuid and /etc/subgid: the first host id of the caller's range, which
    /// container id 1 stands for. nil: one id only.
    public var range: (uidStart: UInt32, gidStart: UInt32)?
    /// newuidmap and newgidmap (absolute paths), for a range.
    public var helpers = (uid: UserNamespaceFiles.host.newuidmap, gid: UserNamespaceFiles.host.newgidmap)

    public static func == (a: IDMaps, b: IDMaps) -> Bool {
        a.uid == b.uid && a.gid == b.gid && a.range?.uidStart == b.range?.uidStart && a.range?.gidStart == b.range?.gidStart
    }

    /// How many ids the range maps above 0: 65,536 as Podman's default, so every id
    /// an image's files use (up to 65535, `nobody`) has an owner.
    public static let rangeSize: UInt32 = 65536
}

/// The host files a plan reads (the tests point them at files of their own).
public struct UserNamespaceFiles: Sendable {
    var maxUserNamespaces = "/proc/sys/user/max_user_namespaces"
    var unprivilegedClone = "/proc/sys/kernel/unprivileged_userns_clone"
    var subuid = "/etc/subuid"
    var subgid = "/etc/subgid"
    /// Absolute: the helpers are setuid root, and PATH is the caller's to choose.
    var newuidmap = "/usr/bin/newuidmap"
    var newgidmap = "/usr/bin/newgidmap"

    public static let host = UserNamespaceFiles()
}

/// Checks that this kernel lets us make a user namespace, and plans its maps: a
/// range when the caller has one in /etc/subuid and /etc/subgid, else one id.
func planUserNamespace(
    uid: uid_t = getuid(), gid: gid_t = getgid(), name: String? = nil, files: UserNamespaceFiles = .host,
    mapping: UserNamespaceMapping = .auto
) throws(ContainerError) -> IDMaps {
    func refused(_ reason: String) -> ContainerError { ContainerError(step: "check user namespaces", reason: reason) }
    // 0 here stops every user namespace, root's too (clone fails with ENOSPC).
    if let text = try? readFile(files.maxUserNamespaces), let value = Int(trimmed(text)), value == 0 {
        throw refused(
            "user namespaces are disabled on this host (/proc/sys/user/max_user_namespaces is 0); an administrator can allow them: sysctl -w user.max_user_namespaces=15000"
        )
    }
    // Debian's own switch (its kernels only): 0 refuses them to everyone but root,
    // because bugs in code a user namespace lets ordinary users reach have been
    // exploited (CVE-2022-0185 in the filesystem-context code, among others).
    if uid != 0, let text = try? readFile(files.unprivilegedClone), trimmed(text) == "0" {
        throw refused(
            "this kernel refuses user namespaces to users other than root (kernel.unprivileged_userns_clone is 0); an administrator can allow them: sysctl -w kernel.unprivileged_userns_clone=1"
        )
    }
    var maps = IDMaps(uid: uid, gid: gid, range: nil)
    let name = name ?? userName(uid)
    let uidRange = subordinateRange(file: files.subuid, user: name, id: uid)
    let gidRange = subordinateRange(file: files.subgid, user: name, id: uid)
    if mapping == .single { return maps }
    guard let uidStart = uidRange, let gidStart = gidRange else {
        if mapping == .range {
            let who = name ?? "uid \(uid)"
            throw refused(
                "--userns-map range asks for 65,536 ids, and \(who) has no range of that size in \(uidRange == nil ? files.subuid : files.subgid); an administrator can give one (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \(who)), or use --userns-map single (the caller's one id)"
            )
        }
        return maps
    }
    // The range is asked for by the administrator's /etc/subuid: without the helpers
    // we could only map one id, and the image's files of other owners would fail to
    // be chowned — say so rather than run a different container than asked.
    for helper in [files.newuidmap, files.newgidmap] where access(helper, X_OK) != 0 {
        throw refused(
            "\(helper) is missing, and \(name ?? "uid \(maps.uid)") has a range in /etc/subuid and /etc/subgid that only it may map; install it (apt-get install uidmap) or remove the user's lines from /etc/subuid and /etc/subgid"
        )
    }
    maps.range = (uidStart, gidStart)
    maps.helpers = (files.newuidmap, files.newgidmap)
    return maps
}

extension Reference: UserNamespaceSteps {
    public func mapLines(_ maps: IDMaps) throws -> (uid: String, gid: String) {
        // One line, "inside outside count": container 0 is the caller. A range adds
        // its ids above it; 0 must stay the caller's own id, or the container's root
        // would be a stranger's uid (and the user could not even reach their files).
        guard let range = maps.range else { return ("0 \(maps.uid) 1\n", "0 \(maps.gid) 1\n") }
        return (
            "0 \(maps.uid) 1\n1 \(range.uidStart) \(IDMaps.rangeSize)\n",
            "0 \(maps.gid) 1\n1 \(range.gidStart) \(IDMaps.rangeSize)\n"
        )
    }

    public func writeIDMaps(_ maps: IDMaps, child: pid_t) throws {
        let lines = try mapLines(maps)
        if maps.range != nil {
            // The kernel takes more than one's own id only from a writer with
            // CAP_SETUID over the parent namespace: the setuid helpers are that writer.
            // They take the lines as arguments and check each against /etc/subuid (or
            // /etc/subgid) and the caller's own id.
            for (helper, text) in [(maps.helpers.uid, lines.uid), (maps.helpers.gid, lines.gid)] {
                let arguments = [helper, "\(child)"] + text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
                let result = try runProgram(arguments)
                guard case .exited(0) = result.status else {
                    throw ContainerError(
                        step: "write the user namespace's maps",
                        reason: "\(arguments.joined(separator: " ")) failed (\(result.status)); its message is above")
                }
            }
            return
        }
        // One id, written by ourselves, an unprivileged writer: setgroups denied first.
        try writeIDMapFiles(child: child, uid: lines.uid, gid: lines.gid, denySetgroups: true)
    }
}

/// Writes `child`'s uid_map and gid_map from its parent's namespace: each file once,
/// in one write(2) of the whole map (the kernel takes no second write, and none of a
/// page or more).
///
/// setgroups first, when `denySetgroups`: the kernel takes gid_map from a writer
/// without CAP_SETGID over the parent namespace (a user mapping their own id) only once
/// setgroups(2) is denied in the namespace (CVE-2014-8989: root inside could otherwise
/// drop a group that keeps the user *out* of a file). Root writing a bundle's maps
/// (chapter 10) holds CAP_SETGID and leaves it allowed, as runc does: the container's
/// root may then set the supplementary groups `process.user.additionalGids` lists.
func writeIDMapFiles(child: pid_t, uid: String, gid: String, denySetgroups: Bool) throws(SyscallError) {
    let proc = "/proc/\(child)"
    if denySetgroups { try writeFile(proc + "/setgroups", Array("deny".utf8), create: false) }
    try writeFile(proc + "/uid_map", Array(uid.utf8), create: false)
    try writeFile(proc + "/gid_map", Array(gid.utf8), create: false)
}

// MARK: chapter 10 — a bundle's maps

/// One entry of a bundle's `linux.uidMappings` or `linux.gidMappings`: `size` ids
/// from `containerID` in the container stand for as many from `hostID` on the host.
public struct OCIIDMapping: Sendable, Equatable {
    public var containerID: UInt32
    public var hostID: UInt32
    public var size: UInt32
    public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
        (self.containerID, self.hostID, self.size) = (containerID, hostID, size)
    }
}

/// The map file's text: "inside outside count", one entry a line.
func idMapText(_ mappings: [OCIIDMapping]) -> String {
    mappings.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
}

/// What the kernel would refuse in a bundle's maps (user_namespaces(7)), said before
/// anything exists; nil when it takes them. `place` is the property's JSON path.
public func idMappingProblem(_ mappings: [OCIIDMapping], place: String) -> String? {
    // 340 lines since Linux 4.15 (5 before), and the whole text under a page: the
    // kernel reads the map in one write(2) of less than PAGE_SIZE.
    if mappings.count > 340 { return "\(place): \(mappings.count) entries — the kernel takes at most 340" }
    if idMapText(mappings).utf8.count >= 4096 { return "\(place): the map is 4096 bytes or more as text — the kernel takes less than a page" }
    for (index, entry) in mappings.enumerated() {
        if entry.size == 0 { return "\(place)[\(index)].size: 0 — a mapping maps at least one id" }
        // An id range may not run past 2^32 - 1 (4294967295, (uid_t)-1, is no id).
        for (field, start) in [("containerID", entry.containerID), ("hostID", entry.hostID)]
        where UInt64(start) + UInt64(entry.size) > UInt64(UInt32.max) {
            return "\(place)[\(index)].\(field): \(start) + size \(entry.size) runs past 4294967294, the last id"
        }
    }
    // No two ranges may overlap, inside or outside: each id must stand for one id.
    for (first, a) in mappings.enumerated() {
        for (second, b) in mappings.enumerated() where second > first {
            for (field, x, y) in [("containerID", a.containerID, b.containerID), ("hostID", a.hostID, b.hostID)]
            where UInt64(x) < UInt64(y) + UInt64(b.size) && UInt64(y) < UInt64(x) + UInt64(a.size) {
                return "\(place)[\(first)] and [\(second)] overlap (\(field)s \(x)+\(a.size) and \(y)+\(b.size)) — each id may be mapped once"
            }
        }
    }
    return nil
}

/// True when `id` of the container is one that `mappings` map.
public func idIsMapped(_ id: UInt32, by mappings: [OCIIDMapping]) -> Bool {
    mappings.contains { UInt64(id) >= UInt64($0.containerID) && UInt64(id) < UInt64($0.containerID) + UInt64($0.size) }
}

/// The maps' lines for an error message, as `steps` make them: what the kernel (or
/// newuidmap) was asked for, so a refusal can be read against it.
func describeMapLines(_ maps: IDMaps, steps: Steps) -> String {
    guard let lines = try? steps.userNamespace.mapLines(maps) else { return "" }
    func quoted(_ text: String) -> String {
        "\"" + text.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\\n") + "\""
    }
    return "uid_map \(quoted(lines.uid)), gid_map \(quoted(lines.gid)) for uid \(maps.uid), gid \(maps.gid)"
        + (maps.range.map { ", range from \($0.uidStart) (uids), \($0.gidStart) (gids), \(IDMaps.rangeSize) ids" } ?? "")
}

/// True in a user namespace other than the host's: the host's maps every id to itself
/// (`0 0 4294967295`). The child's setup asks this where a user namespace cannot do
/// what real root does.
func inUserNamespace() -> Bool {
    guard let text = try? readFile("/proc/self/uid_map") else { return false }
    let fields = String(decoding: text, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
    return fields != ["0", "0", "4294967295"]
}

/// True when this process runs rootless: a user namespace made by a user who is not
/// root on the host. Then the host's cgroups (v1, not delegated) are out of reach.
func isRootless(_ spec: ContainerSpec) -> Bool { spec.userNamespace && getuid() != 0 }

/// The user's range from /etc/subuid or /etc/subgid (`name:start:count` or
/// `uid:start:count`), when it holds the 65,536 ids we map.
func subordinateRange(file: String, user name: String?, id: uid_t) -> UInt32? {
    guard let bytes = try? readFile(file) else { return nil }
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
        let fields = line.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 3, fields[0] == "\(id)" || (name.map { fields[0] == $0 } ?? false),
            let start = UInt32(fields[1]), let count = UInt32(fields[2]), count >= IDMaps.rangeSize
        else { continue }
        return start
    }
    return nil
}

/// The caller's login name, as /etc/subuid names users.
private func userName(_ uid: uid_t) -> String? {
    guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return nil }
    return String(cString: name)
}

private func trimmed(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
}
