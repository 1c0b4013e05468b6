import ArgumentParser
import Checks
import Exercises
import Foundation
import ImageStore
import RunOptions
import Runtime
import RuntimeConfig
import Workbook

// workbook: the learner's command line. Read a chapter, fill in its exercise, check
// it, run your own runtime.

struct WorkbookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workbook",
        abstract: "Containers from Scratch, in Swift: read, build, check.",
        discussion: """
            `workbook` alone opens the full-screen reader on a terminal (? lists its keys) and prints the \
            status in a pipe.
            """,
        subcommands: [
            Status.self, Read.self, Check.self, Hint.self, Solution.self, Run.self, Image.self, Skip.self, Watch.self, Doctor.self,
            Clean.self, Reset.self, Xray.self, Export.self, Snippets.self,
            BoardCommand.self, Slides.self,
        ],
        defaultSubcommand: Status.self
    )
}

func colors() -> Bool { isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil }

/// When the newest exercise was saved, "HH:mm:ss", for a verdict to name its code.
func savedAt(_ repository: Repository) -> String {
    guard let time = Freshness.snapshot(of: repository).newestExerciseSave else { return "?" }
    let formatter = DateFormatter()
    formatter.dateFormat = "HH:mm:ss"
    return formatter.string(from: Date(timeIntervalSince1970: time))
}

func fail(_ message: String, code: Int32 = Runtime.ExitCode.runtimeFailed) -> Never {
    FileHandle.standardError.write(Data("workbook: \(message)\n".utf8))
    Foundation.exit(code)
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The chapter list, your progress, and what to do next.",
        discussion:
            "With --json, the same for the room's board (`workbook board`): chapter, stage, each chapter's verdict, the first failing check, user, host and time."
    )
    @Flag(help: "Print the progress as JSON, for `workbook board`.") var json = false

    func run() throws {
        let repository = try Repository.locate()
        if json {
            print(StatusReport.current(repository: repository).json())
            return
        }
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
            case .skipped: mark = "↷ skipped (the reference stands in)"
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
        } else if !progress.skipped.isEmpty {
            let skipped = progress.skipped.sorted().map(String.init).joined(separator: ", ")
            print("Every chapter that is ready is passed or skipped. The reference stands in for chapter(s) \(skipped):")
            print("`workbook skip N --undo` takes your own code back, `workbook check N` then checks it.")
        } else {
            print("Every chapter that is ready is done. Your runtime: `workbook run N -- CMD`; the reference: `scratch run -- CMD`.")
        }
        if geteuid() != 0 {
            print("\nNote: checks and runs create namespaces and need root (sudo).")
        }
    }
}

struct Read: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read chapter N in the terminal.",
        discussion: """
            On a terminal it opens the full-screen reader (the chapter list, the lesson, checks, hints and \
            snippets a key away; ? lists the keys), in color unless NO_COLOR is set; elsewhere, or with \
            --plain, it prints the rendered text with no escape codes.
            """)
    @Argument(help: "The chapter number.") var chapter: Int
    @Flag(help: "Print the rendered text with no escape codes and no reader.") var plain = false

    func run() throws {
        let repository = try Repository.locate()
        let chapter: Chapter
        do { chapter = try ChapterCatalog.available(self.chapter, in: repository) } catch { fail("\(error)") }
        if !plain && isatty(0) == 1 && isatty(1) == 1 && Reader.run(repository: repository, chapter: chapter.number) { return }
        let lesson = try Lesson.load(chapter, from: repository)
        var text = TerminalReader.render(lesson.body, colors: !plain && colors())
        if !lesson.hints.isEmpty {
            text += "\n\nHints: \(lesson.hints.count) layers, one at a time with `workbook hint \(chapter.number)`.\n"
        }
        if plain { print(text) } else { TerminalReader.show(text) }
    }
}

