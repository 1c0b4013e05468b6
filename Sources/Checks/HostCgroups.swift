import Foundation
import Glibc
import Runtime

/// What the host sees of cgroups: the mode, the controllers, a process's groups, and
/// the container groups under `scratch/`.
public enum HostCgroups {
    static let root = "/sys/fs/cgroup"

    /// The host's cgroup mode, as the runtime detects it; nil if /sys/fs/cgroup is
    /// neither cgroup2 nor a tmpfs of v1 trees.
    public static func mode() -> CgroupMode? { try? detectCgroupMode() }

    /// " (cgroup v1 ...)": appended to what a check expected, so a failure says which
    /// mode it was seen on.
    static func note(_ mode: CgroupMode) -> String { " [host: \(mode)]" }

    /// True when the host has `controller` where the runtime would use it.
    public static func hasController(_ controller: String, mode: CgroupMode) -> Bool {
        switch mode {
        case .v1:
            return FileManager.default.fileExists(atPath: "\(root)/\(controller)/cgroup.procs")
        case .v2:
            let text = (try? String(contentsOfFile: "\(root)/cgroup.controllers", encoding: .utf8)) ?? ""
            return text.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains { $0 == controller }
        }
    }

    /// The reason a check cannot run without `controller`, for `.skipped`.
    static func missing(_ controller: String, mode: CgroupMode) -> String {
        "this host has no \(controller) controller (\(mode)) — nothing to limit with"
    }

    /// A process's group in each hierarchy, from /proc/PID/cgroup ("4:memory:/scratch/x"):
    /// controller name → path; the v2 tree is under the key "" ("0::/scratch/x").
    public static func groups(of pid: String) -> [String: String] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? ""
        return groups(inProcCgroup: text)
    }

    /// The same, from the text of a /proc/PID/cgroup file.
    public static func groups(inProcCgroup text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[1].isEmpty {
                result[""] = String(fields[2])
            } else {
                for controller in fields[1].split(separator: ",") { result[String(controller)] = String(fields[2]) }
            }
        }
        return result
    }

    /// The host directory of a group: `path` (as /proc/PID/cgroup shows it) in the tree
    /// of `controller` on v1, in the unified tree on v2.
    public static func directory(_ path: String, controller: String, mode: CgroupMode) -> String {
        mode == .v2 ? root + path : "\(root)/\(controller)\(path)"
    }

    /// Every container group under a `scratch` parent, in every tree: v1's
    /// /sys/fs/cgroup/*/scratch/ID, the v2 /sys/fs/cgroup/scratch/ID, and a hybrid's
    /// /sys/fs/cgroup/unified/scratch/ID.
    public static func containerGroups() -> Set<String> {
        let manager = FileManager.default
        var parents = [root + "/scratch"]
        for tree in (try? manager.contentsOfDirectory(atPath: root)) ?? [] {
            parents.append("\(root)/\(tree)/scratch")
        }
        var groups: Set<String> = []
        for parent in parents {
            for name in (try? manager.contentsOfDirectory(atPath: parent)) ?? [] {
                var isDirectory: ObjCBool = false
                if manager.fileExists(atPath: parent + "/" + name, isDirectory: &isDirectory), isDirectory.boolValue {
                    groups.insert(parent + "/" + name)
                }
            }
        }
        return groups
    }

    /// The group `scratch/ID` in every tree where it exists now.
    public static func groupDirectories(id: String) -> [String] {
        guard !id.isEmpty, !id.contains("/") else { return [] }
        let manager = FileManager.default
        var parents = [root + "/scratch"]
        for tree in (try? manager.contentsOfDirectory(atPath: root)) ?? [] { parents.append("\(root)/\(tree)/scratch") }
        return parents.map { $0 + "/" + id }.filter { manager.fileExists(atPath: $0) }
    }
}
