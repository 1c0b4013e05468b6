import Checks

/// One chapter's verdict, from its checks' results. A chapter passes only when every
/// one of its checks ran and passed: a check that could not run (SKIPPED) proves
/// nothing, so the chapter is then "not passed", never "passed".
public struct ChapterVerdict: Sendable {
    public let chapter: Int
    public let passed: Int
    public let failed: [Check]
    /// The checks that could not run, each with its reason.
    public let skipped: [(check: Check, reason: String)]
    /// True when the reference ran in place of the learner's code (`workbook skip N`).
    public let referenceStoodIn: Bool

    public init(chapter: Int, results: [Checker.Result], referenceStoodIn: Bool) {
        self.chapter = chapter
        self.referenceStoodIn = referenceStoodIn
        let mine = results.filter { $0.check.chapter == chapter }
        passed = mine.filter { $0.outcome.isPassed }.count
        failed = mine.filter { $0.outcome.isFailed }.map(\.check)
        skipped = mine.compactMap { result in
            if case .skipped(let reason) = result.outcome { return (result.check, reason) }
            return nil
        }
    }

    /// Every check ran and passed.
    public var allRanAndPassed: Bool { failed.isEmpty && skipped.isEmpty && passed > 0 }

    public var total: Int { passed + failed.count + skipped.count }

    /// The lines printed under the chapter's checks.
    public var lines: [String] {
        let counts = "\(passed) of \(total) checks passed"
        if referenceStoodIn {
            var line = "→ Chapter \(chapter) skipped: the reference ran in place of your code (\(counts))."
            line += " `workbook skip \(chapter) --undo` checks yours again."
            return [line]
        }
        if !failed.isEmpty {
            var line = "→ Chapter \(chapter) not passed: \(failed.count) failed"
            if !skipped.isEmpty { line += ", \(skipped.count) skipped" }
            return [line + " (\(counts))."]
        }
        if !skipped.isEmpty {
            var lines = [
                "→ Chapter \(chapter) not passed: \(skipped.count) skipped (\(counts)). A chapter passes only when every check ran here:"
            ]
            for (check, reason) in skipped { lines.append("    - \(check.title): \(reason)") }
            lines.append(
                "  Fix what each reason names on this machine (a missing package, a controller), then run `workbook check \(chapter)` again."
            )
            return lines
        }
        return ["→ Chapter \(chapter) passed (\(counts))."]
    }

    /// "12 passed, 3 failed, 1 skipped" over all of `results`.
    public static func summary(_ results: [Checker.Result]) -> String {
        let passed = results.filter { $0.outcome.isPassed }.count
        let failed = results.filter { $0.outcome.isFailed }.count
        let skipped = results.count - passed - failed
        return "\(passed) passed, \(failed) failed" + (skipped > 0 ? ", \(skipped) skipped" : "")
    }
}
