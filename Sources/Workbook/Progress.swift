import Foundation

/// The learner's progress: one small JSON file in the working tree, ignored by git.
public struct Progress: Codable, Sendable {
    /// Chapters whose checks all ran and passed against the learner's own code.
    public var passed: Set<Int> = []
    /// Chapters the reference stands in for (`workbook skip N`). A skipped chapter is
    /// never shown as passed; its own verdict (`passed`, `attempted`) stays as it was,
    /// and shows again after `workbook skip N --undo`.
    public var skipped: Set<Int> = []
    /// Chapters whose checks ran and did not all pass at least once.
    public var attempted: Set<Int> = []
    /// How many hints of each chapter's lesson were shown, by chapter number.
    public var hintsShown: [String: Int] = [:]
    /// How many hints of each check were shown, by "chapter/check-id".
    public var checkHintsShown: [String: Int] = [:]
    /// The first check that failed or could not run in each chapter's last run, by
    /// chapter number: `workbook status --json` and the room's board show it.
    public var firstFailing: [String: String] = [:]
    /// When the learner's own code was last checked, and up to which chapter's stage.
    public var lastChecked: Date?
    public var lastStage: Int?

    public init() {}

    // Every field may be missing: a progress file written by an older workbook
    // must still load, or the learner would lose their progress.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        passed = try container.decodeIfPresent(Set<Int>.self, forKey: .passed) ?? []
        skipped = try container.decodeIfPresent(Set<Int>.self, forKey: .skipped) ?? []
        attempted = try container.decodeIfPresent(Set<Int>.self, forKey: .attempted) ?? []
        hintsShown = try container.decodeIfPresent([String: Int].self, forKey: .hintsShown) ?? [:]
        checkHintsShown = try container.decodeIfPresent([String: Int].self, forKey: .checkHintsShown) ?? [:]
        firstFailing = try container.decodeIfPresent([String: String].self, forKey: .firstFailing) ?? [:]
        lastChecked = try container.decodeIfPresent(Date.self, forKey: .lastChecked)
        lastStage = try container.decodeIfPresent(Int.self, forKey: .lastStage)
    }

    public static func load(from repository: Repository) -> Progress {
        guard let data = FileManager.default.contents(atPath: repository.progressFile),
            let progress = try? JSONDecoder().decode(Progress.self, from: data)
        else { return Progress() }
        return progress
    }

    public func save(to repository: Repository) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: repository.progressFile))
    }

    public enum State: String, Sendable {
        case notStarted = "not started"
        case inProgress = "in progress"
        case passed, skipped
    }

    public func state(of chapter: Int) -> State {
        if skipped.contains(chapter) { return .skipped }
        if passed.contains(chapter) { return .passed }
        let hints = (hintsShown[String(chapter)] ?? 0) + checkHintsShown.filter { $0.key.hasPrefix("\(chapter)/") }.values.reduce(0, +)
        if attempted.contains(chapter) || hints > 0 { return .inProgress }
        return .notStarted
    }

    /// Records one chapter's verdict on the learner's own code. Only `allRanAndPassed`
    /// makes it passed: a failed or a skipped check leaves it not passed.
    public mutating func record(chapter: Int, allRanAndPassed: Bool) {
        if allRanAndPassed {
            passed.insert(chapter)
        } else {
            passed.remove(chapter)
            attempted.insert(chapter)
        }
    }

    /// The chapters whose exercises the learner's runtime uses at `stage`: every
    /// chapter up to it that was not skipped.
    public func learnerChapters(through stage: Int) -> Set<Int> {
        Set((0...max(stage, 0)).filter { !skipped.contains($0) })
    }
}
