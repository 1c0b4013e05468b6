import Checks
import Foundation
import Glibc

/// `workbook status --json`: one attendee's progress as the room's board reads it.
/// Made from the recorded progress (Progress.swift) and the chapter catalog, so a
/// chapter added to the catalog shows here with no edit of this file.
public struct StatusReport: Codable, Sendable, Equatable {
    /// Bumped when a field changes meaning; the board reads what it knows.
    public var schema = 1
    public var user: String
    public var host: String
    /// When this report was made (ISO 8601, UTC): the board shows its age.
    public var time: String
    /// The chapter the attendee is on: the first ready one not passed or skipped.
    public var chapter: Int
    /// The stage the last `workbook check` ran up to, if one ran.
    public var stage: Int?
    /// When the attendee's own code was last checked.
    public var lastCheck: String?
    public var chapters: [ChapterStatus]
    /// The current chapter's first failing (or skipped) check, from its last run.
    public var firstFailingCheck: String?

    public struct ChapterStatus: Codable, Sendable, Equatable {
        public var number: Int
        public var title: String
        /// "passed", "skipped", "failing", "in progress", "not started" or "coming soon".
        public var verdict: String
        public var firstFailingCheck: String?

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(number, forKey: .number)
            try container.encode(title, forKey: .title)
            try container.encode(verdict, forKey: .verdict)
            try container.encode(firstFailingCheck, forKey: .firstFailingCheck)
        }
    }

    public init(
        user: String, host: String, time: String, chapter: Int, stage: Int?, lastCheck: String?, chapters: [ChapterStatus],
        firstFailingCheck: String?
    ) {
        self.user = user
        self.host = host
        self.time = time
        self.chapter = chapter
        self.stage = stage
        self.lastCheck = lastCheck
        self.chapters = chapters
        self.firstFailingCheck = firstFailingCheck
    }

    /// This machine's report, now.
    public static func current(repository: Repository, now: Date = Date()) -> StatusReport {
        let progress = Progress.load(from: repository)
        var chapters: [ChapterStatus] = []
        var current: Int?
        for chapter in ChapterCatalog.all {
            guard chapter.isAvailable(in: repository) else {
                chapters.append(ChapterStatus(number: chapter.number, title: chapter.title, verdict: "coming soon", firstFailingCheck: nil))
                continue
            }
            let state = progress.state(of: chapter.number)
            let failing = progress.firstFailing[String(chapter.number)]
            let verdict: String
            switch state {
            case .passed: verdict = "passed"
            case .skipped: verdict = "skipped"
            case .inProgress: verdict = progress.attempted.contains(chapter.number) ? "failing" : "in progress"
            case .notStarted: verdict = "not started"
            }
            let shown = verdict == "failing" || verdict == "in progress" ? failing : nil
            chapters.append(ChapterStatus(number: chapter.number, title: chapter.title, verdict: verdict, firstFailingCheck: shown))
            if current == nil && (state == .notStarted || state == .inProgress) { current = chapter.number }
        }
        let chapter = current ?? chapters.last { $0.verdict != "coming soon" }?.number ?? 0
        return StatusReport(
            user: Self.userName(), host: Self.hostName(), time: Self.timestamp(now), chapter: chapter, stage: progress.lastStage,
            lastCheck: progress.lastChecked.map(Self.timestamp), chapters: chapters,
            firstFailingCheck: chapters.first { $0.number == chapter }?.firstFailingCheck)
    }

    // Every field is written, a missing one as null: a script reading the report
    // (jq, the board) finds each key whether or not a check ran yet.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(schema, forKey: .schema)
        try container.encode(user, forKey: .user)
        try container.encode(host, forKey: .host)
        try container.encode(time, forKey: .time)
        try container.encode(chapter, forKey: .chapter)
        try container.encode(stage, forKey: .stage)
        try container.encode(lastCheck, forKey: .lastCheck)
        try container.encode(chapters, forKey: .chapters)
        try container.encode(firstFailingCheck, forKey: .firstFailingCheck)
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The person, not root: under sudo (the workbook needs root) it is SUDO_USER.
    static func userName() -> String {
        if let user = ProcessInfo.processInfo.environment["SUDO_USER"], !user.isEmpty { return user }
        if let entry = getpwuid(getuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid \(getuid())"
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    static func date(_ text: String) -> Date? { ISO8601DateFormatter().date(from: text) }
}
