import ArgumentParser
import Checks
import Exercises
import Foundation
import RunOptions
import Runtime
import Workbook

// workbook: the learner's command line. Read a chapter, fill in its exercise, check
// it, run your own runtime.

struct WorkbookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workbook",
        abstract: "Containers from Scratch, in Swift: read, build, check.",
        subcommands: [Status.self, Read.self, Check.self, Hint.self, Run.self, Skip.self],
        defaultSubcommand: Status.self
    )
}

func colors() -> Bool { isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil }

func fail(_ message: String, code: Int32 = Runtime.ExitCode.runtimeFailed) -> Never {
    FileHandle.standardError.write(Data("workbook: \(message)\n".utf8))
    Foundation.exit(code)
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The chapter list, your progress, and what to do next (the default).")

    func run() throws {
        let repository = try Repository.locate()
        let progress = Progress.load(from: repository)
        print("Containers from Scratch, in Swift — build a container runtime, one kernel feature at a time.\n")
        var next: Chapter?
        for chapter in ChapterCatalog.all {
            let number = String(chapter.number).count == 1 ? " \(chapter.number)" : "\(chapter.number)"
            let title = chapter.title.padding(toLength: 56, withPad: " ", startingAt: 0)
            guard chapter.isAvailable(in: repository) else {
                print("  \(number)  \(title)  (coming soon)")
                continue
            }
            let state = progress.state(of: chapter.number)
            let mark: String
            switch state {
            case .passed: mark = "✓ passed"
            case .skipped: mark = "↷ skipped"
            case .inProgress: mark = "… in progress"
            case .notStarted: mark = "· not started"
            }
            print("  \(number)  \(title)  \(mark)")
            if next == nil && (state == .notStarted || state == .inProgress) { next = chapter }
        }
        print("")
        if let next {
            let file = next.exerciseFiles.first ?? next.exerciseFolder
            print("Next: chapter \(next.number). Read it with `workbook read \(next.number)`, fill in \(file),")
            print("then run `workbook check \(next.number)`. Stuck? `workbook hint \(next.number)`.")
        } else {
            print("Every chapter that is ready is done. Your runtime: `workbook run N -- CMD`; the reference: `scratch run -- CMD`.")
        }
        if geteuid() != 0 {
            print("\nNote: checks and runs create namespaces and need root (sudo).")
        }
    }
}

struct Read: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read chapter N in the terminal.")
    @Argument(help: "The chapter number.") var chapter: Int

    func run() throws {
        let repository = try Repository.locate()
        let chapter: Chapter
        do { chapter = try ChapterCatalog.available(self.chapter, in: repository) } catch { fail("\(error)") }
        let lesson = try Lesson.load(chapter, from: repository)
        var text = TerminalReader.render(lesson.body, colors: colors())
        if !lesson.hints.isEmpty {
            text += "\n\nHints: \(lesson.hints.count) layers, one at a time with `workbook hint \(chapter.number)`.\n"
        }
        TerminalReader.show(text)
    }
}

