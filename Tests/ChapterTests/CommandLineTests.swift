import Foundation
import Testing
import Workbook

/// `scratch` and `workbook` as a user runs them: output, exit codes, bad input, and
/// nothing left behind.
extension ContainerTests {
    @Suite struct CommandLineTests {
        @Test("scratch run --hostname box -- hostname prints box")
        func scratchHostname() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let result = Support.run(["scratch", "run", "--hostname", "box", "--", "hostname"], environment: ["SCRATCH_HOME": home])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "box\n")
        }

        @Test("scratch run shows only the container: hostname, ps, ls /")
        func scratchShowsOnlyTheContainer() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let result = Support.run(
                ["scratch", "run", "--hostname", "box", "--", "sh", "-c", "hostname; ps -o pid,comm; ls /"],
                environment: ["SCRATCH_HOME": home])
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(lines.first == "box")
            #expect(lines.contains("1 sh"), "\(result.stdout)")
            #expect(lines.contains("bin") && lines.contains("proc") && !lines.contains("work"), "\(result.stdout)")
        }

        /// Each bad input: one clear line, exit 125, and nothing created — no mount, no
        /// rootfs or other file under SCRATCH_HOME.
        @Test(
            "bad input gets a clear error, exit 125, and leaves nothing behind",
            arguments: [
                (["run", "--", ""], "no command given"),
                (["run"], "no command given"),
                (["run", "--bogus", "--", "true"], "Unknown option '--bogus'"),
                (["run", "--hostname", "", "--", "true"], "1 to 64 bytes"),
                (["run", "--hostname", String(repeating: "x", count: 65), "--", "true"], "1 to 64 bytes"),
                (["run", "--rootfs", "/no/such/rootfs", "--", "true"], "/no/such/rootfs does not exist"),
                (["run", "--rootfs", "/etc/hostname", "--", "true"], "is not a directory"),
                (["run", "--rootfs", "/", "--", "true"], "cannot be the host's own /"),
                (["run", "--rootfs", "EMPTY", "--", "true"], "is empty"),
            ])
        func scratchBadInput(arguments: [String], message: String) throws {
            let home = try Support.temporaryDirectory()
            let empty = try Support.temporaryDirectory()
            defer {
                try? FileManager.default.removeItem(atPath: home)
                try? FileManager.default.removeItem(atPath: empty)
            }
            // A rootfs on a read-only filesystem: a read-only bind mount of a directory with a file in it.
            let before = Support.hostFootprint()
            let substituted = arguments.map { $0 == "EMPTY" ? empty : $0 }
            let result = Support.run(["scratch"] + substituted, environment: ["SCRATCH_HOME": home])
            #expect(result.status == 125, "\(result.stderr)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(Support.hostFootprint() == before)
            #expect((try? FileManager.default.contentsOfDirectory(atPath: home)) == [], "SCRATCH_HOME got files")
        }

        @Test("a missing command in the rootfs exits 127 and names it")
        func scratchMissingCommand() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let result = Support.run(["scratch", "run", "--", "no-such-tool"], environment: ["SCRATCH_HOME": home])
            #expect(result.status == 127)
            #expect(result.stderr.contains("exec no-such-tool: executable file not found in $PATH"), "\(result.stderr)")
        }

        @Test("without root, scratch says it needs root and exits 125")
        func scratchNeedsRoot() throws {
            let result = Support.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", Support.scratch, "run", "--", "true"])
            #expect(result.status == 125, "\(result.stderr)")
            #expect(result.stderr.contains("needs root"), "\(result.stderr)")
        }

        @Test("scratch rootfs build makes a busybox rootfs that runs")
        func scratchRootfsBuild() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let built = Support.run(["scratch", "rootfs", "build", home + "/fs"])
            #expect(built.status == 0, "\(built.stderr)")
            #expect(FileManager.default.isExecutableFile(atPath: home + "/fs/bin/sh"))
            let again = Support.run(["scratch", "rootfs", "build", home + "/fs"])
            #expect(again.status == 125, "building over an existing rootfs must refuse")
            let missing = Support.run(["scratch", "rootfs", "build", home + "/fs2"], environment: ["SCRATCH_BUSYBOX": "/no/busybox"])
            #expect(missing.status == 125)
            #expect(missing.stderr.contains("apt-get install -y busybox-static"), "\(missing.stderr)")
        }

        @Test("workbook check on the stubs fails with what was expected, what was seen, and a hint")
        func workbookCheckOnStubs() throws {
            guard Support.exerciseIsPristine(0) else {
                #expect(!Support.inCI)
                return
            }
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let result = Support.run(
                ["workbook", "check", "2"], environment: ["WORKBOOK_PROGRESS": home + "/progress.json"],
                directory: Support.repository.root)
            #expect(result.status != 0)
            for text in [
                "Chapter 0", "✗ exit status 0 passes through", "expected:", "saw:", "hint:",
                "not done yet — see exercises/00-process/ExitStatus.swift", "Chapter 2", "not done yet — see exercises/01-uts/Hostname.swift",
                "0 passed",
            ] {
                #expect(result.stdout.contains(text), "missing \(text) in:\n\(result.stdout)")
            }
            let status = Support.run(["workbook"], environment: ["WORKBOOK_PROGRESS": home + "/progress.json"], directory: Support.repository.root)
            #expect(status.stdout.contains("in progress"), "\(status.stdout)")
        }

        @Test("workbook check --reference passes, and records no progress")
        func workbookCheckReference() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let result = Support.run(
                ["workbook", "check", "2", "--reference"], environment: ["WORKBOOK_PROGRESS": home + "/p.json"],
                directory: Support.repository.root)
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains(" passed, 0 failed"))
            #expect(!FileManager.default.fileExists(atPath: home + "/p.json"))
        }

        @Test("workbook skip makes the reference stand in for a chapter")
        func workbookSkip() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let env = ["WORKBOOK_PROGRESS": home + "/p.json"]
            let root = Support.repository.root
            #expect(Support.run(["workbook", "skip", "0"], environment: env, directory: root).status == 0)
            #expect(Support.run(["workbook", "skip", "1"], environment: env, directory: root).status == 0)
            let run = Support.run(["workbook", "run", "1", "--hostname", "box", "--", "hostname"], environment: env, directory: root)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout == "box\n")
            let status = Support.run(["workbook"], environment: env, directory: root)
            #expect(status.stdout.contains("↷ skipped"))
        }

        @Test("workbook read shows the lesson without its hints; workbook hint gives them one at a time")
        func workbookReadAndHint() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let env = ["WORKBOOK_PROGRESS": home + "/p.json"]
            let root = Support.repository.root
            let read = Support.run(["workbook", "read", "0"], environment: env, directory: root)
            #expect(read.status == 0)
            #expect(read.stdout.contains("Chapter 0"))
            #expect(!read.stdout.contains("Hint 1"), "hints must stay hidden in read")
            let first = Support.run(["workbook", "hint", "0"], environment: env, directory: root)
            let second = Support.run(["workbook", "hint", "0"], environment: env, directory: root)
            #expect(first.stdout.contains("Hint 1") && first.stdout.contains("hint 1 of"))
            #expect(second.stdout.contains("Hint 2") && !second.stdout.contains("Hint 1"))
        }

        @Test(
            "workbook rejects a chapter that does not exist with exit 125",
            arguments: [
                ["read", "99"], ["check", "99"], ["run", "99", "--", "true"], ["hint", "42"], ["skip", "77"],
            ])
        func workbookBadChapter(arguments: [String]) throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let result = Support.run(
                ["workbook"] + arguments, environment: ["WORKBOOK_PROGRESS": home + "/p.json"],
                directory: Support.repository.root)
            #expect(result.status == 125, "\(result.stderr)")
            #expect(result.stderr.contains("there is no chapter"), "\(result.stderr)")
        }
    }
}
