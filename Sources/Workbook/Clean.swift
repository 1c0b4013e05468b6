import Foundation
import Glibc
import Runtime
import Syscalls

/// `workbook clean`: what a crashed or interrupted run left on the host, and only what
/// this project made.
///
/// - state directories of dead runtimes (`/run/scratch/<id>`, their lock free) and the
///   cgroups they record, groups under `scratch/` that no state records, half-built
///   default rootfses: what `scratch gc` removes, through the same function
///   (`collectGarbage`), which leaves everything alive alone;
/// - `workbook-check-*` work directories in the temporary directory that no process
///   uses any more (a `workbook check` killed before its cleanup), and any mount under
///   them, unmounted first;
/// - chapter 8's check users (`wb8…`, home in a check's work directory) whose work
///   directory is gone or abandoned: their processes, then the user (`userdel -r`,
///   which takes their /etc/subuid and /etc/subgid lines too).
public enum Cleaner {
    public struct Leftover: Sendable, Equatable {
        public let path: String
        public let why: String
    }

    /// A check's work directory younger than this may belong to a check that is just
    /// starting: mkdtemp comes before anything refers to the directory.
    static let graceSeconds: TimeInterval = 10

    /// What `clean` would remove now. The runtime's part is read the way
    /// `collectGarbage` decides it; a runtime that dies in between is caught by the
    /// real pass.
    public static func leftovers(temporaryDirectories: [String] = defaultTemporaryDirectories()) -> [Leftover] {
        var found: [Leftover] = []
        let records = recordedContainers(includingUnborn: true)
        for record in records where !record.alive {
            found.append(Leftover(path: record.directory, why: "state of a runtime that is gone"))
            for group in record.state?.cgroups ?? [] where FileManager.default.fileExists(atPath: group) {
                found.append(Leftover(path: group, why: "cgroup of container \(record.state?.id ?? "?"), its runtime gone"))
            }
        }
        let recorded = Set(records.compactMap { $0.state?.id })
        for group in scratchGroups() where !recorded.contains((group as NSString).lastPathComponent) {
            found.append(Leftover(path: group, why: "cgroup no container's state records"))
        }
        for directory in abandonedCheckDirectories(in: temporaryDirectories) {
            for point in mounts(under: directory) { found.append(Leftover(path: point, why: "mount under a check's work directory")) }
            found.append(Leftover(path: directory, why: "work directory of a check that was interrupted"))
        }
        for user in abandonedCheckUsers(in: temporaryDirectories) {
            found.append(Leftover(path: "user " + user.name, why: "user of chapter 8's checks, its check interrupted"))
        }
        return found
    }

    /// Removes them; returns what was removed.
    public static func clean(temporaryDirectories: [String] = defaultTemporaryDirectories()) -> [String] {
        var removed = collectGarbage()
        // Users first: their homes are in the work directories removed below.
        for user in abandonedCheckUsers(in: temporaryDirectories) where removeCheckUser(user) {
            removed.append("user " + user.name)
        }
        for directory in abandonedCheckDirectories(in: temporaryDirectories) {
            // Deepest first; MNT_DETACH so a busy mount cannot keep its directory.
            for point in mounts(under: directory).reversed() where umount2(point, Int32(MNT_DETACH)) == 0 {
                removed.append(point)
            }
            // A mount that stayed would let removeItem delete files on what it mounts.
            guard mounts(under: directory).isEmpty else { continue }
            if (try? FileManager.default.removeItem(atPath: directory)) != nil { removed.append(directory) }
        }
        return removed
    }

    public static func defaultTemporaryDirectories() -> [String] {
        var directories = ["/tmp"]
        let temporary = FileManager.default.temporaryDirectory.path
        if !directories.contains(temporary) { directories.insert(temporary, at: 0) }
        return directories.map { $0.hasSuffix("/") && $0.count > 1 ? String($0.dropLast()) : $0 }
    }