struct Hint: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the next hint for chapter N, one layer at a time.")
    @Argument(help: "The chapter number.") var chapter: Int
    @Flag(help: "Start again from the first hint.") var reset = false

    func run() throws {
        let repository = try Repository.locate()
        let chapter: Chapter
        do { chapter = try ChapterCatalog.available(self.chapter, in: repository) } catch { fail("\(error)") }
        let hints = try Lesson.load(chapter, from: repository).hints
        guard !hints.isEmpty else { fail("chapter \(chapter.number) has no hints") }
        var progress = Progress.load(from: repository)
        let key = String(chapter.number)
        let shown = reset ? 0 : progress.hintsShown[key] ?? 0
        let index = min(shown, hints.count - 1)
        print(TerminalReader.render(hints[index], colors: colors()))
        print("")
        if index + 1 < hints.count {
            print("(hint \(index + 1) of \(hints.count); `workbook hint \(chapter.number)` again for the next)")
        } else {
            print("(hint \(index + 1) of \(hints.count), the last; `workbook hint \(chapter.number) --reset` starts over)")
        }
        progress.hintsShown[key] = index + 1
        try progress.save(to: repository)
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run chapters 0..N's checks against your runtime, each at its chapter's stage.")
    @Argument(help: "The chapter to check up to (default: the first not passed).") var chapter: Int?
    @Flag(help: "Check the reference runtime instead of yours.") var reference = false
    @Option(help: .hidden) var learnerChapters: String?
    @Flag(help: "Only chapter N's checks, not those of the chapters before.") var only = false

    func run() throws {
        let repository = try Repository.locate()
        var progress = Progress.load(from: repository)
        let available = ChapterCatalog.all.filter { $0.isAvailable(in: repository) }
        let number =
            chapter ?? available.first { progress.state(of: $0.number) != .passed && progress.state(of: $0.number) != .skipped }?.number
            ?? available.last?.number ?? 0
        do { _ = try ChapterCatalog.available(number, in: repository) } catch { fail("\(error)") }
        do { try requireRoot("workbook check") } catch { fail("\(error)") }

        var options: [String] = []
        if reference { options.append("--reference") }
        if let learnerChapters { options += ["--learner-chapters", learnerChapters] }
        let checker = Checker(repository: repository, colors: colors())
        // Each chapter's checks run against your runtime at that chapter's stage, so a
        // failure in chapter 0's checks is about chapter 0's code, not a later stub.
        let chapters = only ? [number] : CheckCatalog.chapters.filter { $0 <= number }
        var results: [Checker.Result] = []
        for stage in chapters {
            do {
                results += try checker.run(
                    CheckCatalog.checks(for: stage),
                    runtime: Checker.workbookRuntime(stage: stage, extraOptions: options), stage: stage)
            } catch {
                fail("could not set up the checks: \(error)")
            }
        }
        print("\n" + Checker.summary(results))

        // Record progress (only for the learner's own runtime).
        if !reference && learnerChapters == nil {
            for chapter in Set(results.map(\.check.chapter)) {
                let mine = results.filter { $0.check.chapter == chapter }
                if mine.allSatisfy({ !$0.outcome.isFailed }) {
                    progress.passed.insert(chapter)
                } else {
                    progress.passed.remove(chapter)
                    progress.attempted.insert(chapter)
                }
            }
            try progress.save(to: repository)
        }
        let failed = results.filter { $0.outcome.isFailed }
        if failed.isEmpty {
            let next = available.first { $0.number > number }
            print(next.map { "Chapter \(number) passes. Next: `workbook read \($0.number)`." } ?? "Every check passes.")
        } else if let first = failed.first {
            print("Start with the first ✗ above; `workbook hint \(first.check.chapter)` for more help.")
            throw ArgumentParser.ExitCode.failure
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command with your runtime at chapter N's stage.",
        usage: "workbook run N [OPTIONS] -- COMMAND [ARG...]",
        discussion: "Chapters you skipped use the reference. With --reference, the reference runtime at that stage.")

    @Argument(help: "The chapter whose stage to run.") var chapter: Int
    @Flag(help: "Use the reference runtime at this stage.") var reference = false
    @Option(help: .hidden) var learnerChapters: String?
    @OptionGroup var options: LearnerRunOptions

    func run() throws {
        let repository = try Repository.locate()
        // Any stage the runtime has can run, even before its lesson is written.
        guard CheckCatalog.chapters.contains(chapter) else {
            do { _ = try ChapterCatalog.available(chapter, in: repository) } catch { fail("\(error)") }
            fail("there is no chapter \(chapter)")
        }
        let stage = Stage(chapter: chapter)
        let steps: Steps
        if reference {
            steps = .reference
        } else if let learnerChapters {
            steps = LearnerSteps.steps(usingLearnerFor: Set(learnerChapters.split(separator: ",").compactMap { Int($0) }))
        } else {
            steps = LearnerSteps.steps(usingLearnerFor: Progress.load(from: repository).learnerChapters(through: chapter))
        }
        do {
            try requireRoot("workbook run")
            let spec = try options.request.spec(stage: stage, programName: "workbook")
            Foundation.exit(runContainer(spec, stage: stage, steps: steps))
        } catch {
            fail("\(error)", code: (error as? ContainerError)?.exitCode ?? Runtime.ExitCode.runtimeFailed)
        }
    }
}

struct Skip: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Use the reference for chapter N from now on (recorded as skipped, not passed).")
    @Argument(help: "The chapter to skip.") var chapter: Int
    @Flag(help: "Undo: use your own code for chapter N again.") var undo = false

    func run() throws {
        let repository = try Repository.locate()
        do { _ = try ChapterCatalog.available(chapter, in: repository) } catch { fail("\(error)") }
        var progress = Progress.load(from: repository)
        if undo {
            progress.skipped.remove(chapter)
            print("Chapter \(chapter): your own code is used again.")
        } else {
            progress.skipped.insert(chapter)
            print("Chapter \(chapter) skipped: the reference stands in for your code there. `workbook skip \(chapter) --undo` to take it back.")
        }
        try progress.save(to: repository)
    }
}

var command = parseOrExit(WorkbookCommand.self)
do {
    try command.run()
} catch {
    WorkbookCommand.exit(withError: error)
}
