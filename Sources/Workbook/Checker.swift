import Checks
import Foundation

/// Runs chapters' checks against a runtime and prints a line per check.
public struct Checker {
    public struct Result: Sendable {
        public let check: Check
        public let outcome: Outcome
    }

    public let repository: Repository
    public let colors: Bool

    public init(repository: Repository, colors: Bool) {
        self.repository = repository
        self.colors = colors
    }

    /// The learner's runtime at `stage` is this very program: `workbook run N`.
    public static func workbookRuntime(stage: Int, extraOptions: [String] = []) -> [String] {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return [executable, "run", String(stage)] + extraOptions
    }

    /// Runs `checks` against `runtime` (a command-line prefix), printing as it goes.
    public func run(_ checks: [Check], runtime: [String], stage: Int, print shouldPrint: Bool = true) throws -> [Result] {
        let context = try CheckContext(runtime: runtime, stage: stage, probeSource: repository.probeSource)
        defer { context.tearDown() }
        var results: [Result] = []
        var chapterShown: Int?
        for check in checks {
            if shouldPrint && chapterShown != check.chapter {
                chapterShown = check.chapter
                let title = ChapterCatalog.chapter(check.chapter)?.title ?? ""
                print(style("Chapter \(check.chapter) — \(title)", "1"))
            }
            let outcome = check.run(in: context)
            results.append(Result(check: check, outcome: outcome))
            if shouldPrint { report(check, outcome) }
        }
        return results
    }

    func report(_ check: Check, _ outcome: Outcome) {
        switch outcome {
        case .passed:
            print("  " + style("✓", "32") + " " + check.title)
        case .skipped(let reason):
            print("  " + style("- SKIPPED", "33") + " " + check.title + " — " + reason)
        case .failed(let expected, let saw):
            print("  " + style("✗", "31") + " " + check.title)
            print("      expected: \(expected)")
            print("      saw:      \(saw)")
            if let hint = check.hints.first {
                print("      hint:     \(hint)  (more: workbook hint \(check.chapter))")
            }
        }
        fflush(nil)
    }

    func style(_ text: String, _ code: String) -> String {
        colors ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    /// "12 passed, 3 failed, 1 skipped"
    public static func summary(_ results: [Result]) -> String {
        let passed = results.filter { $0.outcome.isPassed }.count
        let failed = results.filter { $0.outcome.isFailed }.count
        let skipped = results.count - passed - failed
        return "\(passed) passed, \(failed) failed" + (skipped > 0 ? ", \(skipped) skipped" : "")
    }
}