struct Hint: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the next hint for chapter N, one layer at a time.",
        discussion: """
            Without --check, the lesson's hints; the last layer is the reference itself. With \
            --check ID, the hints of one check: a failing check shows its first hint and \
            names itself, `(more: workbook hint N --check ID)`.
            """)
    @Argument(help: "The chapter number.") var chapter: Int
    @Option(name: .customLong("check"), help: ArgumentHelp("The id of the check whose hints to show.", valueName: "id"))
    var check: String?
    @Flag(help: "Start again from the first hint.") var reset = false

    func run() throws {
        let repository = try Repository.locate()
        let chapter: Chapter
        do { chapter = try ChapterCatalog.available(self.chapter, in: repository) } catch { fail("\(error)") }
        var progress = Progress.load(from: repository)
        if let id = check {
            let checks = CheckCatalog.checks(for: chapter.number)
            guard let found = checks.first(where: { $0.id == id }) else {
                fail("chapter \(chapter.number) has no check \"\(id)\"; its checks are: \(checks.map(\.id).joined(separator: ", "))")
            }
            guard !found.hints.isEmpty else {
                fail("check \(id) has no hints of its own; `workbook hint \(chapter.number)` gives the lesson's")
            }
            let key = "\(chapter.number)/\(id)"
            let index = min(reset ? 0 : progress.checkHintsShown[key] ?? 0, found.hints.count - 1)
            print("Check \(id) (chapter \(chapter.number)): \(found.title)")
            print("Hint \(index + 1): \(found.hints[index])\n")
            printPosition(index, of: found.hints.count, again: "workbook hint \(chapter.number) --check \(id)")
            progress.checkHintsShown[key] = index + 1
        } else {
            let hints = try Lesson.load(chapter, from: repository).hints
            guard !hints.isEmpty else { fail("chapter \(chapter.number) has no hints") }
            let key = String(chapter.number)
            let index = min(reset ? 0 : progress.hintsShown[key] ?? 0, hints.count - 1)
            print(TerminalReader.render(hints[index], colors: colors()))
            print("")
            printPosition(index, of: hints.count, again: "workbook hint \(chapter.number)")
            progress.hintsShown[key] = index + 1
        }
        try progress.save(to: repository)
    }

    func printPosition(_ index: Int, of count: Int, again command: String) {
        if index + 1 < count {
            print("(hint \(index + 1) of \(count); `\(command)` again for the next)")
        } else {
            print("(hint \(index + 1) of \(count), the last; `\(command) --reset` starts over)")
        }
    }
}

