import Foundation
import Glibc
import Runtime
import Syscalls

// `workbook xray [ID]`: a running container as the kernel sees it, on one screen.
//
// Everything here is read from /proc and /sys, the way `ps`, `lsns` and `findmnt` read
// it: a container is nothing but a process with its own namespaces, a cgroup and a
// mount table, and the x-ray shows exactly those, next to the host's.
//
// - the processes: every process in the container's PID namespace. The last field of
//   `NSpid:` in /proc/PID/status is the pid the process has in its innermost PID
//   namespace, the first the host's: one process, two numbers.
// - the namespaces: /proc/PID/ns/KIND is a magic link whose target names the
//   namespace's inode (`uts:[4026532182]`). Two processes share a namespace exactly
//   when those inodes match.
// - the limits: the control files of the cgroups the state record names.
// - the mounts: /proc/PID/mountinfo, the mount table as the container sees it.

/// What the x-ray saw of one container at one moment.
public struct XraySnapshot: Sendable {
    public struct Process: Sendable {
        public let hostPID: pid_t
        /// The pid the container sees (NSpid's last field); the host's when it shares
        /// the host's PID namespace.
        public let innerPID: pid_t
        public let parentHostPID: pid_t
        public let command: String
    }

    public struct Namespace: Sendable {
        public let kind: String
        public let inside: UInt?
        public let host: UInt?
        /// The runtime's: `workbook run` runs in a stand-in host, whose UTS and mount
        /// namespaces a container before chapters 1 and 3 shares.
        public let runtime: UInt?
        public var own: Bool { inside != nil && inside != host && inside != runtime }
        public var standIn: Bool { inside != nil && inside != host && inside == runtime }
    }

    public struct Mount: Sendable {
        public let point: String
        public let type: String
        public let source: String
        /// The directory of its filesystem that is mounted: not `/` for a bind mount.
        public let root: String
        public let readOnly: Bool
        public let superOptions: [String: String]
    }

    public let state: ContainerState
    public let processes: [Process]
    public let namespaces: [Namespace]
    /// "v1" or "v2"; nil when the container has no cgroup of its own.
    public let cgroupVersion: String?
    public let memory: (current: Double, limit: Double?)?
    public let pids: (current: Double, limit: Double?)?
    /// CPUs' worth of time per period (0.5 = half a CPU); nil without a quota.
    public let cpuQuota: Double?
    /// CPU time used since the group was made, in seconds.
    public let cpuSeconds: Double?
    public let mounts: [Mount]
    public let taken: Double

    /// Reads the container now; nil when its first process is gone.
    public static func take(_ state: ContainerState) -> XraySnapshot? {
        guard let pid = state.pid, kill(pid, 0) == 0 || errno == EPERM else { return nil }
        let processes = members(of: pid)
        guard !processes.isEmpty else { return nil }
        // The host is PID 1's namespaces (this program may itself be in a stand-in
        // host); where PID 1's are hidden from us, our own.
        let kinds = ["pid", "mnt", "uts", "ipc", "net", "cgroup", "user", "time"]
        let namespaces = kinds.map { kind in
            Namespace(
                kind: kind, inside: namespaceInode("/proc/\(pid)/ns/\(kind)"),
                host: namespaceInode("/proc/1/ns/\(kind)") ?? namespaceInode("/proc/self/ns/\(kind)"),
                runtime: namespaceInode("/proc/\(state.runtimePID)/ns/\(kind)"))
        }
        let limits = readLimits(state.cgroups)
        return XraySnapshot(
            state: state, processes: processes, namespaces: namespaces, cgroupVersion: limits.version, memory: limits.memory,
            pids: limits.pids, cpuQuota: limits.cpuQuota, cpuSeconds: limits.cpuSeconds, mounts: mountTable(of: pid),
            taken: monotonicSeconds())
    }

    struct Limits {
        var version: String?
        var memory: (current: Double, limit: Double?)?
        var pids: (current: Double, limit: Double?)?
        var cpuQuota: Double?
        var cpuSeconds: Double?
    }

