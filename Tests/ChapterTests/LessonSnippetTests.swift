import Foundation
import Testing
import Workbook

/// Every ```sh block a chapter tells the reader to run, run as the reader would:
/// from the repository's root, with `scratch` and `workbook` on PATH. It must succeed
/// and leave the host's mounts as it found them.
extension ContainerTests {
    @Suite struct LessonSnippetTests {
        struct Snippet: CustomTestStringConvertible, Sendable {
            let file: String
            let index: Int
            let code: String
            var testDescription: String { "\(file) snippet \(index + 1)" }
        }

        static let snippets: [Snippet] = {
            let folder = Support.repository.path("chapters")
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".md") }.sorted()
            return files.flatMap { file -> [Snippet] in
                let text = (try? String(contentsOfFile: folder + "/" + file, encoding: .utf8)) ?? ""
                return Lesson.shellSnippets(in: text).enumerated().map { Snippet(file: file, index: $0.offset, code: $0.element) }
            }
        }()

        @Test("chapters have snippets to run")
        func thereAreSnippets() {
            #expect(Self.snippets.count >= 4)
        }

        @Test("the snippet runs as written", arguments: snippets)
        func snippetRuns(_ snippet: Snippet) throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let before = HostViewSnapshot.take()
            let result = Support.run(
                ["bash", "-euo", "pipefail", "-c", snippet.code], environment: ["SCRATCH_HOME": home],
                directory: Support.repository.root)
            #expect(
                result.status == 0, "\(snippet.testDescription) failed:\n\(snippet.code)\n--- stdout\n\(result.stdout)\n--- stderr\n\(result.stderr)")
            #expect(HostViewSnapshot.take() == before, "\(snippet.testDescription) left mounts behind")
        }
    }
}

enum HostViewSnapshot {
    static func take() -> [String] { Support.hostFootprint() }
}
