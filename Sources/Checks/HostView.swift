import Foundation
import Glibc

/// What the host sees of processes, namespaces and mounts, read from /proc.
public enum HostView {
    /// The direct children of `pid` (from /proc/PID/task/*/children).
    public static func children(of pid: pid_t) -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task -> [pid_t] in
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { pid_t(String($0).trimmed) }
        }
    }

    public static func descendants(of pid: pid_t) -> [pid_t] {
        let direct = children(of: pid)
        return direct + direct.flatMap { descendants(of: $0) }
    }

    /// The namespace a process is in, e.g. "uts:[4026531838]"; nil if it is gone.
    public static func namespace(_ kind: String, of pid: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(kind)")
    }

    /// One process as /proc/PID/stat describes it.
    public struct ProcessInfo: Sendable {
        public let pid: pid_t
        public let command: String
        public let state: Character
        public let parent: pid_t
        /// When it started, in clock ticks since boot: with the pid, names one process
        /// even after the pid is reused.
        public let startTime: UInt64
    }

    public static func process(_ pid: String) -> ProcessInfo? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { return nil }
        let command = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let state = fields[0].first, let parent = pid_t(fields[1]), let id = pid_t(pid)
        else { return nil }
        let startTime = fields.count > 19 ? UInt64(fields[19]) ?? 0 : 0
        return ProcessInfo(pid: id, command: command, state: state, parent: parent, startTime: startTime)
    }

    /// Every process whose PID namespace is `namespace`.
    public static func processes(inPIDNamespace namespace: String) -> [ProcessInfo] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
            HostView.namespace("pid", of: pid) == namespace ? process(pid) : nil
        }
    }

    /// The host's mount table, one line per mount: mount point, source, type, options.
    /// Mount ids are left out: they are what changes between two identical tables.
    public static func mountTable() -> [String] {
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 ? fields[4...].joined(separator: " ") : String(line)
        }
    }

    public static func hostname() -> String {
        ((try? String(contentsOfFile: "/proc/sys/kernel/hostname", encoding: .utf8)) ?? "").trimmed
    }
}