    /// `scratch/<id>` groups in every hierarchy (v2: one tree; v1: one per controller).
    static func scratchGroups() -> [String] {
        let root = "/sys/fs/cgroup"
        let trees = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).map { root + "/" + $0 + "/scratch" }
        var groups: [String] = []
        for parent in [root + "/scratch"] + trees {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where isContainerID(name) {
                groups.append(parent + "/" + name)
            }
        }
        return groups
    }

    static func isContainerID(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// Chapter 8's check users (`wb8…`, made by `CheckUser.make` with their home in a
    /// check's work directory) whose work directory is gone or abandoned.
    static func abandonedCheckUsers(in temporaryDirectories: [String]) -> [(name: String, uid: uid_t)] {
        let text = (try? String(contentsOfFile: "/etc/passwd", encoding: .utf8)) ?? ""
        var users: [(name: String, uid: uid_t, workDirectory: String)] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 6, fields[0].hasPrefix("wb8"), let uid = uid_t(fields[2]), uid != 0,
                fields[5].hasSuffix("/home-" + fields[0]), fields[5].contains("/workbook-check-")
            else { continue }
            users.append((fields[0], uid, (fields[5] as NSString).deletingLastPathComponent))
        }
        guard !users.isEmpty else { return [] }
        let abandoned = Set(abandonedCheckDirectories(in: temporaryDirectories))
        return users.filter { !FileManager.default.fileExists(atPath: $0.workDirectory) || abandoned.contains($0.workDirectory) }
            .map { ($0.name, $0.uid) }
    }

    /// Kills the user's processes (by pid) and removes the user; true when it is gone.
    static func removeCheckUser(_ user: (name: String, uid: uid_t)) -> Bool {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }),
                line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first == Substring("\(user.uid)")
            else { continue }
            kill(pid, SIGKILL)
        }
        let userdel = Process()
        userdel.executableURL = URL(fileURLWithPath: "/usr/sbin/userdel")
        userdel.arguments = ["-r", user.name]
        userdel.standardError = FileHandle.nullDevice
        guard (try? userdel.run()) != nil else { return false }
        userdel.waitUntilExit()
        return getpwnam(user.name) == nil
    }

    /// `workbook-check-*` directories older than the grace period that no process has
    /// as its root or working directory, holds open, or names on its command line
    /// (every container of a check gets `--rootfs DIR/rootfs`).
    static func abandonedCheckDirectories(in temporaryDirectories: [String]) -> [String] {
        var candidates: [String] = []
        for temporary in Set(temporaryDirectories) {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix("workbook-check-") {
                let path = temporary + "/" + name
                var info = stat()
                guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
                let age = Date().timeIntervalSince1970 - TimeInterval(info.st_mtim.tv_sec)
                if age >= graceSeconds { candidates.append(path) }
            }
        }
        guard !candidates.isEmpty else { return [] }
        let used = pathsInUse()
        return candidates.sorted().filter { directory in
            !used.contains { $0 == directory || $0.hasPrefix(directory + "/") }
        }
    }

    /// Every path a process refers to: its root, its working directory, its open
    /// files, and its arguments.
    static func pathsInUse() -> [String] {
        var paths: [String] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where entry.allSatisfy(\.isNumber) {
            let process = "/proc/" + entry
            for link in ["root", "cwd"] {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: process + "/" + link) { paths.append(target) }
            }
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: process + "/fd")) ?? [] {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: process + "/fd/" + fd) { paths.append(target) }
            }
            if let arguments = FileManager.default.contents(atPath: process + "/cmdline") {
                paths += arguments.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            }
        }
        return paths
    }

    /// Mount points at or under `directory` in this mount namespace, outermost first.
    static func mounts(under directory: String) -> [String] {
        let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return table.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = unescapedMountPath(fields[4])
            return point == directory || point.hasPrefix(directory + "/") ? point : nil
        }
    }
}