struct Solution: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the reference beside your code for chapter N, once the chapter passed or was skipped.",
        discussion: """
            A unified diff of your exercise file against a copy of it whose function bodies are the \
            reference's (from Sources/Runtime): `-` lines are yours, `+` lines the reference's.
            """)
    @Argument(help: "The chapter number.") var chapter: Int
    @Flag(help: "Show it even though the chapter is not passed or skipped yet.") var force = false

    func run() throws {
        let repository = try Repository.locate()
        let chapter: Chapter
        do { chapter = try ChapterCatalog.available(self.chapter, in: repository) } catch { fail("\(error)") }
        let n = chapter.number
        switch Progress.load(from: repository).state(of: n) {
        case .passed, .skipped:
            break
        case .inProgress, .notStarted:
            // The reference is the last hint layer: reachable on purpose, but only after
            // the learner's own attempt, or once they chose to move on.
            guard force else {
                fail(
                    "chapter \(n) is not passed yet, so its solution stays closed: make `workbook check \(n)` pass, or move on with `workbook skip \(n)` (the reference then stands in for your code). Stuck? `workbook hint \(n)` gives the hints one at a time, the last of them the reference. (`workbook solution \(n) --force` opens it anyway.)",
                    code: 1)
            }
        }
        let parts: [ReferenceSolution.Part]
        do { parts = try ReferenceSolution(repository: repository).parts(for: chapter) } catch { fail("\(error)") }
        var text = "Chapter \(n) — your code beside the reference: `-` lines are yours, `+` lines the reference's.\n"
        for part in parts {
            text += "\n"
            if part.diff.isEmpty {
                text += "\(part.exerciseFile): every function body is the reference's, line for line.\n"
            } else {
                text += (colors() ? ReferenceSolution.colored(part.diff) : part.diff)
            }
            if !part.unmatched.isEmpty {
                text += "(no reference body named \(part.unmatched.joined(separator: ", ")): shown as you wrote it)\n"
            }
            if !part.referenceFiles.isEmpty {
                text += "The reference in its setting, with its comments: \(part.referenceFiles.joined(separator: ", ")).\n"
            }
        }
        TerminalReader.show(text.trimmingCharacters(in: .newlines))
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run chapters 0..N's checks against your runtime, each at its chapter's stage.",
        discussion: "It judges your code as it is on disk: when an exercise changed since the last build, it builds again first.")
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
        // Whose code each chapter runs: the same choice `workbook run` makes.
        let learner: Set<Int> =
            reference
            ? [] : learnerChapters.map { Set($0.split(separator: ",").compactMap { Int($0) }) } ?? progress.learnerChapters(through: number)
        let recording = !reference && learnerChapters == nil
        let checker = Checker(repository: repository, colors: colors())
        // Each chapter's checks run against your runtime at that chapter's stage, so a
        // failure in chapter 0's checks is about chapter 0's code, not a later stub.
        let chapters = only ? [number] : CheckCatalog.chapters.filter { $0 <= number }
        var results: [Checker.Result] = []
        var verdicts: [ChapterVerdict] = []
        for stage in chapters {
            let stageResults: [Checker.Result]
            do {
                stageResults = try checker.run(
                    CheckCatalog.checks(for: stage),
                    runtime: Checker.workbookRuntime(stage: stage, extraOptions: options), stage: stage)
            } catch {
                fail("could not set up the checks: \(error)")
            }
            results += stageResults
            // A verdict is about the code this program was built from: a save while the
            // checks ran makes it the previous save's, so none is given (nor recorded).
            if let changed = Freshness.changedSinceBuild(repository: repository) {
                print(
                    "\n\(changed) changed while the checks ran: the results above are for the code before that save, so there is no verdict. Run the checks again (watch does it by itself)."
                )
                throw ArgumentParser.ExitCode(Freshness.staleStatus)
            }
            let verdict = ChapterVerdict(chapter: stage, results: stageResults, referenceStoodIn: !reference && !learner.contains(stage))
            verdicts.append(verdict)
            for line in verdict.lines { print("  " + line) }
        }
        print("\n" + ChapterVerdict.summary(results))
        if !reference, let built = ProcessInfo.processInfo.environment[Freshness.marker], built.count > 1 {
            print("Judged: your code as saved at \(savedAt(repository)) (sources #\(built)).")
        }

        // Progress records only your own code's verdicts: a chapter the reference
        // stood in for keeps the state your code last had, and shows it again after
        // `workbook skip N --undo`.
        if recording {
            for verdict in verdicts where !verdict.referenceStoodIn {
                progress.record(chapter: verdict.chapter, allRanAndPassed: verdict.allRanAndPassed)
                progress.firstFailing[String(verdict.chapter)] = verdict.failed.first?.id ?? verdict.skipped.first?.check.id
            }
            progress.lastChecked = Date()
            progress.lastStage = number
            try progress.save(to: repository)
        }
        if let first = results.first(where: { $0.outcome.isFailed }) {
            let chapter = first.check.chapter
            print(
                "Start with the first ✗ above. More hints for it: `workbook hint \(chapter) --check \(first.check.id)`; the lesson's: `workbook hint \(chapter)`."
            )
            throw ArgumentParser.ExitCode.failure
        }
        let incomplete = verdicts.filter { !$0.skipped.isEmpty }
        if !incomplete.isEmpty {
            let skipped = incomplete.map(\.skipped.count).reduce(0, +)
            let which = incomplete.map { String($0.chapter) }.joined(separator: ", ")
            print(
                "Not passed: \(skipped) skipped (chapter \(which)). A check that could not run proves nothing; fix what its reason names, then run `workbook check \(number)` again."
            )
            throw ArgumentParser.ExitCode.failure
        }
        if verdicts.last?.referenceStoodIn == true {
            print(
                "Chapter \(number) is skipped: the reference ran in its place, so none of your code for it was checked. `workbook skip \(number) --undo` to check your own."
            )
        } else if reference {
            print("The reference passes every check up to chapter \(number).")
        } else {
            let next = available.first { $0.number > number }
            print(next.map { "Chapter \(number) passes. Next: `workbook read \($0.number)`." } ?? "Every check passes.")
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command with your runtime at chapter N's stage.",
        usage: "workbook run N [OPTIONS] -- COMMAND [ARG...]",
        discussion: """
            Chapters you skipped use the reference. With --reference, the reference runtime at \
            that stage. It runs in a stand-in host (a UTS and a mount namespace of its own), so a \
            mistake cannot rename this machine or leave a mount on it; it says what the run \
            changed there, and removes what it left in the cgroup tree.
            """)

    @Argument(help: "The chapter whose stage to run.") var chapter: Int
    @Flag(help: "Use the reference runtime at this stage.") var reference = false
    @Option(help: .hidden) var learnerChapters: String?
    @Option(
        help: ArgumentHelp(
            "Chapter 8: run the runtime as USER (not root), rootless, inside the stand-in host (made as root first).",
            valueName: "user")) var asUser: String?
    @OptionGroup var options: LearnerRunOptions

    func run() throws {
        try Run.start(chapter: chapter, reference: reference, learnerChapters: learnerChapters, asUser: asUser, request: options.request)
    }

    static func start(chapter: Int, reference: Bool, learnerChapters: String?, asUser: String? = nil, request: RunRequest) throws -> Never {
        let repository = try Repository.locate()
        // Any stage the runtime has can run, even before its lesson is written.
        guard CheckCatalog.chapters.contains(chapter) else {
            do { _ = try ChapterCatalog.available(chapter, in: repository) } catch { fail("\(error)") }
            fail("there is no chapter \(chapter)")
        }
        let steps = chosenSteps(reference: reference, learnerChapters: learnerChapters, through: chapter) { repository }
        // As another user, the store is that user's (chosen once the workbook has become them).
        if Stage(chapter: chapter).includes(.layers) && asUser == nil { useWorkbookImageStore() }
        runInStandInHost(
            configuredRequest(request, stage: chapter), stage: Stage(chapter: chapter), steps: steps, programName: "workbook", asUser: asUser)
    }

    /// `workbook run N [--reference | --learner-chapters LIST] FLAGS -- COMMAND`, the
    /// command line every check starts its containers with, read by hand as scratch
    /// reads a plain `scratch run` (RunRequest(plainArguments:)). ArgumentParser finds
    /// `run`'s two dozen options by reflection, and in the debug build the workbook is
    /// that costs about 0.1 s of CPU per container: most of a chapter's checks' time
    /// on two cores. Anything else (--help, --flag=value, an unknown or repeated flag)
    /// gives nil, and ArgumentParser reads it, with its errors and help.
    static func plainRequest(_ arguments: ArraySlice<String>) -> (
        chapter: Int, reference: Bool, learnerChapters: String?, asUser: String?, request: RunRequest
    )? {
        var rest = arguments
        guard rest.popFirst() == "run", let word = rest.popFirst(), !word.isEmpty, word.allSatisfy(\.isASCII),
            word.allSatisfy(\.isNumber), let chapter = Int(word)
        else { return nil }
        var reference = false
        var learnerChapters: String?
        var asUser: String?
        while let word = rest.first, word == "--reference" || word == "--learner-chapters" || word == "--as-user" {
            rest.removeFirst()
            if word == "--reference" {
                guard !reference else { return nil }
                reference = true
            } else if word == "--as-user" {
                guard asUser == nil, let name = rest.popFirst(), !name.hasPrefix("-") else { return nil }
                asUser = name
            } else {
                guard learnerChapters == nil, let list = rest.popFirst(), !list.hasPrefix("-") else { return nil }
                learnerChapters = list
            }
        }
        guard let request = RunRequest(plainLearnerArguments: rest) else { return nil }
        return (chapter, reference, learnerChapters, asUser, request)
    }
}

