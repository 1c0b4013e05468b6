import Foundation
import Testing

@testable import Workbook

/// `workbook reset N` in a git repository of its own (a copy of the chapters and the
/// exercises), so this checkout's working tree is never touched.
@Suite struct WorkbookResetTests {
    @Test func resetRestoresOneChapterAndAsksFirst() throws {
        let root = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for item in ["Package.swift", "chapters", "exercises"] {
            try FileManager.default.copyItem(atPath: Support.repository.path(item), toPath: root + "/" + item)
        }
        func git(_ arguments: String...) {
            let result = Support.run(["git", "-C", root, "-c", "user.name=t", "-c", "user.email=t@t"] + arguments)
            #expect(result.status == 0, "git \(arguments): \(result.stderr)")
        }
        git("init", "-q")
        git("add", ".")
        git("commit", "-qm", "stubs")

        let zero = root + "/exercises/00-process/ExitStatus.swift"
        let one = root + "/exercises/01-uts/Hostname.swift"
        let committed = try String(contentsOfFile: zero, encoding: .utf8)
        try (committed + "\n// my attempt\n").write(toFile: zero, atomically: true, encoding: .utf8)
        try "// mine\n".write(toFile: one, atomically: true, encoding: .utf8)
        try "// a file of my own\n".write(toFile: root + "/exercises/00-process/Notes.swift", atomically: true, encoding: .utf8)

        // Not a terminal and no --yes: it refuses and changes nothing.
        let refused = Support.run([Support.workbook, "reset", "0"], directory: root)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("exercises/00-process/ExitStatus.swift") && refused.stderr.contains("--yes"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: zero, encoding: .utf8).hasSuffix("// my attempt\n"))

        let reset = Support.run([Support.workbook, "reset", "0", "--yes"], directory: root)
        #expect(reset.status == 0, "\(reset.stderr)")
        #expect(reset.stdout.contains("back as committed") && reset.stdout.contains("Notes.swift"), "\(reset.stdout)")
        #expect(try String(contentsOfFile: zero, encoding: .utf8) == committed)
        // Only chapter 0: chapter 1's edit and the learner's own file stay.
        #expect(try String(contentsOfFile: one, encoding: .utf8) == "// mine\n")
        #expect(FileManager.default.fileExists(atPath: root + "/exercises/00-process/Notes.swift"))

        let again = Support.run([Support.workbook, "reset", "0"], directory: root)
        #expect(again.status == 0 && again.stdout.contains("nothing to reset"), "\(again.stdout)")
    }

    @Test func outsideGitItSaysWhy() throws {
        let root = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for item in ["Package.swift", "chapters", "exercises"] {
            try FileManager.default.copyItem(atPath: Support.repository.path(item), toPath: root + "/" + item)
        }
        let reset = Support.run(
            [Support.workbook, "reset", "0", "--yes"], environment: ["GIT_CEILING_DIRECTORIES": (root as NSString).deletingLastPathComponent],
            directory: root)
        #expect(reset.status != 0)
        #expect(reset.stderr.contains("git clone"), "\(reset.stderr)")
    }
}
