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
    /// How many checks run at once. Most of a check's time is spent waiting for a
    /// container (a sleep, a signal, a limit to bite), not computing, so more run at
    /// once than there are CPUs. WORKBOOK_CHECK_JOBS sets another number (the emulated
    /// cgroup v2 VM uses 2).
    public var parallelism = ProcessInfo.processInfo.environment["WORKBOOK_CHECK_JOBS"].flatMap(Int.init) ?? 6

    public init(repository: Repository, colors: Bool) {
        self.repository = repository
        self.colors = colors
    }

    /// The learner's runtime at `stage` is this very program: `workbook run N`.
    public static func workbookRuntime(stage: Int, extraOptions: [String] = []) -> [String] {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return [executable, "run", String(stage)] + extraOptions
    }

    /// Runs `checks` against `runtime` (a command-line prefix), printing in catalog
    /// order as results come in. The checks run side by side: each judges only what
    /// its own containers made, so they cannot see one another.
    public func run(_ checks: [Check], runtime: [String], stage: Int, print shouldPrint: Bool = true) throws -> [Result] {
        let context = try CheckContext(runtime: runtime, stage: stage, probeSource: repository.probeSource)
        defer { context.tearDown() }
        // Held open while the checks run: `workbook clean` (Cleaner) leaves alone a work
        // directory that a process holds, even between two containers.
        let hold = open(context.workDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if hold >= 0 { close(hold) } }
        let board = ResultBoard(count: checks.count)
        let slots = DispatchSemaphore(value: max(1, parallelism))
        // WORKBOOK_CHECK_TIMES=1: each check's time on stderr, to keep the budget honest.
        let timings = ProcessInfo.processInfo.environment["WORKBOOK_CHECK_TIMES"] != nil
        for (index, check) in checks.enumerated() {
            let thread = Thread {
                slots.wait()
                let started = Date()
                let outcome = check.run(in: context)
                slots.signal()
                if timings {
                    FileHandle.standardError.write(
                        Data("timing: \(check.id) \(String(format: "%.2f", Date().timeIntervalSince(started))) s\n".utf8))
                }
                board.set(index, outcome)
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        var results: [Result] = []
        var chapterShown: Int?
        for (index, check) in checks.enumerated() {
            if shouldPrint && chapterShown != check.chapter {
                chapterShown = check.chapter
                let title = ChapterCatalog.chapter(check.chapter)?.title ?? ""
                print(style("Chapter \(check.chapter) — \(title)", "1"))
                fflush(nil)
            }
            let outcome = board.wait(for: index)
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
            if let earlier = Self.unfinishedEarlierChapter(in: saw, checking: check.chapter) {
                // The check's own hint would send the learner to this chapter's code,
                // which never ran: the stage stopped at an earlier chapter's stub.
                print(
                    "      hint:     chapter \(check.chapter) runs on your chapters before it, and chapter \(earlier)'s exercise is not done yet: finish it, or `workbook skip \(earlier)` to let the reference stand in for it"
                )
            } else if let hint = check.hints.first {
                let more = check.hints.count > 1 ? "  (more: workbook hint \(check.chapter) --check \(check.id))" : ""
                print("      hint:     \(hint)\(more)")
            }
        }
        fflush(nil)
    }

    /// K when `saw` holds an earlier chapter's "chapter K: not done yet" (NotDoneYet).
    static func unfinishedEarlierChapter(in saw: String, checking chapter: Int) -> Int? {
        var rest = Substring(saw)
        while let found = rest.range(of: ": not done yet") {
            let digits = rest[..<found.lowerBound].reversed().prefix { $0.isNumber }
            if let number = Int(String(digits.reversed())),
                rest[..<found.lowerBound].dropLast(digits.count).hasSuffix("chapter "), number < chapter
            {
                return number
            }
            rest = rest[found.upperBound...]
        }
        return nil
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

/// The checks' outcomes as they arrive, by position in the catalog.
final class ResultBoard: @unchecked Sendable {
    private let condition = NSCondition()
    private var outcomes: [Outcome?]

    init(count: Int) { outcomes = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ outcome: Outcome) {
        condition.lock()
        outcomes[index] = outcome
        condition.broadcast()
        condition.unlock()
    }

    func wait(for index: Int) -> Outcome {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let outcome = outcomes[index] { return outcome }
            condition.wait()
        }
    }
}