/// Whose code runs at chapter `chapter`'s stage, for `workbook run`, `workbook oci` and
/// `workbook image import`: the reference, the chapters `--learner-chapters` names, or the
/// learner's for every chapter their progress has not skipped (read from `repository`,
/// asked for only then).
func chosenSteps(reference: Bool, learnerChapters: String?, through chapter: Int, repository: () -> Repository) -> Steps {
    if reference { return .reference }
    if let learnerChapters {
        return LearnerSteps.steps(usingLearnerFor: Set(learnerChapters.split(separator: ",").compactMap { Int($0) }))
    }
    return LearnerSteps.steps(usingLearnerFor: Progress.load(from: repository()).learnerChapters(through: chapter))
}

/// `workbook oci N [--reference | --learner-chapters LIST] [--root DIR] COMMAND ...`:
/// chapter 10's OCI commands (create, start, state, kill, delete, ...) with the
/// learner's runtime at chapter N's stage, in the stand-in host `prepare` made. What
/// chapter 10's checks drive. Read by hand, before ArgumentParser.
enum OCI {
    static func runIfAsked(_ arguments: [String]) {
        guard arguments.count > 2, arguments[1] == "oci" else { return }
        guard let chapter = Int(arguments[2]), Stage(chapter: chapter).includes(.oci) else {
            fail("usage: workbook oci N [--reference] [--root DIR] create|start|state|kill|delete|list|ps|exec ... (N is 10 or later)")
        }
        var rest = ArraySlice(arguments.dropFirst(3))
        var reference = false
        var learnerChapters: String?
        while let word = rest.first, word == "--reference" || word == "--learner-chapters" {
            rest.removeFirst()
            if word == "--reference" {
                reference = true
            } else {
                learnerChapters = rest.popFirst()
            }
        }
        let steps = chosenSteps(reference: reference, learnerChapters: learnerChapters, through: chapter) {
            guard let repository = try? Repository.locate() else { fail("cannot find the workbook's files: run workbook from inside the repository") }
            return repository
        }
        do {
            let globals = try ociGlobals(&rest) ?? OCIGlobals()
            guard let command = rest.popFirst() else { fail("workbook oci \(chapter): which command? create, start, state, kill, delete, …") }
            runOCICommand(command, rest, globals: globals, steps: steps, stage: Stage(chapter: chapter), programName: "workbook")
        } catch {
            fail("\(error)")
        }
    }
}

struct Image: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Images with your chapter 5 code: `workbook image import N SOURCE [NAME:TAG]`.",
        subcommands: [ImageImport.self])
}

