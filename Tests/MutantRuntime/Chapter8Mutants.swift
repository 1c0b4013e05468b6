import Glibc
import Runtime
import Syscalls

// Chapter 8 — rootless: the user namespace's maps. Each is the reference with one
// mistake.

/// The reference's way of writing: one id by hand (`order` says which of the files
/// /proc/CHILD/setgroups, uid_map, gid_map are written, in what order), a range
/// through the helpers with the lines split into their arguments.
private func write(_ lines: (uid: String, gid: String), _ maps: IDMaps, child: pid_t, order: [String] = ["setgroups", "uid_map", "gid_map"])
    throws
{
    if maps.range != nil {
        for (helper, text) in [(maps.helpers.uid, lines.uid), (maps.helpers.gid, lines.gid)] {
            let arguments = [helper, "\(child)"] + text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
            let result = try runProgram(arguments)
            guard case .exited(0) = result.status else {
                throw ContainerError(step: "write the user namespace's maps", reason: "\(arguments.joined(separator: " ")) failed (\(result.status))")
            }
        }
        return
    }
    for file in order {
        let text = file == "setgroups" ? "deny" : file == "uid_map" ? lines.uid : lines.gid
        try writeFile("/proc/\(child)/\(file)", Array(text.utf8), create: false)
    }
}

/// The reference's lines, for the writing mutants.
private protocol ReferenceLines: UserNamespaceSteps {}
extension ReferenceLines {
    func mapLines(_ maps: IDMaps) throws -> (uid: String, gid: String) { try Reference().mapLines(maps) }
}

/// The reference's writing, for the line mutants.
private protocol ReferenceWriting: UserNamespaceSteps {}
extension ReferenceWriting {
    func writeIDMaps(_ maps: IDMaps, child: pid_t) throws { try write(mapLines(maps), maps, child: child) }
}

/// gid_map written before setgroups is denied: the kernel refuses it (EPERM).
struct Ch8GidMapBeforeSetgroups: ReferenceLines {
    func writeIDMaps(_ maps: IDMaps, child: pid_t) throws {
        try write(mapLines(maps), maps, child: child, order: ["uid_map", "gid_map", "setgroups"])
    }
}

/// setgroups never written: gid_map is refused.
struct Ch8NoSetgroupsDeny: ReferenceLines {
    func writeIDMaps(_ maps: IDMaps, child: pid_t) throws {
        try write(mapLines(maps), maps, child: child, order: ["uid_map", "gid_map"])
    }
}

/// "0 0 1": the container's root as the host's root. The kernel refuses it to a user.
struct Ch8MapsHostRoot: ReferenceWriting {
    func mapLines(_ maps: IDMaps) throws -> (uid: String, gid: String) {
        guard let range = maps.range else { return ("0 0 1\n", "0 0 1\n") }
        return ("0 0 1\n1 \(range.uidStart) \(IDMaps.rangeSize)\n", "0 0 1\n1 \(range.gidStart) \(IDMaps.rangeSize)\n")
    }
}

/// The uid in gid_map and the gid in uid_map.
struct Ch8UIDAndGIDSwapped: ReferenceWriting {
    func mapLines(_ maps: IDMaps) throws -> (uid: String, gid: String) {
        let lines = try Reference().mapLines(maps)
        return (lines.gid, lines.uid)
    }
}

/// With a range, only the range's line: container 0 is left unmapped (65534 inside).
struct Ch8RangeWithoutRootLine: ReferenceWriting {
    func mapLines(_ maps: IDMaps) throws -> (uid: String, gid: String) {
        guard let range = maps.range else { return try Reference().mapLines(maps) }
        return ("1 \(range.uidStart) \(IDMaps.rangeSize)\n", "1 \(range.gidStart) \(IDMaps.rangeSize)\n")
    }
}

/// The range's line one id too long ("65,536 and root"): past the user's range, and
/// newuidmap refuses it.
struct Ch8RangeOneTooLong: ReferenceWriting {
    func mapLines(_ maps: IDMaps) throws -> (uid: String, gid: String) {
        guard let range = maps.range else { return try Reference().mapLines(maps) }
        let count = IDMaps.rangeSize + 1
        return ("0 \(maps.uid) 1\n1 \(range.uidStart) \(count)\n", "0 \(maps.gid) 1\n1 \(range.gidStart) \(count)\n")
    }
}

/// The range ignored: one id, written by hand, whatever /etc/subuid gives the user.
struct Ch8RangeIgnored: UserNamespaceSteps {
    func mapLines(_ maps: IDMaps) throws -> (uid: String, gid: String) { ("0 \(maps.uid) 1\n", "0 \(maps.gid) 1\n") }
    func writeIDMaps(_ maps: IDMaps, child: pid_t) throws {
        var single = maps
        single.range = nil
        try write(mapLines(maps), single, child: child)
    }
}
