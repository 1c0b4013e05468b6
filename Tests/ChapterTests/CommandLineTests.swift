import Checks
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
            let result = Support.run(["scratch", "run", "--rm", "--hostname", "box", "--", "hostname"], environment: ["SCRATCH_HOME": home])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "box\n")
        }

        @Test("scratch run shows only the container: hostname, ps, ls /")
        func scratchShowsOnlyTheContainer() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let result = Support.run(
                ["scratch", "run", "--rm", "--hostname", "box", "--", "sh", "-c", "hostname; ps -o pid,comm; ls /"],
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
            let result = Support.run(["scratch", "run", "--rm", "--", "no-such-tool"], environment: ["SCRATCH_HOME": home])
            #expect(result.status == 127)
            #expect(result.stderr.contains("exec no-such-tool: executable file not found in $PATH"), "\(result.stderr)")
        }

        @Test("without root, scratch runs rootless, and a store it cannot make is named with exit 125")
        func scratchWithoutRoot() throws {
            // Chapter 8: a non-root caller gets a user namespace (RootlessTests runs
            // containers so). Here its HOME is root's, where it can make nothing: the
            // error names the directory, and nothing is left.
            let result = Support.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", Support.scratch, "run", "--", "true"],
                environment: ["HOME": "/root", "XDG_DATA_HOME": "", "XDG_RUNTIME_DIR": "", "SCRATCH_HOME": ""])
            #expect(result.status == 125, "\(result.stderr)")
            #expect(result.stderr.contains("Permission denied") && result.stderr.contains("/root"), "\(result.stderr)")
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

        @Test("scratch rootfs build never builds through a symlink planted at DIR.partial-PID")
        func scratchRootfsBuildPlantedLink() throws {
            // Before: `fs.partial-PID -> victim` (PID guessable; here fixed by a PID
            // namespace) got etc/passwd, etc/group and bin/busybox written into victim
            // — with `-> /`, over the host's own.
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            try FileManager.default.createDirectory(atPath: home + "/victim", withIntermediateDirectories: true)
            for pid in 1...8 {
                try FileManager.default.createSymbolicLink(atPath: home + "/fs.partial-\(pid)", withDestinationPath: home + "/victim")
            }
            let built = Support.run(["unshare", "--pid", "--fork", Support.scratch, "rootfs", "build", home + "/fs"])
            #expect(built.status == 125 && built.stderr.contains("something is already there"), "\(built.status) \(built.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: home + "/victim").isEmpty)
            #expect(!FileManager.default.fileExists(atPath: home + "/fs"))
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

        @Test("workbook run runs in a stand-in host: its own UTS and mount namespaces, and no complaint for the reference")
        func workbookRunsInAStandInHost() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let env = ["WORKBOOK_PROGRESS": home + "/p.json", "SCRATCH_HOME": home + "/scratch"]
            let root = Support.repository.root
            let host = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/uts")
            let hostMounts = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
            // Chapter 0's stage makes no namespace: the command runs where the runtime does.
            let namespaces = Support.run(
                ["workbook", "run", "0", "--reference", "--", "readlink", "/proc/self/ns/uts", "/proc/self/ns/mnt"],
                environment: env, directory: root)
            #expect(namespaces.status == 0, "\(namespaces.stderr)")
            let seen = namespaces.stdout.split(separator: "\n").map(String.init)
            #expect(seen.count == 2 && seen[0] != host && seen[1] != hostMounts, "the runtime ran in the host's namespaces: \(seen)")
            let before = Support.run(["hostname"]).stdout
            let run = Support.run(
                ["workbook", "run", "1", "--reference", "--hostname", "box", "--", "hostname"], environment: env, directory: root)
            #expect(run.status == 0 && run.stdout == "box\n", "\(run.stderr)")
            #expect(!run.stderr.contains("your runtime"), "the reference changed nothing, yet: \(run.stderr)")
            #expect(Support.run(["hostname"]).stdout == before)
            let code = Support.run(["workbook", "run", "0", "--reference", "--", "sh", "-c", "exit 7"], environment: env, directory: root)
            #expect(code.status == 7, "the container's own exit code: \(code.stderr)")
            // Chapter 0's container shares its runtime's namespaces: what it renames and
            // mounts lands on the stand-in, which says so, and never on this machine.
            let point = home + "/mount-point"
            try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
            let changed = Support.run(
                ["workbook", "run", "0", "--reference", "--", "sh", "-c", "mount -t tmpfs none \(point) && hostname stand-in-\(getpid())"],
                environment: env, directory: root)
            #expect(changed.status == 0, "\(changed.stderr)")
            #expect(changed.stderr.contains("the container renamed the host: its name went from"), "\(changed.stderr)")
            #expect(changed.stderr.contains("the container left mounts on the host: \(point)"), "\(changed.stderr)")
            #expect(Support.run(["hostname"]).stdout == before)
            // Only this test's own mount point: other runs may mount and unmount meanwhile.
            #expect(!HostView.mountTable().contains { $0.hasPrefix(point + " ") }, "\(point) is mounted on the host")
        }

        @Test("a skipped chapter is never passed: the reference ran for it, and skipped checks are not passed")
        func workbookSkippedIsNeverPassed() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let env = ["WORKBOOK_PROGRESS": home + "/p.json"]
            let root = Support.repository.root
            #expect(Support.run(["workbook", "skip", "0"], environment: env, directory: root).status == 0)
            let check = Support.run(["workbook", "check", "0"], environment: env, directory: root)
            #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
            #expect(check.stdout.contains("Chapter 0 skipped: the reference ran in place of your code"), "\(check.stdout)")
            #expect(!check.stdout.contains("Chapter 0 passes"), "\(check.stdout)")
            var status = Support.run(["workbook"], environment: env, directory: root)
            #expect(status.stdout.contains("↷ skipped") && !status.stdout.contains("✓ passed"), "\(status.stdout)")
            // After the undo, chapter 0 shows what your own code last did: nothing yet.
            #expect(Support.run(["workbook", "skip", "0", "--undo"], environment: env, directory: root).status == 0)
            status = Support.run(["workbook"], environment: env, directory: root)
            #expect(!status.stdout.contains("✓ passed") && !status.stdout.contains("↷ skipped"), "\(status.stdout)")

            // A check that cannot run (no probe) leaves its chapter not passed.
            let skipped = Support.run(
                ["workbook", "check", "3", "--only", "--reference"],
                environment: env.merging(["WORKBOOK_PROBE": home + "/no-probe"]) { $1 }, directory: root)
            #expect(skipped.status != 0, "\(skipped.stdout)")
            #expect(skipped.stdout.contains("SKIPPED"), "\(skipped.stdout)")
            #expect(skipped.stdout.contains("Chapter 3 not passed: "), "\(skipped.stdout)")
            #expect(skipped.stdout.contains("skipped (chapter 3)"), "\(skipped.stdout)")
            #expect(!skipped.stdout.contains("Chapter 3 passe"), "\(skipped.stdout)")
        }

        @Test("workbook hint N --check ID gives a check's hints one at a time; the lesson's keep their own count")
        func workbookCheckHints() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let env = ["WORKBOOK_PROGRESS": home + "/p.json"]
            let root = Support.repository.root
            let check = try #require(CheckCatalog.checks(for: 1).first { $0.hints.count >= 2 })
            let first = Support.run(["workbook", "hint", "1", "--check", check.id], environment: env, directory: root)
            let second = Support.run(["workbook", "hint", "1", "--check", check.id], environment: env, directory: root)
            #expect(first.status == 0 && second.status == 0, "\(first.stderr)\(second.stderr)")
            #expect(first.stdout.contains(check.hints[0]) && first.stdout.contains("hint 1 of \(check.hints.count)"), "\(first.stdout)")
            #expect(second.stdout.contains(check.hints[1]) && !second.stdout.contains(check.hints[0]), "\(second.stdout)")
            let lesson = Support.run(["workbook", "hint", "1"], environment: env, directory: root)
            #expect(lesson.stdout.contains("Hint 1"), "\(lesson.stdout)")
            let unknown = Support.run(["workbook", "hint", "1", "--check", "no-such-check"], environment: env, directory: root)
            #expect(unknown.status == 125 && unknown.stderr.contains(check.id), "\(unknown.stderr)")
            let data = try Data(contentsOf: URL(fileURLWithPath: home + "/p.json"))
            let progress = try JSONDecoder().decode(Progress.self, from: data)
            #expect(progress.checkHintsShown["1/\(check.id)"] == 2 && progress.hintsShown["1"] == 1)
            #expect(progress.state(of: 1) == .inProgress)
        }

        @Test("workbook solution opens once the chapter is passed or skipped")
        func workbookSolution() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let env = ["WORKBOOK_PROGRESS": home + "/p.json"]
            let root = Support.repository.root
            let closed = Support.run(["workbook", "solution", "0"], environment: env, directory: root)
            #expect(closed.status == 1, "\(closed.stdout)")
            #expect(closed.stderr.contains("workbook check 0") && closed.stderr.contains("workbook skip 0"), "\(closed.stderr)")
            // --force opens it before: the diff of the exercise against the reference's bodies.
            let forced = Support.run(["workbook", "solution", "0", "--force"], environment: env, directory: root)
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(Support.run(["workbook", "skip", "0"], environment: env, directory: root).status == 0)
            let open = Support.run(["workbook", "solution", "0"], environment: env, directory: root)
            #expect(open.status == 0, "\(open.stderr)")
            #expect(open.stdout == forced.stdout)
            #expect(open.stdout.contains("--- exercises/00-process/ExitStatus.swift  (yours)"), "\(open.stdout)")
            #expect(open.stdout.contains("Sources/Runtime/ExitStatus.swift"), "\(open.stdout)")
            // The reference's own lines, as added lines of the diff.
            let reference = try String(contentsOfFile: Support.repository.path("Sources/Runtime/ExitStatus.swift"), encoding: .utf8)
            let someCode = try #require(reference.split(separator: "\n").first { $0.contains("return ExitCode.signalBase") })
            #expect(open.stdout.contains("+" + someCode), "\(open.stdout)")
            if Support.exerciseIsPristine(0) {
                // The stub's own body, as a removed line.
                #expect(open.stdout.contains("-        throw NotDoneYet(chapter: 0"), "\(open.stdout)")
            }
        }

        /// The tests that must edit an exercise work on a copy of the repository (no
        /// .build, no .git), built once here: about 30 s.
        @Test(
            "in a copy of the workbook: an edit is judged from any binary, a compile error shows whole, mistakes on the stand-in host are reported and repaired"
        )
        func workbookJudgesTheCodeOnDisk() throws {
            let copy = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: copy) }
            let copied = Support.run([
                "sh", "-c", "tar -C \"$0\" --exclude=./.build --exclude=./.git -cf - . | tar -C \"$1\" -xf -",
                Support.repository.root, copy,
            ])
            try #require(copied.status == 0, "\(copied.stderr)")
            // The exercises as committed (the stubs), whatever state this checkout's are in:
            // the copy must build with only the files written below changed.
            _ = Support.run([
                "sh", "-c", "git -C \"$0\" archive HEAD exercises | tar -C \"$1\" -xf -", Support.repository.root, copy,
            ])
            // Its own TMPDIR, the same for every run (SwiftPM plans again when the
            // environment changes): SwiftPM's lock files and the checks' work
            // directories go there, and leave with the copy.
            try FileManager.default.createDirectory(atPath: copy + "/tmp", withIntermediateDirectories: true)
            let env = ["WORKBOOK_PROGRESS": copy + "/progress.json", "TMPDIR": copy + "/tmp"]
            let binary = copy + "/.build/debug/workbook"
            func write(_ file: String, _ text: String) throws {
                try text.write(toFile: copy + "/" + file, atomically: false, encoding: .utf8)
            }
            try write(ExerciseFiles.chapter0, ExerciseFiles.exitStatus(signaled: "ExitCode.signalBase + signal"))
            try write(ExerciseFiles.chapter1, ExerciseFiles.hostnameWithoutUTS)
            try write(ExerciseFiles.chapter4, ExerciseFiles.cgroupsJoiningTheRuntime)
            let built = Support.run([copy + "/workbook", "status"], environment: env, directory: copy)
            try #require(built.status == 0, "\(built.stderr)")

            // Chapter 1 without .newUTS renames the stand-in; the machine keeps its name.
            let hostname = Support.run(["hostname"]).stdout
            let name = "mutant-\(getpid())"
            let renamed = Support.run([binary, "run", "1", "--hostname", name, "--", "hostname"], environment: env, directory: copy)
            #expect(renamed.status == 0 && renamed.stdout == name + "\n", "\(renamed.stderr)")
            #expect(renamed.stderr.contains("your runtime renamed the host: its name went from"), "\(renamed.stderr)")
            #expect(renamed.stderr.contains("chapter 1's hostnameNamespace()"), "\(renamed.stderr)")
            #expect(Support.run(["hostname"]).stdout == hostname, "the real host was renamed")

            // Chapter 4 moving the runtime's own pid: it is moved back, its groups removed.
            let joined = Support.run(
                [binary, "run", "4", "--learner-chapters", "4", "--pids-limit", "20", "--", "true"], environment: env, directory: copy)
            #expect(joined.status == 0, "\(joined.stderr)")
            #expect(joined.stderr.contains("your runtime left cgroups on the host: /sys/fs/cgroup/"), "\(joined.stderr)")
            #expect(joined.stderr.contains("chapter 4's joinCgroup(_:pid:)"), "\(joined.stderr)")
            let left = joined.stderr.split(whereSeparator: { " ,.".contains($0) }).filter { $0.hasPrefix("/sys/fs/cgroup/") }
            #expect(!left.isEmpty && left.allSatisfy { !FileManager.default.fileExists(atPath: String($0)) }, "\(left)")

            // An edit after the build is judged at once, from .build/debug/workbook.
            try write(ExerciseFiles.chapter0, ExerciseFiles.exitStatus(signaled: "signal"))
            let broken = Support.run([binary, "check", "0"], environment: env, directory: copy)
            #expect(broken.stderr.contains("exercises/00-process/ExitStatus.swift changed since this workbook was built"), "\(broken.stderr)")
            #expect(broken.status != 0 && broken.stdout.contains("✗") && broken.stdout.contains("Chapter 0 not passed"), "\(broken.stdout)")
            // ... and from the workbook on PATH (another build's), run in the copy.
            try write(ExerciseFiles.chapter0, ExerciseFiles.exitStatus(signaled: "ExitCode.signalBase + signal"))
            let fixed = Support.run(["workbook", "check", "0"], environment: env, directory: copy)
            #expect(fixed.status == 0 && fixed.stdout.contains("Chapter 0 passed"), "\(fixed.stdout)\(fixed.stderr)")

            // A compile error: the compiler's whole diagnostic, in the learner's file; and
            // Swift 6.3's crash on a do/catch with only `catch where` clauses, named.
            try write(ExerciseFiles.chapter0, ExerciseFiles.exitStatusNotCompiling)
            try write(ExerciseFiles.chapter4, ExerciseFiles.cgroupsCrashingSwift63)
            let error = Support.run([binary, "check", "0"], environment: env, directory: copy)
            #expect(error.status == 125, "\(error.stdout)")
            for text in [
                "exercises/00-process/ExitStatus.swift:", "does not conform to protocol 'ExitStatusSteps'",
                "let wrong: Int = \"a\"", "error: cannot convert value of type 'String'",
            ] {
                #expect(error.stderr.contains(text), "missing \(text) in:\n\(error.stderr)")
            }
            let caret = error.stderr.split(separator: "\n").contains { $0.contains("|") && ($0.contains("^") || $0.contains("`- error")) }
            #expect(caret, "no caret line in:\n\(error.stderr)")
            #expect(!error.stderr.contains("Wiring.swift") && !error.stderr.contains("[1/"), "\(error.stderr)")
            if error.stderr.contains("Found ownership error") {
                #expect(error.stderr.contains("exercises/04-cgroups/Cgroups.swift"), "\(error.stderr)")
                #expect(error.stderr.contains("plain catch"), "\(error.stderr)")
                #expect(!error.stderr.contains("Stack dump"), "\(error.stderr)")
            }
            // Reading and hints still work, from the last build.
            let read = Support.run([copy + "/workbook", "read", "0"], environment: env, directory: copy)
            #expect(read.status == 0 && read.stdout.contains("Chapter 0"), "\(read.stderr)")
            #expect(read.stderr.contains("the build failed"), "\(read.stderr)")
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