struct ImageImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an OCI image layout or a `docker save` archive, your overlayEntry turning its whiteouts.",
        usage: "workbook image import N [--reference] SOURCE [NAME:TAG]",
        discussion: """
            As `scratch image import`, with chapter 5's overlayEntry yours (unless you skipped \
            it, or give --reference), into the workbook's own store (~/.cache/scratch-workbook, \
            or $SCRATCH_HOME when set), where `workbook run 5` finds it: a layer your code \
            unpacked wrong never reaches scratch's store. A layer already stored is not unpacked \
            again: to import one anew, `rm -r` it or use a fresh SCRATCH_HOME.
            """)

    @Argument(help: "The chapter whose stage to use (5 or later).") var chapter: Int
    @Flag(help: "Use the reference's overlayEntry.") var reference = false
    @Option(help: .hidden) var learnerChapters: String?
    @Argument(help: "The OCI layout (directory or tar) or docker-archive tar.") var source: String
    @Argument(help: "NAME[:TAG] to store it as (default: the name inside the image).") var name: String?

    func run() throws {
        let repository = try Repository.locate()
        guard Stage(chapter: chapter).includes(.layers) else { fail("images come in chapter 5: `workbook image import 5 \(source)`") }
        do { try requireRoot("workbook image import") } catch { fail("\(error)") }
        let steps = chosenSteps(reference: reference, learnerChapters: learnerChapters, through: chapter) { repository }
        useWorkbookImageStore()
        do {
            let image = try LayerConversion.$steps.withValue(steps.layers) { try importImage(from: source, as: name) }
            print("imported \(image.reference): \(image.layers.count) layer\(image.layers.count == 1 ? "" : "s") (\(image.reused) already stored)")
        } catch {
            fail("\(error)")
        }
    }
}

