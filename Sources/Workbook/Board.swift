import Foundation
import Glibc

/// `workbook board DIR|FILE|HOST…`: the room on one screen, a row per attendee (who,
/// which chapter, its verdict, the first failing check, how old the report is), so the
/// facilitator sees who is stuck. Reports come from `workbook status --json` files
/// collected in a directory, or from each host over ssh, all hosts at once with one
/// timeout: a laptop that sleeps costs the board a row saying so, not a hang.
public struct Board {
    public struct Row: Sendable, Equatable {
        /// Where the report came from: a file's name or a host.
        public let source: String
        public let report: StatusReport?
        /// Why there is no report ("unreachable: …", "unreadable: …").
        public let problem: String?
    }

    /// The command run on each host; the attendee image puts `workbook` on PATH.
    public var remoteCommand = "workbook status --json"
    public var timeout: TimeInterval = 20
    /// The environment ssh runs in (its PATH finds it; the tests put a fake one first).
    public var environment = ProcessInfo.processInfo.environment

    public init() {}

    /// Rows for every source: a directory's *.json files, a .json file, else a host.
    public func rows(for sources: [String]) -> [Row] {
        var rows: [Row] = []
        var hosts: [String] = []
        for source in sources {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) {
                if isDirectory.boolValue {
                    let names = ((try? FileManager.default.contentsOfDirectory(atPath: source)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
                    rows += names.map { Self.row(file: source + "/" + $0, name: $0) }
                } else {
                    rows.append(Self.row(file: source, name: (source as NSString).lastPathComponent))
                }
            } else {
                hosts.append(source)
            }
        }
        return rows + fetch(hosts)
    }

    static func row(file: String, name: String) -> Row {
        guard let data = FileManager.default.contents(atPath: file) else {
            return Row(source: name, report: nil, problem: "unreadable: cannot read \(file)")
        }
        return row(data: data, source: name)
    }

    static func row(data: Data, source: String) -> Row {
        do {
            return Row(source: source, report: try JSONDecoder().decode(StatusReport.self, from: data), problem: nil)
        } catch {
            let text = String(decoding: data.prefix(60), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
            return Row(source: source, report: nil, problem: "unreadable: not a status report (\(text.isEmpty ? "empty" : text))")
        }
    }

    /// `ssh HOST workbook status --json` for every host at once. BatchMode: a host that
    /// asks for a password is unreachable, not a prompt in the middle of the board.
    func fetch(_ hosts: [String]) -> [Row] {
        guard !hosts.isEmpty else { return [] }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("workbook-board-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let seconds = max(1, Int(timeout.rounded(.up)))
        var running: [(host: String, process: Process?, output: String, error: String)] = []
        for (index, host) in hosts.enumerated() {
            let outputFile = "\(directory)/\(index).out"
            let errorFile = "\(directory)/\(index).err"
            _ = FileManager.default.createFile(atPath: outputFile, contents: nil)
            _ = FileManager.default.createFile(atPath: errorFile, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=\(seconds)", host, remoteCommand]
            process.environment = environment
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle(forWritingAtPath: outputFile)
            process.standardError = FileHandle(forWritingAtPath: errorFile)
            do {
                try process.run()
                running.append((host, process, outputFile, errorFile))
            } catch {
                running.append((host, nil, outputFile, "cannot start ssh: \(error.localizedDescription)"))
            }
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && running.contains(where: { $0.process?.isRunning == true }) { usleep(50_000) }
        var rows: [Row] = []
        for entry in running {
            guard let process = entry.process else {
                rows.append(Row(source: entry.host, report: nil, problem: "unreachable: \(entry.error)"))
                continue
            }
            if process.isRunning {
                // Our own child, by its pid: no answer within the timeout.
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                rows.append(Row(source: entry.host, report: nil, problem: "unreachable: no answer in \(seconds) s"))
                continue
            }
            let data = FileManager.default.contents(atPath: entry.output) ?? Data()
            if process.terminationStatus != 0 {
                let said = (try? String(contentsOfFile: entry.error, encoding: .utf8)) ?? ""
                let last = said.split(separator: "\n").last.map(String.init) ?? "ssh exited \(process.terminationStatus)"
                rows.append(Row(source: entry.host, report: nil, problem: "unreachable: \(last)"))
                continue
            }
            rows.append(Self.row(data: data, source: entry.host))
        }
        return rows
    }

    /// The board as text: a summary line, then one row per attendee, those furthest
    /// behind first (they are the ones to visit), the ones with no report last.
    public static func render(_ rows: [Row], now: Date = Date(), width: Int = 100) -> String {
        let reports = rows.filter { $0.report != nil }
        let sorted =
            reports.sorted { a, b in
                guard let left = a.report, let right = b.report else { return false }
                if left.chapter != right.chapter { return left.chapter < right.chapter }
                let leftFailing = left.firstFailingCheck != nil
                let rightFailing = right.firstFailingCheck != nil
                if leftFailing != rightFailing { return leftFailing }
                return name(a) < name(b)
            } + rows.filter { $0.report == nil }.sorted { $0.source < $1.source }
        var chapters: [Int: Int] = [:]
        for row in reports { if let report = row.report { chapters[report.chapter, default: 0] += 1 } }
        var summary = "\(rows.count) attendee\(rows.count == 1 ? "" : "s")"
        let failing = reports.filter { $0.report?.firstFailingCheck != nil }.count
        if failing > 0 { summary += ", \(failing) with a failing check" }
        let missing = rows.count - reports.count
        if missing > 0 { summary += ", \(missing) with no report" }
        let spread =
            "By chapter: " + (chapters.isEmpty ? "none" : chapters.keys.sorted().map { "\($0): \(chapters[$0] ?? 0)" }.joined(separator: " · "))

        let columns = [("ATTENDEE", 24), ("CH", 3), ("VERDICT", 12), ("FIRST FAILING CHECK", 0), ("AGE", 6)]
        let fixed = columns.map(\.1).reduce(0, +) + 2 * (columns.count - 1)
        let checkWidth = max(20, width - fixed)
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, cell) in cells.enumerated() {
                let size = columns[index].1 == 0 ? checkWidth : columns[index].1
                let fitted = cell.count > size ? String(cell.prefix(size - 1)) + "…" : cell
                text += index == cells.count - 1 ? fitted : fitted.padding(toLength: size, withPad: " ", startingAt: 0) + "  "
            }
            return text.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var lines = ["Workshop board, \(StatusReport.timestamp(now)): \(summary).", spread, line(columns.map(\.0))]
        for row in sorted {
            guard let report = row.report else {
                lines.append(line([row.source, "", "—", row.problem ?? "", ""]))
                continue
            }
            let verdict = report.chapters.first { $0.number == report.chapter }?.verdict ?? "?"
            let age = StatusReport.date(report.time).map { Self.age(now.timeIntervalSince($0)) } ?? "?"
            lines.append(line([name(row), String(report.chapter), verdict, report.firstFailingCheck ?? "", age]))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func name(_ row: Row) -> String {
        guard let report = row.report else { return row.source }
        return "\(report.user)@\(report.host)"
    }

    /// 42s, 7m, 3h, 2d: how long ago the report was made (its clock against ours).
    static func age(_ seconds: TimeInterval) -> String {
        let value = max(0, Int(seconds))
        if value < 60 { return "\(value)s" }
        if value < 3600 { return "\(value / 60)m" }
        if value < 86400 { return "\(value / 3600)h" }
        return "\(value / 86400)d"
    }
}
