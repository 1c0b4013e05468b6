import Checks
import Foundation
import Testing
import Workbook

/// The two masters of the chapters' checks: the reference must pass them all, and
/// the untouched stubs must fail every check that proves its chapter.
///
/// Serialized: the checks time signals and reaping on a 2-core machine.
extension ContainerTests {
    @Suite struct ChapterChecksTests {
        static let chapters = CheckCatalog.chapters

        @Test("the reference passes the chapter's checks at the chapter's own stage", arguments: chapters)
        func referencePasses(chapter: Int) throws {
            let before = Support.hostFootprint()
            let results = try Support.runChecks(
                CheckCatalog.checks(for: chapter),
                runtime: [Support.workbook, "run", String(chapter), "--reference"], stage: chapter)
            #expect(!results.isEmpty)
            #expect(results.allSatisfy { $0.outcome.isPassed }, "\(Support.describe(results))")
            #expect(Support.hostFootprint() == before, "the checks left mounts or directories behind")
        }

        @Test("scratch, the finished runtime, passes every chapter's checks")
        func scratchPassesEverything() throws {
            let before = Support.hostFootprint()
            let last = CheckCatalog.chapters.last ?? 0
            let results = try Support.runChecks(CheckCatalog.checks(through: last), runtime: [Support.scratch, "run"], stage: last)
            #expect(results.count == CheckCatalog.checks(through: last).count)
            #expect(results.allSatisfy { $0.outcome.isPassed }, "\(Support.describe(results))")
            #expect(Support.hostFootprint() == before, "the checks left mounts or directories behind")
        }

        /// Runs against the learner's code for this chapter only (the reference for the
        /// others), so each chapter's stub is proven to be what makes its checks fail.
        @Test("the chapter's checks fail against its untouched exercise stub", arguments: chapters)
        func stubsFail(chapter: Int) throws {
            guard Support.exerciseIsPristine(chapter) else {
                // In CI the clone is fresh: the proof must run. A learner with finished
                // exercises cannot prove it, and is told so rather than shown a false pass.
                #expect(!Support.inCI, "exercises for chapter \(chapter) differ from the commit; CI must run on pristine stubs")
                print("NOTE: chapter \(chapter)'s exercise is edited; the stub-failure proof is not run (it runs in CI).")
                return
            }
            let results = try Support.runChecks(
                CheckCatalog.checks(for: chapter),
                runtime: [Support.workbook, "run", String(chapter), "--learner-chapters", String(chapter)], stage: chapter)
            let proving = results.filter { $0.check.provesChapter }
            #expect(!proving.isEmpty, "chapter \(chapter) has no check that proves it")
            for result in proving {
                #expect(result.outcome.isFailed, "check \(result.check.id) passed against the stub: it cannot tell done from not done")
                if case .failed(_, let saw) = result.outcome {
                    #expect(saw.contains("not done yet"), "check \(result.check.id) failed, but not because of the stub: \(saw)")
                }
            }
        }
    }
}