    /// The limits and usage in a container's group directories, v1 or v2.
    static func readLimits(_ groups: [String]) -> Limits {
        func number(_ names: [String]) -> Double? {
            for name in names {
                for group in groups {
                    guard let text = readControlFile(group + "/" + name) else { continue }
                    return Double(text.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
            return nil
        }
        func text(_ name: String) -> String? {
            for group in groups { if let text = readControlFile(group + "/" + name) { return text } }
            return nil
        }
        var limits = Limits()
        if !groups.isEmpty {
            // v2 has one directory with every controller's files and cgroup.controllers;
            // v1 has a directory per hierarchy, each with its own controller's files.
            let unified = groups.contains { fileKind($0 + "/cgroup.controllers") != nil }
            limits.version = unified ? "v2" : "v1"
            // A limit of "max" (v2) or a page-rounded 2^63 (v1) means none.
            func limit(_ value: Double?) -> Double? { value.flatMap { $0 >= 1e18 ? nil : $0 } }
            if unified {
                if let current = number(["memory.current"]) { limits.memory = (current, limit(number(["memory.max"]))) }
                if let fields = text("cpu.max")?.split(separator: " "), fields.count == 2, let q = Double(fields[0]),
                    let period = Double(fields[1].trimmingCharacters(in: .whitespacesAndNewlines)), period > 0
                {
                    limits.cpuQuota = q / period
                }
                if let line = text("cpu.stat")?.split(separator: "\n").first(where: { $0.hasPrefix("usage_usec ") }),
                    let micro = Double(line.dropFirst("usage_usec ".count))
                {
                    limits.cpuSeconds = micro / 1e6
                }
            } else {
                if let current = number(["memory.usage_in_bytes"]) { limits.memory = (current, limit(number(["memory.limit_in_bytes"]))) }
                if let q = number(["cpu.cfs_quota_us"]), q > 0, let period = number(["cpu.cfs_period_us"]), period > 0 {
                    limits.cpuQuota = q / period
                }
                limits.cpuSeconds = number(["cpuacct.usage"]).map { $0 / 1e9 }
            }
            if let current = number(["pids.current"]) { limits.pids = (current, limit(number(["pids.max"]))) }
        }
        return limits
    }

    /// The container's processes: those in its PID namespace when it has one of its
    /// own (`scratch exec`'s too, whose parent is outside), else the first process and
    /// its descendants.
    static func members(of pid: pid_t) -> [Process] {
        let all = ((try? listDirectory("/proc")) ?? []).compactMap { pid_t($0) }
        let namespace = namespaceInode("/proc/\(pid)/ns/pid")
        let own = namespace != nil && namespace != namespaceInode("/proc/self/ns/pid")
        var found: [Process] = []
        if own {
            for candidate in all where namespaceInode("/proc/\(candidate)/ns/pid") == namespace {
                if let process = readProcess(candidate) { found.append(process) }
            }
        } else {
            let processes = all.compactMap(readProcess)
            var inside: Set<pid_t> = [pid]
            var grew = true
            while grew {
                grew = false
                for process in processes where !inside.contains(process.hostPID) && inside.contains(process.parentHostPID) {
                    inside.insert(process.hostPID)
                    grew = true
                }
            }
            found = processes.filter { inside.contains($0.hostPID) }
        }
        return found.sorted { $0.innerPID < $1.innerPID }
    }

    static func readProcess(_ pid: pid_t) -> Process? {
        guard let status = readControlFile("/proc/\(pid)/status") else { return nil }
        var parent: pid_t = 0
        var inner = pid
        var name = "?"
        for line in status.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard let key = fields.first else { continue }
            switch key {
            case "Name:": name = fields.dropFirst().joined(separator: " ")
            case "PPid:": parent = fields.count > 1 ? pid_t(fields[1]) ?? 0 : 0
            // One pid per nested PID namespace, the host's first.
            case "NSpid:": inner = fields.last.flatMap { pid_t($0) } ?? pid
            default: break
            }
        }
        let arguments = ((try? readFile("/proc/\(pid)/cmdline")) ?? []).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        let command = arguments.isEmpty ? "[\(name)]" : arguments.joined(separator: " ")
        return Process(hostPID: pid, innerPID: inner, parentHostPID: parent, command: command)
    }

    /// 4026532182 for a link to `uts:[4026532182]`.
    static func namespaceInode(_ path: String) -> UInt? {
        guard let target = try? symlinkTarget(path), let open = target.firstIndex(of: "[") else { return nil }
        return UInt(target[target.index(after: open)...].dropLast())
    }

    /// /proc/PID/mountinfo: `ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS...] - TYPE SOURCE SUPER`.
    static func mountTable(of pid: pid_t) -> [Mount] {
        guard let text = readControlFile("/proc/\(pid)/mountinfo") else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ").map(String.init)
            guard let dash = fields.firstIndex(of: "-"), dash >= 6, fields.count >= dash + 3 else { return nil }
            var options: [String: String] = [:]
            for option in fields[dash + 3].split(separator: ",") {
                let parts = option.split(separator: "=", maxSplits: 1)
                options[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            return Mount(
                point: unescapedMountPath(fields[4]), type: fields[dash + 1], source: unescapedMountPath(fields[dash + 2]),
                root: unescapedMountPath(fields[3]), readOnly: fields[5].split(separator: ",").contains("ro"),
                superOptions: options)
        }
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

/// The x-ray as a picture: a box of 80 columns with four parts — processes,
/// namespaces, limits, mounts. With `colors` false it holds no escape code.
public struct XrayPicture {
    public static let width = 80
    let colors: Bool

    public init(colors: Bool) { self.colors = colors }

    /// One frame. `previous` (a snapshot a moment before) turns CPU time into a rate.
    public func lines(_ snapshot: XraySnapshot, previous: XraySnapshot? = nil, footer: String? = nil) -> [String] {
        let state = snapshot.state
        var out: [String] = []
        let age = max(0, secondsSinceEpoch() - state.created)
        let title = "x-ray: \(state.id) · up \(duration(age)) · \(state.command.joined(separator: " "))"
        out.append(top(title))

        // Processes.
        let count = snapshot.processes.count
        out.append(section("processes", note: "\(count) · pid inside · pid on the host"))
        // A fork bomb's worth of processes would push the rest off the screen.
        let shown = 12
        var drawn = 0
        let members = Set(snapshot.processes.map(\.hostPID))
        let roots = snapshot.processes.filter { !members.contains($0.parentHostPID) }
        func walk(_ process: XraySnapshot.Process, prefix: String, last: Bool, root: Bool) {
            let inside = String(process.innerPID).leftPadded(to: 6)
            let host = String(process.hostPID).leftPadded(to: 10)
            let branch = root ? "" : last ? "└─ " : "├─ "
            drawn += 1
            guard drawn <= shown else { return }
            out.append(row([(inside, "1"), (host, "2"), ("   " + prefix + branch, "2"), (process.command, nil)]))
            let children = snapshot.processes.filter { $0.parentHostPID == process.hostPID }
            for (index, child) in children.enumerated() {
                walk(child, prefix: prefix + (root ? "" : last ? "   " : "│  "), last: index == children.count - 1, root: false)
            }
        }
        out.append(row([("inside", "2"), ("      host", "2"), ("   command", "2")]))
        for root in roots { walk(root, prefix: "", last: true, root: true) }
        if count > shown { out.append(row([("      … and \(count - shown) more", "2")])) }

        // Namespaces.
        out.append(section("namespaces", note: "inode inside · inode on the host"))
        let meaning = [
            "pid": "process ids", "mnt": "mount table", "uts": "hostname", "ipc": "SysV IPC, mqueues",
            "net": "network", "cgroup": "cgroup root", "user": "uids and gids", "time": "clocks",
        ]
        for namespace in snapshot.namespaces {
            guard let inside = namespace.inside else { continue }
            let host = namespace.host.map(String.init) ?? "?"
            let verdict: [(String, String?)] =
                namespace.own
                ? [("● different: its own", "32")]
                : namespace.standIn ? [("◐ the stand-in host's", "36")] : [("○ same: the host's", "33")]
            let kind = namespace.kind.padding(toLength: 7, withPad: " ", startingAt: 0)
            let what = (meaning[namespace.kind] ?? "").padding(toLength: 18, withPad: " ", startingAt: 0)
            out.append(
                row([(kind, "1"), (what, "2"), (String(inside), namespace.own ? "32" : nil), ("  ", nil), (host, "2"), ("  ", nil)] + verdict)
            )
        }

        // Limits.
        if let version = snapshot.cgroupVersion {
            out.append(section("limits", note: "cgroup \(version): \(state.cgroups.first.map(groupName) ?? "")"))
            if let memory = snapshot.memory {
                out.append(usage("memory", current: memory.current, limit: memory.limit, format: bytes))
            }
            if let pids = snapshot.pids {
                out.append(usage("pids", current: pids.current, limit: pids.limit, format: { String(Int($0)) }))
            }
            out.append(cpu(snapshot, previous: previous))
        } else {
            out.append(section("limits", note: nil))
            out.append(row([("no cgroup of its own: no limits (chapter 4 adds them)", "2")]))
        }

        // Mounts.
        out.append(section("mounts", note: "as the container sees them"))
        if snapshot.namespaces.first(where: { $0.kind == "mnt" })?.own == false {
            // No mount namespace of its own (before chapter 3): the table is the host's,
            // or the stand-in host's, dozens of lines that say nothing of the container.
            let root = snapshot.mounts.first { $0.point == "/" }
            out.append(row([("/".padding(toLength: 10, withPad: " ", startingAt: 0), "1"), ("  \(root?.type ?? "?"): the host's root", "33")]))
            out.append(row([("… and \(max(0, snapshot.mounts.count - 1)) more of the host's mounts: no root of its own (chapter 3)", "2")]))
        } else {
            for mount in snapshot.mounts { out += self.mount(mount, state: state) }
        }
        out.append(bottom(footer))
        return out
    }

    // MARK: - Parts

    func usage(_ name: String, current: Double, limit: Double?, format: (Double) -> String) -> String {
        let label = (name.padding(toLength: 8, withPad: " ", startingAt: 0), "1") as (String, String?)
        guard let limit, limit > 0 else {
            return row([label, (bar(nil), "2"), ("  \(format(current)), no limit", nil)])
        }
        let fraction = current / limit
        let percent = Int((fraction * 100).rounded())
        return row([label, (bar(fraction), barColor(fraction)), ("  \(format(current)) of \(format(limit)) · \(percent)%", nil)])
    }

    func cpu(_ snapshot: XraySnapshot, previous: XraySnapshot?) -> String {
        let label = ("cpu".padding(toLength: 8, withPad: " ", startingAt: 0), "1") as (String, String?)
        var rate: Double?
        if let previous, let now = snapshot.cpuSeconds, let before = previous.cpuSeconds, snapshot.taken > previous.taken {
            rate = max(0, (now - before) / (snapshot.taken - previous.taken))
        }
        let total = snapshot.cpuSeconds.map { String(format: "%.2f s used", $0) } ?? "usage unknown"
        guard let quota = snapshot.cpuQuota else {
            let now = rate.map { String(format: "%.0f%% of a CPU now · ", $0 * 100) } ?? ""
            return row([label, (bar(nil), "2"), ("  no quota · \(now)\(total)", nil)])
        }
        let quotaText = String(format: "quota %.2f CPU", quota)
        guard let rate else { return row([label, (bar(nil), "2"), ("  \(quotaText) · \(total)", nil)]) }
        let fraction = rate / quota
        return row([label, (bar(fraction), barColor(fraction)), (String(format: "  %.2f of %.2f CPU · %@", rate, quota, total), nil)])
    }

    func mount(_ mount: XraySnapshot.Mount, state: ContainerState) -> [String] {
        let point = mount.point.padding(toLength: max(10, min(mount.point.count, 24)), withPad: " ", startingAt: 0)
        let mode = mount.readOnly ? " (read-only)" : ""
        if mount.point == "/" && mount.type == "overlay" {
            var lines = [row([(point, "1"), ("  overlay: the rootfs\(mode)", "36")])]
            let layers = (mount.superOptions["lowerdir"] ?? "").split(separator: ":").map(String.init)
            for (index, layer) in layers.enumerated() {
                let name = layer.split(separator: "/").last.map(String.init) ?? layer
                let short = name.count == 64 ? String(name.prefix(12)) + "…" : layer
                let image = index == layers.count - 1 ? state.image.map { "  (\($0))" } ?? "" : ""
                lines.append(row([("            lower  ", "2"), ("layer \(short)\(image)", nil)]))
            }
            // Long paths lose their middle, not their end: the end says whose layer it is.
            if let upper = mount.superOptions["upperdir"] {
                lines.append(row([("            upper  ", "2"), (elided(upper, to: inner - 19), nil)]))
            }
            if let work = mount.superOptions["workdir"] {
                lines.append(row([("            work   ", "2"), (elided(work, to: inner - 19), nil)]))
            }
            return lines
        }
        if mount.point == "/" {
            return [row([(point, "1"), ("  \(mount.type): the rootfs \(state.rootfs)\(mode)", "36")])]
        }
        let kernel = ["proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2", "tmpfs", "devtmpfs", "securityfs"]
        if kernel.contains(mount.type) {
            return [row([(point, "1"), ("  \(mount.type)\(mode)", "2")])]
        }
        // A directory of another filesystem mounted here: a volume (chapter 6).
        return [row([(point, "1"), ("  volume: \(mount.root) of \(mount.source) (\(mount.type))\(mode)", "35")])]
    }

    func groupName(_ directory: String) -> String {
        let parts = directory.split(separator: "/")
        return parts.suffix(2).joined(separator: "/")
    }

    // MARK: - Drawing

    typealias Segment = (text: String, style: String?)

    var inner: Int { Self.width - 4 }

    func top(_ title: String) -> String {
        let text = clipped(title, to: inner - 2)
        return paint("┌─ ", "2") + paint(text, "1") + paint(" " + String(repeating: "─", count: inner - text.count - 1) + "┐", "2")
    }

    func section(_ title: String, note: String?) -> String {
        var text = title
        if let note { text += " · " + note }
        text = clipped(text, to: inner - 2)
        let rule = String(repeating: "─", count: inner - text.count - 1)
        return paint("├─ ", "2") + paint(title, "1;36") + paint(String(text.dropFirst(title.count)) + " " + rule + "┤", "2")
    }

    func bottom(_ footer: String?) -> String {
        guard let footer else { return paint("└" + String(repeating: "─", count: Self.width - 2) + "┘", "2") }
        let text = clipped(footer, to: inner - 2)
        return paint("└" + String(repeating: "─", count: inner - text.count - 1) + " ", "2") + text + paint(" ─┘", "2")
    }

    /// `│ content │`, clipped or padded to the box.
    func row(_ segments: [Segment]) -> String {
        var used = 0
        var body = ""
        for segment in segments {
            guard used < inner else { break }
            let text = clipped(segment.text, to: inner - used)
            used += text.count
            body += segment.style.map { paint(text, $0) } ?? text
        }
        return paint("│ ", "2") + body + String(repeating: " ", count: inner - used) + paint(" │", "2")
    }

    func bar(_ fraction: Double?) -> String {
        let cells = 24
        guard let fraction else { return String(repeating: "·", count: cells) }
        let filled = min(cells, Int((fraction * Double(cells)).rounded(.up)))
        return String(repeating: "█", count: filled) + String(repeating: "░", count: cells - filled)
    }

    func barColor(_ fraction: Double) -> String { fraction >= 0.9 ? "31" : fraction >= 0.7 ? "33" : "32" }

    func clipped(_ text: String, to width: Int) -> String {
        text.count <= width ? text : String(text.prefix(max(0, width - 1))) + "…"
    }

    func elided(_ text: String, to width: Int) -> String {
        guard text.count > width, width > 10 else { return text }
        let tail = width * 2 / 3
        return String(text.prefix(width - tail - 1)) + "…" + String(text.suffix(tail))
    }

    func paint(_ text: String, _ style: String) -> String {
        colors ? "\u{1B}[\(style)m\(text)\u{1B}[0m" : text
    }

    func bytes(_ value: Double) -> String {
        if value >= 1_073_741_824 { return String(format: "%.1f GiB", value / 1_073_741_824) }
        if value >= 1_048_576 { return String(format: "%.1f MiB", value / 1_048_576) }
        return String(format: "%.0f KiB", value / 1024)
    }

    func duration(_ seconds: Int) -> String {
        seconds < 60 ? "\(seconds) s" : seconds < 3600 ? "\(seconds / 60) min \(seconds % 60) s" : "\(seconds / 3600) h \(seconds / 60 % 60) min"
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

/// Finding the container and showing it, once or live.
public enum Xray {
    /// The running container `id` names (a prefix will do), or with none the newest.
    public static func pick(_ id: String?) throws -> ContainerState {
        if let id {
            let state = try runningContainer(id)
            guard state.pid != nil else {
                throw WorkbookError("\(state.id) is still being set up (no process yet): try again in a moment")
            }
            return state
        }
        let running = recordedContainers().filter { $0.alive }.compactMap(\.state).filter { state in
            // Alive now, not only recorded: a container ending as we look is passed over.
            state.pid.map { kill($0, 0) == 0 } ?? false
        }
        guard let newest = running.max(by: { $0.created < $1.created }) else {
            throw WorkbookError(
                "no container is running, so there is nothing to x-ray. Start one in another terminal, e.g. `scratch run --memory 64m --pids-limit 32 -- sh` or `workbook run 4 -- sh`, then run `workbook xray` again"
            )
        }
        return newest
    }

    /// One frame on stdout. CPU time is sampled twice, a quarter second apart, so the
    /// frame can show a rate.
    public static func once(_ state: ContainerState, colors: Bool) throws {
        guard let first = XraySnapshot.take(state) else { throw ended(state) }
        usleep(250_000)
        let second = XraySnapshot.take(state) ?? first
        print(XrayPicture(colors: colors).lines(second, previous: first).joined(separator: "\n"))
    }

    /// Redrawn every second until q, Ctrl-C or the container's end.
    public static func live(_ state: ContainerState, colors: Bool) throws {
        guard isatty(1) == 1 else { return try once(state, colors: false) }
        guard var previous = XraySnapshot.take(state) else { throw ended(state) }
        // Ctrl-C, a hang-up and SIGTERM arrive on a signalfd, so the loop can put the
        // terminal back before it goes, whichever way it is stopped.
        let signals = SignalSet([SIGINT, SIGTERM, SIGHUP])
        try blockSignals(signals)
        let signalDescriptor = try SignalDescriptor(signals)
        let keyboard = isatty(0) == 1
        var saved = termios()
        if keyboard {
            tcgetattr(0, &saved)
            var raw = saved
            // Keys one at a time, not echoed; ISIG stays, so Ctrl-C is still a signal.
            raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
            tcsetattr(0, TCSANOW, &raw)
        }
        let picture = XrayPicture(colors: colors)
        var frame = previous
        var endedByItself = false
        do {
            // The alternate screen, as less and top use: the shell's screen comes back after.
            print("\u{1B}[?1049h\u{1B}[?25l", terminator: "")
            defer {
                print("\u{1B}[?25h\u{1B}[?1049l", terminator: "")
                fflush(nil)
                if keyboard { tcsetattr(0, TCSANOW, &saved) }
            }
            while true {
                let lines = picture.lines(frame, previous: previous, footer: "q quits · every second")
                print("\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\n") + "\u{1B}[J", terminator: "")
                fflush(nil)
                let watched = keyboard ? [signalDescriptor.descriptor.raw, 0] : [signalDescriptor.descriptor.raw]
                let ready = try waitForInput(watched, timeout: 1000)
                if ready[0] {
                    // Taken, so that unblocking below does not deliver it again.
                    _ = try? signalDescriptor.next()
                    break
                }
                if keyboard && ready[1] {
                    var byte: UInt8 = 0
                    if read(0, &byte, 1) != 1 || byte == UInt8(ascii: "q") || byte == UInt8(ascii: "Q") || byte == 0x1B { break }
                }
                guard let next = XraySnapshot.take(state) else {
                    endedByItself = true
                    break
                }
                previous = frame
                frame = next
            }
        }
        try? unblockAllSignals()
        if endedByItself { print("workbook xray: \(state.id) ended.") }
    }

    static func ended(_ state: ContainerState) -> WorkbookError {
        WorkbookError("\(state.id) ended before the x-ray could read it")
    }
}
