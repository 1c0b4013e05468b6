import Glibc
import Syscalls

// Chapter 6 — the user the command runs as: `-u/--user UID[:GID]` or NAME[:GROUP],
// the image's User, or root.
//
// Names are looked up in the container's own /etc/passwd and /etc/group, read after
// pivot_root, for three reasons:
//   - the image's users are not the host's: uid 1000 is "app" in the image and may be
//     "alice" on the host, or nobody;
//   - before the pivot the file would be "<rootfs>/etc/passwd", and an image whose
//     /etc/passwd is a symlink to /etc/shadow would have the runtime read the host's
//     (an absolute link resolves against the host's /); after the pivot "/" is the
//     rootfs and no path leads out of it;
//   - getpwnam(3) asks the host's NSS (nsswitch.conf, LDAP, sssd), which knows nothing
//     of the image, and cannot load its modules in a static binary anyway.
// The lookups follow runc's (libcontainer/user): a numeric UID need not be in passwd
// (its group is then 0); a name must be; with no GROUP the user's supplementary groups
// are the groups of /etc/group that list its name; with a GROUP, that group alone.

/// The user the command runs as, resolved.
public struct ContainerUser: Equatable, Sendable {
    public var uid: uid_t = 0
    public var gid: gid_t = 0
    /// The supplementary groups, as setgroups(2) takes them.
    public var groups: [gid_t] = []
    /// From the passwd entry; "/" without one, as runc does.
    public var home = "/"

    public init(uid: uid_t = 0, gid: gid_t = 0, groups: [gid_t] = [], home: String = "/") {
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home
    }
}

/// What is wrong with a `--user` value, or nil: checked before anything is created, so
/// a typo costs no container. Whether a name exists is known only inside the image.
public func userProblem(_ value: String) -> String? {
    let rule = "give --user UID[:GID] or NAME[:GROUP], e.g. --user 1000:1000 or --user nobody"
    let parts = value.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
    if parts.contains(where: \.isEmpty) { return "an empty user or group — \(rule)" }
    if value.contains(where: { $0 == "\n" || $0 == " " || $0 == "," }) { return "a user or group name has no spaces, commas or newlines — \(rule)" }
    for part in parts where part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) && idValue(part) == nil {
        return "\(part) is past the largest id (4294967294) — \(rule)"
    }
    return nil
}

/// The user `value` names (nil: root) in the container's passwd and group files'
/// text (nil: the file is missing). `extraGroups` (an OCI config's additionalGids)
/// are added to the supplementary groups.
public func resolveUser(_ value: String?, passwd: String?, group: String?, extraGroups: [gid_t] = []) throws(ContainerError)
    -> ContainerUser
{
    func unknown(_ what: String, _ file: String) -> ContainerError {
        ContainerError(
            step: "find the user",
            reason:
                "--user \(ContainerSpec.quoted(value ?? "")): no \(what) in the image's \(file)\(file == "/etc/passwd" && passwd == nil || file == "/etc/group" && group == nil ? " (the image has none)" : "") — give a numeric id, or a name the image's \(file) lists"
        )
    }
    var user = ContainerUser()
    let parts = (value ?? "0").split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
    let userPart = parts[0]
    let groupPart = parts.count > 1 ? parts[1] : nil
    let numericUser = idValue(userPart)
    let entry = passwdEntries(passwd).first { (numericUser != nil && idValue($0[2]) == numericUser) || $0[0] == userPart }
    if let entry {
        user.uid = idValue(entry[2]) ?? 0
        user.gid = idValue(entry[3]) ?? 0
        if !entry[5].isEmpty { user.home = String(entry[5]) }
    } else if let numericUser {
        user.uid = numericUser
    } else {
        throw unknown("user \(userPart)", "/etc/passwd")
    }
    let groups = groupEntries(group)
    if let groupPart {
        if let gid = idValue(groupPart) {
            user.gid = gid
        } else if let match = groups.first(where: { $0[0] == groupPart }), let gid = idValue(match[2]) {
            user.gid = gid
        } else {
            throw unknown("group \(groupPart)", "/etc/group")
        }
    } else if let name = entry?[0] {
        user.groups = groups.filter { $0[3].split(separator: ",").contains(name) }.compactMap { idValue($0[2]) }
    }
    user.groups += extraGroups
    return user
}

/// In the child, after the pivot: the user `value` names, from the rootfs's own files.
func findContainerUser(_ value: String?, extraGroups: [gid_t]) throws -> ContainerUser {
    // 4 MiB: a passwd file with tens of thousands of users; past that, a trap.
    let passwd = try readRegularFile("/etc/passwd", limit: 4 << 20).map { String(decoding: $0, as: UTF8.self) }
    let group = try readRegularFile("/etc/group", limit: 4 << 20).map { String(decoding: $0, as: UTF8.self) }
    return try resolveUser(value, passwd: passwd, group: group, extraGroups: extraGroups)
}

/// Becomes the user, for good: supplementary groups, then the group, then the user.
///
/// The order is the kernel's rule, not taste: setgroups(2) and setgid(2) need
/// CAP_SETGID, which setuid(2) to anyone but root takes away. Set the user first and
/// the calls after it fail — or, if their errors were ignored, the command would run
/// as the user but keep root's group and the runtime's supplementary groups, able to
/// read every file those groups can. setgroups comes first of all because the list is
/// replaced whole: without the call the command inherits whatever groups the runtime
/// had on the host.
func becomeUser(_ user: ContainerUser) throws(SyscallError) {
    // Chapter 8: in a user namespace whose single-id map was written without a helper,
    // setgroups(2) is denied for good (UserNamespace.swift says why) and the process
    // keeps the caller's groups, unmapped (they show as 65534): the kernel's answer,
    // and the price of mapping without newgidmap.
    if !setgroupsDenied() { try setSupplementaryGroups(user.groups) }
    try setGroupID(user.gid)
    try setUserID(user.uid)
}

/// A numeric user or group id: digits only, at most 4294967294 ((uid_t)-1 means "no
/// change" to the kernel, and so can never be an id).
func idValue<S: StringProtocol>(_ text: S) -> UInt32? {
    guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = UInt32(text), value != UInt32.max else { return nil }
    return value
}

/// passwd lines split at ':' (name, password, uid, gid, gecos, home, shell): those
/// with seven fields; comments and broken lines are skipped, as glibc does.
private func passwdEntries(_ text: String?) -> [[Substring]] {
    colonEntries(text, fields: 7)
}

/// group lines (name, password, gid, members) with four fields.
private func groupEntries(_ text: String?) -> [[Substring]] {
    colonEntries(text, fields: 4)
}

private func colonEntries(_ text: String?, fields: Int) -> [[Substring]] {
    guard let text else { return [] }
    return text.split(separator: "\n").compactMap { line in
        if line.hasPrefix("#") { return nil }
        let entry = line.split(separator: ":", omittingEmptySubsequences: false)
        return entry.count == fields ? entry : nil
    }
}

/// True when /proc/self/setgroups says "deny" (chapter 8).
private func setgroupsDenied() -> Bool {
    guard let bytes = try? readFile("/proc/self/setgroups") else { return false }
    return bytes.starts(with: Array("deny".utf8))
}