/// `request` with its `--config` file read underneath (chapter 6) and its seccomp
/// profile files read (chapter 7), as `scratch run` reads them.
func configuredRequest(_ request: RunRequest, stage: Int) -> RunRequest {
    if let path = request.configFile, !Stage(chapter: stage).includes(.configuration) {
        fail("--config \(path): config files come in chapter 6 — run at chapter 6's stage or later")
    }
    do { return try resolvingSecurityFiles(applyingConfigFile(to: request)) } catch { fail("\(error)") }
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

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the current chapter again each time you save an exercise; move on when it passes.",
        discussion: """
            It rebuilds when an exercise changed (the compiler's message when it does not build), runs the \
            chapter's own checks (`workbook check N --only`), says how long each took, and waits for the next \
            save (inotify; --poll looks every half second instead, for filesystems where inotify sees nothing). \
            Ctrl-C stops it.
            """)
    @Argument(help: "The chapter to start with (default: the first not passed).") var chapter: Int?
    @Flag(help: "Look for changes every half second instead of through inotify.") var poll = false
    @Option(help: .hidden) var cycles: Int?

    func run() throws {
        let repository = try Repository.locate()
        do { try requireRoot("workbook watch") } catch { fail("\(error)") }
        let available = ChapterCatalog.all.filter { $0.isAvailable(in: repository) }
        func nextChapter(after number: Int) -> Chapter? {
            let progress = Progress.load(from: repository)
            return available.first { chapter in
                chapter.number > number && progress.state(of: chapter.number) != .passed && progress.state(of: chapter.number) != .skipped
            }
        }
        var current: Chapter
        if let number = chapter {
            do { current = try ChapterCatalog.available(number, in: repository) } catch { fail("\(error)") }
        } else {
            guard let first = nextChapter(after: -1) else {
                print("Every chapter that is ready is passed or skipped: nothing to watch. `workbook watch N` watches chapter N.")
                return
            }
            current = first
        }
        let watcher = ExerciseWatcher(folder: repository.path("exercises"), forcePolling: poll)
        let terminal = isatty(1) == 1
        let program = repository.path(".build/debug/workbook")
        // Only exercises changed since SwiftPM's last build: its compile and link
        // commands, run directly (QuickBuild, a fraction of a second). Anything else, or
        // a compile error: ./workbook, which builds in its fixed environment and shows
        // the compiler's whole message (WORKBOOK_BUILD_ONLY: only the `workbook`
        // program, no package checks, nothing run after). WORKBOOK_WATCH_BUILD=swiftpm
        // always takes SwiftPM's way (tools/bench/watch-loop --compare).
        let swiftPMOnly = ProcessInfo.processInfo.environment["WORKBOOK_WATCH_BUILD"] == "swiftpm"
        var runs = 0
        // The sources the last verdict on screen was about: a save already judged
        // (its event came while the checks ran) is not checked twice.
        var judged: String?
        while true {
            // A fresh screen per run on a terminal, as rustlings does: only this run's verdict shows.
            if terminal { print("\u{1B}[2J\u{1B}[H", terminator: "") }
            print("workbook watch — chapter \(current.number): \(current.title)\n")
            // Saves seen from here on are either in the snapshots below or wake the
            // next round: none is judged on a build that does not hold it.
            watcher.drain()
            let (changed, now) = Freshness.changedSources(in: repository, program: program)
            var building = ""
            var builtFrom = now
            if let newest = changed.first {
                print("\(newest) changed: building…")
                let started = Date()
                QuickBuild.forgetDriverRecord(repository: repository)
                var way = ""
                let result = Freshness.rebuild(repository: repository, program: program) {
                    let quick = swiftPMOnly ? .needsSwiftPM("WORKBOOK_WATCH_BUILD=swiftpm") : QuickBuild.rebuild(repository: repository)
                    switch quick {
                    case .built: return true
                    case .needsSwiftPM(let why), .failed(let why): way = " (SwiftPM: \(why))"
                    }
                    return runChild([repository.path("workbook")], quiet: true, environment: ["WORKBOOK_BUILD_ONLY": "1"]) == 0
                }
                building = "rebuild \(seconds(since: started))\(way) · "
                switch result {
                case .built(let snapshot):
                    builtFrom = snapshot
                case .failed(let why):
                    print("\n\(building)\(why) (above): fix it and save; watching \(watchedText(watcher))…")
                    fflush(nil)
                    judged = nil
                    _ = watcher.waitForChange()
                    continue
                }
            }
            let started = Date()
            let status = runChild(
                [program, "check", String(current.number), "--only"], quiet: false,
                environment: [Freshness.marker: builtFrom.fingerprint])
            if status == Freshness.staleStatus {
                // The checks ran on the previous save's build: build and check again now.
                continue
            }
            judged = builtFrom.fingerprint
            let formatter = DateFormatter()
            formatter.dateFormat = "HH:mm:ss"
            let clock = formatter.string(from: Date())
            print("\n\(building)checks \(seconds(since: started)) · \(clock)")
            runs += 1
            if let cycles, runs >= cycles { throw status == 0 ? ArgumentParser.ExitCode.success : ArgumentParser.ExitCode.failure }
            if status == 0 {
                guard let next = nextChapter(after: current.number) else {
                    // Chapters before it may be skipped, not passed: say only what is true.
                    let skipped = Progress.load(from: repository).skipped.sorted().map(String.init)
                    let stand = skipped.isEmpty ? "" : " (the reference stands in for chapter(s) \(skipped.joined(separator: ", ")))"
                    print("Chapter \(current.number) passes, and no chapter that is ready is left\(stand). Well done.")
                    return
                }
                print("Chapter \(current.number) passes: on to chapter \(next.number). Read it with `workbook read \(next.number)`.")
                current = next
                judged = nil
                if terminal { sleep(2) }
                continue
            }
            print("Watching \(watchedText(watcher)); save to check again (Ctrl-C stops).")
            fflush(nil)
            repeat { _ = watcher.waitForChange() } while Freshness.snapshot(of: repository).fingerprint == judged
        }
    }

    func watchedText(_ watcher: ExerciseWatcher) -> String {
        "exercises/" + (watcher.polling ? " (polling)" : "")
    }

    func seconds(since start: Date) -> String {
        String(format: "%.1f s", Date().timeIntervalSince(start))
    }

    /// Runs a program with this terminal; its exit status.
    func runChild(_ arguments: [String], quiet: Bool, environment extra: [String: String] = [:]) -> Int32 {
        // What this process printed goes out before the child's own lines.
        fflush(nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        if quiet { process.standardOutput = FileHandle.nullDevice }
        do { try process.run() } catch {
            print("cannot run \(arguments[0]): \(error.localizedDescription)")
            return 125
        }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that this machine has what the workbook needs, and say how to fix what is missing.",
        discussion: "One line each, ✓ or ✗ with the fix. Exits 1 when something required is missing; optional pieces only say so.")

    func run() throws {
        let repository = try Repository.locate()
        let findings = Workbook.Doctor(repository: repository).findings()
        for finding in findings { print(finding.line) }
        let missing = findings.filter { !$0.ok && $0.required }
        if missing.isEmpty {
            print("\nEverything the workbook needs is here.")
        } else {
            print(
                "\n\(missing.count) required piece(s) missing: \(missing.map(\.what).joined(separator: ", ")). Fix them as each line says, then run `workbook doctor` again."
            )
            throw ArgumentParser.ExitCode.failure
        }
    }
}