/// Whole exercise files for the copy of the workbook: a solution, mistakes, and code
/// that does not compile.
enum ExerciseFiles {
    static let chapter0 = "exercises/00-process/ExitStatus.swift"
    static let chapter1 = "exercises/01-uts/Hostname.swift"
    static let chapter4 = "exercises/04-cgroups/Cgroups.swift"

    /// Chapter 0, with `signaled` as the code for a command killed by `signal`.
    static func exitStatus(signaled: String) -> String {
        """
        import Glibc
        import enum Runtime.ExitCode
        import protocol Runtime.ExitStatusSteps
        import Syscalls

        public struct YourExitStatus: ExitStatusSteps {
            public init() {}
            public func exitCode(for status: WaitStatus) throws -> Int32 {
                switch status {
                case .exited(let code): return code
                case .signaled(let signal): return \(signaled)
                }
            }
            public func execFailureExitCode(errno: Int32) throws -> Int32 {
                switch errno {
                case ENOENT, ENOTDIR: return ExitCode.notFound
                default: return ExitCode.cannotExecute
                }
            }
        }

        """
    }

    /// A signature that does not match the protocol, and a type error.
    static let exitStatusNotCompiling = """
        import Glibc
        import enum Runtime.ExitCode
        import protocol Runtime.ExitStatusSteps
        import Syscalls

        public struct YourExitStatus: ExitStatusSteps {
            public init() {}
            public func exitCode(for status: WaitStatus) throws -> Int32 {
                let wrong: Int = "a"
                return 0
            }
            public func execFailureExitCode(errno: Int) throws -> Int32 {
                ExitCode.notFound
            }
        }

        """

