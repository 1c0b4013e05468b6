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