struct BoardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "board",
        abstract: "The room on one screen: each attendee's chapter, verdict, first failing check and the report's age.",
        usage: "workbook board [--timeout S] [--every S] DIR|FILE.json|HOST...",
        discussion: """
            Each argument is a directory of collected `workbook status --json` files, one such file, or a host             reached as `ssh HOST workbook status --json` (all hosts at once; BatchMode, so set up keys first).             A host that does not answer within the timeout gets a row saying it is unreachable. Those furthest             behind come first. docs/workshop/facilitator.md says how a room collects the files.
            """)
    @Argument(help: "Directories, .json files or hosts.") var sources: [String]
    @Option(help: "Seconds to wait for every host's answer (the remote workbook checks its build first).") var timeout: Double = 20
    @Option(help: "Redraw every S seconds until Ctrl-C.") var every: Double?
    @Option(help: "The command run on each host.") var remoteCommand = "workbook status --json"

    func run() throws {
        guard !sources.isEmpty else {
            fail("name a directory of status files, or hosts: `workbook board reports/` or `workbook board pc01 pc02`", code: 1)
        }
        var board = Workbook.Board()
        board.timeout = timeout
        board.remoteCommand = remoteCommand
        var width = 100
        var size = winsize()
        if isatty(1) == 1 && ioctl(1, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 40 { width = Int(size.ws_col) }
        while true {
            let text = Workbook.Board.render(board.rows(for: sources), width: width)
            if every != nil && isatty(1) == 1 { print("\u{1B}[2J\u{1B}[H", terminator: "") }
            print(text, terminator: "")
            fflush(nil)
            guard let every else { return }
            usleep(useconds_t(max(1, every) * 1_000_000))
        }
    }
}

struct Clean: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove what a crashed or interrupted run left on this host (only what the workbook and scratch made).",
        discussion: """
            State directories of runtimes that are gone and their cgroups, cgroups under scratch/ that no \
            running container owns, half-built rootfses, work directories of interrupted checks with \
            any mount under them, and the users chapter 8's interrupted checks made (wb8…). Anything \
            alive is left alone.
            """)
    @Flag(help: "List what would be removed, and remove nothing.") var dryRun = false

    func run() throws {
        do { try requireRoot("workbook clean") } catch { fail("\(error)") }
        if dryRun {
            let leftovers = Cleaner.leftovers()
            if leftovers.isEmpty {
                print("Nothing to clean.")
            } else {
                for leftover in leftovers { print("would remove \(leftover.path) (\(leftover.why))") }
                print("\n`workbook clean` removes them.")
            }
            return
        }
        let removed = Cleaner.clean()
        for path in removed { print("removed \(path)") }
        print(removed.isEmpty ? "Nothing to clean." : "\nClean: \(removed.count) removed.")
    }
}

struct Reset: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put chapter N's exercise back as the repository's last commit has it (asks first).",
        discussion: "It runs `git checkout HEAD -- FOLDER` on the chapter's exercise folder. Files you added there stay.")
    @Argument(help: "The chapter number.") var chapter: Int
    @Flag(help: "Do not ask.") var yes = false

    func run() throws {
        let repository = try Repository.locate()
        let chapter: Chapter
        do { chapter = try ChapterCatalog.available(self.chapter, in: repository) } catch { fail("\(error)") }
        let reset = ExerciseReset(repository: repository, chapter: chapter)
        let changes: (changed: [String], untracked: [String])
        do { changes = try reset.changes() } catch { fail("\(error)") }
        let kept = changes.untracked.isEmpty ? "" : " Kept (not in git, remove them yourself): \(changes.untracked.joined(separator: ", "))."
        guard !changes.changed.isEmpty else {
            print("Chapter \(chapter.number)'s exercise is as committed already; nothing to reset.\(kept)")
            return
        }
        if !yes {
            guard isatty(0) == 1 else {
                fail("reset would undo your changes to \(changes.changed.joined(separator: ", ")); add --yes to do it without asking", code: 1)
            }
            print(
                "This undoes your changes to \(changes.changed.joined(separator: ", ")) (git checkout HEAD). Reset chapter \(chapter.number)? [y/N] ",
                terminator: "")
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                print("Nothing changed.")
                return
            }
        }
        do { try reset.reset() } catch { fail("\(error)") }
        print("Chapter \(chapter.number)'s exercise is back as committed: \(changes.changed.joined(separator: ", ")).\(kept)")
    }
}

struct Xray: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look inside a running container: its processes, namespaces, limits and mounts, live.",
        discussion: """
            ID is a container's id or the start of one (`scratch ps` lists them); without it, the newest \
            running container. On a terminal the picture is redrawn every second until q or Ctrl-C; with \
            --once, or when stdout is not a terminal, one frame is printed (with no escape codes off a \
            terminal or with NO_COLOR set).
            """)
    @Argument(help: "The container (an id or its start; default: the newest running one).") var id: String?
    @Flag(help: "Print one frame and exit.") var once = false

    func run() throws {
        guard geteuid() == 0 else {
            // The state directory is root's (0600), and /proc/PID/ns of another user's
            // process is readable only with ptrace rights over it.
            fail("xray reads the state directory /run/scratch and other processes' namespaces, which only root may: run it with sudo", code: 1)
        }
        let state: ContainerState
        do { state = try Workbook.Xray.pick(id) } catch { fail("\(error)", code: 1) }
        do {
            if once { try Workbook.Xray.once(state, colors: colors()) } else { try Workbook.Xray.live(state, colors: colors()) }
        } catch {
            fail("\(error)", code: 1)
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the chapters as static HTML pages, for projecting and handouts.",
        discussion: "One page per chapter, index.html and style.css; nothing is loaded from the network.")
    @Option(help: ArgumentHelp("The directory to write the pages into (made if missing).", valueName: "dir")) var html: String

    func run() throws {
        let repository = try Repository.locate()
        do {
            let files = try HTMLExport(repository: repository).write(to: html)
            print("Wrote \(files.count) files to \(html): open \(html)/index.html")
        } catch {
            fail("\(error)")
        }
    }
}

