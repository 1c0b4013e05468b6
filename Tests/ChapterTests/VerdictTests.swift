import Checks
import Foundation
import Testing

@testable import Workbook

/// A chapter passes only when every check ran and passed; progress keeps the learner's
/// own verdicts apart from the chapters the reference stood in for.
@Suite struct VerdictTests {
    static func check(_ id: String, chapter: Int = 4) -> Check {
        Check(id, chapter: chapter, "check \(id)", hints: ["first", "second"]) { _ in .passed }
    }

    @Test("a check stopped by an earlier chapter's stub points at that chapter, not at its own hint")
    func earlierStubIsNamed() {
        let saw = "exit 125, stderr \"workbook: choose the cgroup's limits: chapter 4: not done yet — see exercises/04-cgroups/Cgroups.swift\""
        #expect(Checker.unfinishedEarlierChapter(in: saw, checking: 5) == 4)
        let own = "exit 125, stderr \"workbook: mount the overlay: chapter 5: not done yet — see exercises/05-layers/Layers.swift\""
        #expect(Checker.unfinishedEarlierChapter(in: own, checking: 5) == nil)
        #expect(Checker.unfinishedEarlierChapter(in: "exit 1, stdout \"\"", checking: 5) == nil)
        #expect(Checker.unfinishedEarlierChapter(in: "chapter 10: not done yet", checking: 11) == 10)
    }

    static func results(_ outcomes: [Outcome], chapter: Int = 4) -> [Checker.Result] {
        outcomes.enumerated().map { Checker.Result(check: check("c\($0.offset)", chapter: chapter), outcome: $0.element) }
    }

    @Test("every check ran and passed: passed")
    func allPassed() {
        let verdict = ChapterVerdict(chapter: 4, results: Self.results([.passed, .passed]), referenceStoodIn: false)
        #expect(verdict.allRanAndPassed)
        #expect(verdict.lines == ["→ Chapter 4 passed (2 of 2 checks passed)."])
    }

    @Test("a skipped check: not passed, with its reason and what to do")
    func skippedIsNotPassed() {
        let results = Self.results([.passed, .passed, .skipped("could not build the probe — install gcc")])
        let verdict = ChapterVerdict(chapter: 4, results: results, referenceStoodIn: false)
        #expect(!verdict.allRanAndPassed)
        let text = verdict.lines.joined(separator: "\n")
        #expect(text.contains("Chapter 4 not passed: 1 skipped"), "\(text)")
        #expect(text.contains("could not build the probe — install gcc"), "\(text)")
        #expect(text.contains("workbook check 4"), "\(text)")
        #expect(ChapterVerdict.summary(results) == "2 passed, 0 failed, 1 skipped")
    }

    @Test("a failed check: not passed")
    func failedIsNotPassed() {
        let results = Self.results([.passed, .failed(expected: "a", saw: "b"), .skipped("why")])
        let verdict = ChapterVerdict(chapter: 4, results: results, referenceStoodIn: false)
        #expect(!verdict.allRanAndPassed)
        #expect(verdict.lines == ["→ Chapter 4 not passed: 1 failed, 1 skipped (1 of 3 checks passed)."])
    }

    @Test("the reference stood in: skipped, and says the reference ran")
    func referenceStoodIn() {
        let verdict = ChapterVerdict(chapter: 1, results: Self.results([.passed], chapter: 1), referenceStoodIn: true)
        #expect(verdict.lines.joined().contains("Chapter 1 skipped: the reference ran in place of your code"))
    }

    @Test("no checks at all proves nothing")
    func noChecks() {
        #expect(!ChapterVerdict(chapter: 4, results: [], referenceStoodIn: false).allRanAndPassed)
    }

    @Test("progress: a skipped chapter shows skipped; after the undo, its own last verdict")
    func progressStates() {
        var progress = Progress()
        progress.record(chapter: 2, allRanAndPassed: true)
        progress.skipped.insert(2)
        #expect(progress.state(of: 2) == .skipped)
        progress.skipped.remove(2)
        #expect(progress.state(of: 2) == .passed)
        progress.record(chapter: 2, allRanAndPassed: false)
        #expect(progress.state(of: 2) == .inProgress)
        progress.checkHintsShown["3/pivot"] = 1
        #expect(progress.state(of: 3) == .inProgress)
    }

    @Test("a progress file from an older workbook still loads")
    func oldProgressFileLoads() throws {
        let old = #"{"passed":[0],"skipped":[1],"attempted":[],"hintsShown":{"0":2}}"#
        let progress = try JSONDecoder().decode(Progress.self, from: Data(old.utf8))
        #expect(progress.passed == [0] && progress.skipped == [1] && progress.hintsShown["0"] == 2)
        #expect(progress.checkHintsShown.isEmpty)
    }

    @Test("the stand-in's mount table leaves out what differs between two identical tables")
    func mountTableDifference() {
        #expect(StandInHost.difference(["a", "b", "b", "c"], ["b", "a"]) == ["b", "c"])
        #expect(StandInHost.splitCgroupLine("4:memory:/user.slice")! == ("memory", "/user.slice"))
        #expect(StandInHost.splitCgroupLine("0::/x")! == ("", "/x"))
    }
}