    /// Chapter 1 without a UTS namespace: sethostname renames the runtime's host.
    static let hostnameWithoutUTS = """
        import protocol Runtime.HostnameSteps
        import Syscalls

        public struct YourHostname: HostnameSteps {
            public init() {}
            public func hostnameNamespace() throws -> CloneFlags { [] }
            public func setContainerHostname(_ name: String) throws { try setHostname(name) }
        }

        """

    /// Chapter 4 whose joinCgroup moves the runtime (getpid()) instead of the container.
    static let cgroupsJoiningTheRuntime = """
        import Glibc
        import enum Runtime.CgroupMode
        import struct Runtime.CgroupFile
        import protocol Runtime.CgroupSteps
        import struct Runtime.Reference
        import struct Runtime.ResourceLimits

        public struct YourCgroups: CgroupSteps {
            public init() {}
            public func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) throws -> [CgroupFile] {
                Reference().cgroupFiles(for: limits, mode: mode)
            }
            public func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws {
                try Reference().makeCgroup(groups, mode: mode, controllers: controllers)
            }
            public func joinCgroup(_ directories: [String], pid: pid_t) throws {
                try Reference().joinCgroup(directories, pid: getpid())
            }
            public func removeCgroup(_ groups: [String]) throws { try Reference().removeCgroup(groups) }
        }

        """

    /// A loop whose do/catch has only `catch where` clauses: Swift 6.3 crashes on it.
    static let cgroupsCrashingSwift63 = """
        import Glibc
        import enum Runtime.CgroupMode
        import struct Runtime.CgroupFile
        import protocol Runtime.CgroupSteps
        import struct Runtime.NotDoneYet
        import struct Runtime.ResourceLimits
        import Syscalls

        public struct YourCgroups: CgroupSteps {
            public init() {}
            public func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) throws -> [CgroupFile] { [] }
            public func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws {}
            public func joinCgroup(_ directories: [String], pid: pid_t) throws {}
            public func removeCgroup(_ groups: [String]) throws {
                for group in groups {
                    var attempts = 0
                    while true {
                        do {
                            try removeDirectory(group)
                            break
                        } catch where error.errno == ENOENT {
                            break
                        } catch where error.errno == EBUSY && attempts < 200 {
                            attempts += 1
                            usleep(5_000)
                        }
                    }
                }
            }
        }

        """
}