struct Slides: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build an offline slide deck for a workshop agenda (docs/workshop/agenda-*.md).",
        discussion: """
            One slide per section of each chapter the agenda names, as the HTML export renders it (diagrams \
            included), with a title slide per chapter and one per break. Open DIR/index.html in a browser: \
            arrow keys move, #N in the address is slide N. Nothing is loaded from the network.
            """)
    @Argument(help: "The agenda's Markdown file.") var agenda: String
    @Option(help: ArgumentHelp("The directory to write the deck into (made if missing).", valueName: "dir")) var out: String

    func run() throws {
        let repository = try Repository.locate()
        guard let text = try? String(contentsOfFile: agenda, encoding: .utf8) else {
            fail("cannot read the agenda \(agenda): name one of docs/workshop/agenda-*.md")
        }
        do {
            let count = try SlideDeck(repository: repository).write(agenda: text, to: out)
            print("Wrote \(count) slides to \(out): open \(out)/index.html (arrow keys move)")
        } catch {
            fail("\(error)")
        }
    }
}

/// The VM's snippet runner (tools/vm/cgroup2-checks) takes chapter N's ```sh blocks
/// from here, so it runs exactly what the snippet tests run: one file each, NN-MM.sh.
struct Snippets: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write chapter N's shell snippets into a directory, one file each.", shouldDisplay: false)
    @Argument(help: "The chapter number.") var chapter: Int
    @Option(help: "Where to write NN-MM.sh.") var dir: String

    func run() throws {
        let repository = try Repository.locate()
        let chapter: Chapter
        do { chapter = try ChapterCatalog.available(self.chapter, in: repository) } catch { fail("\(error)") }
        guard let text = try? String(contentsOfFile: repository.path(chapter.file), encoding: .utf8) else {
            fail("cannot read \(chapter.file)")
        }
        let parsed = LessonSnippets(markdown: text)
        for problem in parsed.problems { fail("\(chapter.file), \(problem)") }
        for (index, snippet) in parsed.snippets.enumerated() {
            let name = String(format: "%02d-%02d.sh", chapter.number, index + 1)
            do {
                try (snippet.code + "\n").write(toFile: dir + "/" + name, atomically: false, encoding: .utf8)
            } catch {
                fail("cannot write \(dir)/\(name): \(error.localizedDescription)")
            }
        }
    }
}

/// What `check` and `run` do before anything else. Both judge the code on disk, so
/// a program built before the last edit builds again and starts over (Freshness).
/// `run` then makes its stand-in host at once: unshare(CLONE_NEWNS) refuses a
/// process that has started a thread, and nothing has started one yet.
func prepare(_ arguments: [String]) {
    guard arguments.count > 1, ["check", "run", "image", "oci"].contains(arguments[1]) else { return }
    if let repository = try? Repository.locate() {
        Freshness.ensureCurrent(repository: repository, arguments: arguments)
    }
    // Without root this fails; `runInStandInHost` tries again and says why.
    if (arguments[1] == "run" || arguments[1] == "oci") && geteuid() == 0 {
        _ = try? StandInHost.enter()
    }
}

/// `workbook` alone, on a terminal, opens the reader where the learner left it; in a
/// pipe or a script it prints the status, as it always did.
func openReader(_ arguments: [String]) {
    guard arguments.count == 1, isatty(0) == 1, isatty(1) == 1, let repository = try? Repository.locate() else { return }
    if Reader.run(repository: repository, chapter: nil) { Foundation.exit(0) }
}

prepare(CommandLine.arguments)
OCI.runIfAsked(CommandLine.arguments)
if let plain = Run.plainRequest(CommandLine.arguments.dropFirst()) {
    do {
        try Run.start(
            chapter: plain.chapter, reference: plain.reference, learnerChapters: plain.learnerChapters, asUser: plain.asUser,
            request: plain.request)
    } catch {
        WorkbookCommand.exit(withError: error)
    }
}
openReader(CommandLine.arguments)
var command = parseOrExit(WorkbookCommand.self)
do {
    try command.run()
} catch {
    WorkbookCommand.exit(withError: error)
}
