import Foundation
import Testing

@testable import Workbook

/// `workbook status --json` and `workbook board`: a room of 25 from files this test
/// writes, and hosts reached through a fake ssh first on PATH (one answers, one is
/// down, one hangs past the timeout).
@Suite struct WorkbookBoardTests {
    /// A report as an attendee's machine would print it, `minutes` old.
    static func report(user: String, chapter: Int, failing: String?, minutes: Double, now: Date) -> StatusReport {
        let chapters = ChapterCatalog.all.map { listed in
            StatusReport.ChapterStatus(
                number: listed.number, title: listed.title,
                verdict: listed.number < chapter ? "passed" : listed.number == chapter ? (failing == nil ? "not started" : "failing") : "not started",
                firstFailingCheck: listed.number == chapter ? failing : nil)
        }
        return StatusReport(
            user: user, host: "pc\(user.suffix(2))", time: StatusReport.timestamp(now.addingTimeInterval(-minutes * 60)), chapter: chapter,
            stage: chapter, lastCheck: nil, chapters: chapters, firstFailingCheck: failing)
    }

    @Test func statusJsonSaysChapterVerdictAndFirstFailingCheck() throws {
        let directory = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let progress = directory + "/progress.json"
        try Data(#"{"passed":[0],"attempted":[1],"firstFailing":{"1":"hostname"},"lastStage":1}"#.utf8).write(
            to: URL(fileURLWithPath: progress))
        let status = Support.run(
            [Support.workbook, "status", "--json"], environment: ["WORKBOOK_PROGRESS": progress, "SUDO_USER": "ada"],
            directory: Support.repository.root)
        #expect(status.status == 0, "\(status.stderr)")
        let report = try JSONDecoder().decode(StatusReport.self, from: Data(status.stdout.utf8))
        #expect(report.user == "ada")
        #expect(report.chapter == 1 && report.stage == 1)
        #expect(report.firstFailingCheck == "hostname")
        // Every chapter of the catalog, one verdict each: a chapter added later shows with no edit.
        #expect(report.chapters.map(\.number) == ChapterCatalog.all.map(\.number))
        #expect(report.chapters[0].verdict == "passed" && report.chapters[1].verdict == "failing")
        #expect(StatusReport.date(report.time) != nil, "\(report.time)")
        // Missing values are written as null, so every key is there for a script.
        #expect(status.stdout.contains("\"lastCheck\" : null"), "\(status.stdout)")
    }

    @Test func aRoomOf25FitsOneScreen() throws {
        let directory = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let now = Date()
        let checks = ["exit-status", "hostname", "pid-one", "pivot-root", nil]
        for index in 1...25 {
            let user = String(format: "attendee%02d", index)
            let report = Self.report(user: user, chapter: index % 6, failing: checks[index % 5], minutes: Double(index), now: now)
            try Data(report.json().utf8).write(to: URL(fileURLWithPath: "\(directory)/\(user).json"))
        }
        let board = Support.run([Support.workbook, "board", directory], directory: Support.repository.root)
        #expect(board.status == 0, "\(board.stderr)")
        let lines = board.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        // A summary, the spread by chapter, the header, 25 rows: one 30-line screen, 100 columns.
        #expect(lines.count == 28, "\(board.stdout)")
        #expect(lines.allSatisfy { $0.count <= 100 }, "\(board.stdout)")
        #expect(lines[0].contains("25 attendees, 20 with a failing check"), "\(lines[0])")
        #expect(lines[1] == "By chapter: 0: 4 · 1: 5 · 2: 4 · 3: 4 · 4: 4 · 5: 4", "\(lines[1])")
        for index in 1...25 { #expect(board.stdout.contains(String(format: "attendee%02d@pc%02d", index, index))) }
        // Furthest behind first: the first row is on chapter 0, the last on chapter 5.
        #expect(lines[3].contains("  0  "), "\(lines[3])")
        #expect(lines[27].contains("  5  "), "\(lines[27])")
        // attendee06: chapter 0, failing "hostname", 6 minutes old.
        let row = try #require(lines.first { $0.hasPrefix("attendee06@pc06") })
        #expect(row.contains("failing") && row.contains("hostname") && row.hasSuffix("6m"), "\(row)")
    }

    @Test func hostsOverSshInParallelWithATimeout() throws {
        let bin = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: bin) }
        let report = Self.report(user: "grace", chapter: 3, failing: "pivot-root", minutes: 0, now: Date())
        try Data(report.json().utf8).write(to: URL(fileURLWithPath: bin + "/grace.json"))
        // The fake ssh: its arguments are -o BatchMode=yes -o ConnectTimeout=N HOST COMMAND.
        let ssh = """
            #!/bin/sh
            [ "$6" = "workbook status --json" ] || { echo "fake ssh: unexpected command: $6" >&2; exit 2; }
            case "$5" in
            up) cat '\(bin)/grace.json' ;;
            down) echo "ssh: connect to host down port 22: No route to host" >&2; exit 255 ;;
            slow) exec sleep 30 ;;
            esac

            """
        try Data(ssh.utf8).write(to: URL(fileURLWithPath: bin + "/ssh"))
        chmod(bin + "/ssh", 0o755)
        let started = Date()
        let board = Support.run(
            [Support.workbook, "board", "--timeout", "2", "up", "down", "slow"],
            environment: ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")])
        let seconds = Date().timeIntervalSince(started)
        #expect(board.status == 0, "\(board.stderr)")
        #expect(board.stdout.contains("3 attendees"), "\(board.stdout)")
        let lines = board.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("grace@pcce") && $0.contains("pivot-root") }, "\(board.stdout)")
        #expect(lines.contains { $0.hasPrefix("down") && $0.contains("unreachable: ssh: connect to host down") }, "\(board.stdout)")
        #expect(lines.contains { $0.hasPrefix("slow") && $0.contains("unreachable: no answer in 2 s") }, "\(board.stdout)")
        // In parallel, bounded: the hanging host costs the timeout once, not 30 s.
        #expect(seconds < 10, "the board took \(seconds) s")
    }

    @Test func ageIsShort() {
        #expect(Board.age(42) == "42s")
        #expect(Board.age(7 * 60 + 5) == "7m")
        #expect(Board.age(3 * 3600) == "3h")
        #expect(Board.age(-5) == "0s")
    }
}
