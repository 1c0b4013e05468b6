import Foundation

/// The learner's progress: one small JSON file in the working tree, ignored by git.
public struct Progress: Codable, Sendable {
    public var passed: Set<Int> = []
    public var skipped: Set<Int> = []
    /// Chapters whose checks ran and failed at least once.
    public var attempted: Set<Int> = []
    /// How many hints of each chapter were shown.
    public var hintsShown: [String: Int] = [:]

    public init() {}

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
        if attempted.contains(chapter) || (hintsShown[String(chapter)] ?? 0) > 0 { return .inProgress }
        return .notStarted
    }

    /// The chapters whose exercises the learner's runtime uses at `stage`: every
    /// chapter up to it that was not skipped.
    public func learnerChapters(through stage: Int) -> Set<Int> {
        Set((0...max(stage, 0)).filter { !skipped.contains($0) })
    }
}
