import Checks
import Testing
import Workbook

@Suite struct LessonTests {
    let markdown = """
        # Chapter 9 — Test
        Body text.
        ```sh
        echo one
        ```
        ```console
        $ not run
        ```
        ## Hints
        ### Hint 1
        First.
        ### Hint 2
        Second.
        """

    @Test func hintsAreSplitFromTheBody() {
        let lesson = Lesson(markdown: markdown)
        #expect(lesson.hints == ["### Hint 1\nFirst.", "### Hint 2\nSecond."])
        #expect(!lesson.body.contains("Hint"))
        #expect(lesson.body.contains("Body text."))
    }

    @Test func onlyShBlocksAreSnippets() {
        #expect(Lesson.shellSnippets(in: markdown) == ["echo one"])
    }

    @Test func everyReadyChapterHasHintsAndNamesItsExerciseAndCheck() throws {
        for chapter in ChapterCatalog.all where chapter.isAvailable(in: Support.repository) {
            let lesson = try Lesson.load(chapter, from: Support.repository)
            #expect(lesson.hints.count >= 2, "chapter \(chapter.number) needs hints in layers")
            for file in chapter.exerciseFiles {
                #expect(lesson.body.contains(file), "chapter \(chapter.number) must name \(file)")
            }
            #expect(lesson.body.contains("workbook check \(chapter.number)"), "chapter \(chapter.number) must give its check command")
        }
    }

    /// The sample `workbook check` output a chapter prints must name real checks, and
    /// each chapter title it shows must be the catalog's: lessons that are true.
    @Test func sampleCheckOutputNamesRealChecks() throws {
        let titles = Set(CheckCatalog.chapters.flatMap { CheckCatalog.checks(for: $0) }.map(\.title))
        for chapter in ChapterCatalog.all where chapter.isAvailable(in: Support.repository) {
            let text = try Lesson.load(chapter, from: Support.repository).body
            var shown = 0
            for line in text.split(separator: "\n") {
                for mark in ["  ✓ ", "  ✗ "] where line.hasPrefix(mark) {
                    let title = String(line.dropFirst(mark.count))
                    #expect(titles.contains(title), "chapter \(chapter.number) shows a check that does not exist: \(title)")
                    shown += 1
                }
                if line.hasPrefix("Chapter "), line.contains(" — "), let number = Int(line.dropFirst("Chapter ".count).prefix { $0.isNumber }),
                    let real = ChapterCatalog.chapter(number)
                {
                    #expect(
                        line == "Chapter \(number) — \(real.title)", "chapter \(chapter.number) shows a heading the checker does not print: \(line)")
                }
            }
            #expect(shown > 0, "chapter \(chapter.number) shows no sample check output")
        }
    }

    @Test func progressStates() {
        var progress = Progress()
        progress.passed = [0]
        progress.skipped = [1]
        progress.attempted = [2]
        #expect(progress.state(of: 0) == .passed)
        #expect(progress.state(of: 1) == .skipped)
        #expect(progress.state(of: 2) == .inProgress)
        #expect(progress.state(of: 3) == .notStarted)
        #expect(progress.learnerChapters(through: 3) == [0, 2, 3])
    }
}
