import Foundation
import Testing

@testable import Workbook

/// `workbook watch`: the watcher sees a save through inotify and by polling, and, in a
/// copy of the workbook, an edit of chapter 0's exercise turns its verdict from ✗ to
/// passed without anyone running a command.
@Suite(.serialized) struct WorkbookWatchTests {
    @Test(arguments: [false, true])
    func aSaveIsSeen(polling: Bool) throws {
        let folder = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/00-process", withIntermediateDirectories: true)
        try "// stub\n".write(toFile: folder + "/00-process/A.swift", atomically: false, encoding: .utf8)
        let watcher = ExerciseWatcher(folder: folder, forcePolling: polling)
        #expect(watcher.polling == polling)
        let seen = Seen()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            seen.names = watcher.waitForChange()
            done.signal()
        }
        usleep(200_000)
        // An editor's swap file is no save of an exercise; the Swift file is.
        try "x".write(toFile: folder + "/00-process/.A.swift.swp", atomically: false, encoding: .utf8)
        try "// mine\n".write(toFile: folder + "/00-process/A.swift", atomically: false, encoding: .utf8)
        if done.wait(timeout: .now() + 5) == .timedOut {
            Issue.record("no change seen in 5 s")
            return
        }
        #expect(seen.names == ["A.swift"])
    }

    final class Seen: @unchecked Sendable {
        var names: [String] = []
    }

    /// A copy of the repository (no .build, no .git), built once: about 30 s or more.
    @Test func anEditTurnsTheVerdict() throws {
        let copy = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let copied = Support.run([
            "sh", "-c",
            "tar -C \"$0\" --exclude=./.build --exclude=./.git -cf - . | tar -C \"$1\" -xf - "
                + "&& git -C \"$0\" archive HEAD exercises | tar -C \"$1\" -xf -",
            Support.repository.root, copy,
        ])
        try #require(copied.status == 0, "\(copied.stderr)")
        try FileManager.default.createDirectory(atPath: copy + "/tmp", withIntermediateDirectories: true)
        let env = ["WORKBOOK_PROGRESS": copy + "/progress.json", "TMPDIR": copy + "/tmp"]
        let built = Support.run([copy + "/workbook", "status"], environment: env, directory: copy)
        try #require(built.status == 0, "\(built.stderr)")

        let output = copy + "/watch.out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: copy + "/.build/debug/workbook")
        watch.arguments = ["watch", "0", "--cycles", "2"]
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in env { environment[key] = value }
        watch.environment = environment
        watch.currentDirectoryURL = URL(fileURLWithPath: copy)
        watch.standardOutput = handle
        watch.standardError = handle
        try watch.run()
        defer {
            if watch.isRunning {
                kill(watch.processIdentifier, SIGKILL)
                watch.waitUntilExit()
            }
        }
        func text() -> String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        func wait(for words: String, seconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if text().contains(words) { return true }
                usleep(100_000)
            }
            return false
        }
        try #require(wait(for: "save to check again", seconds: 60), "\(text())")
        #expect(text().contains("Chapter 0 not passed"), "\(text())")

        try ExerciseFiles.exitStatus(signaled: "ExitCode.signalBase + signal")
            .write(toFile: copy + "/" + ExerciseFiles.chapter0, atomically: false, encoding: .utf8)
        let deadline = Date().addingTimeInterval(120)
        while watch.isRunning && Date() < deadline { usleep(100_000) }
        #expect(!watch.isRunning, "watch did not finish its second run: \(text())")
        let after = text().components(separatedBy: "save to check again").dropFirst().joined()
        #expect(after.contains("exercises/00-process/ExitStatus.swift changed: building"), "\(after)")
        #expect(after.contains("Chapter 0 passed"), "\(after)")
        #expect(after.contains("rebuild ") && after.contains(" · checks "), "\(after)")
        #expect(watch.terminationStatus == 0)

        // Two saves close together, the second while the first one builds or is
        // checked: the verdict watch ends on is the second save's (passed), never the
        // first's. Chapter 0 is wrong again first, so its verdict has to change twice.
        try ExerciseFiles.exitStatus(signaled: "signal")
            .write(toFile: copy + "/" + ExerciseFiles.chapter0, atomically: false, encoding: .utf8)
        let secondOutput = copy + "/watch-twice.out"
        _ = FileManager.default.createFile(atPath: secondOutput, contents: nil)
        let secondHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: secondOutput))
        let twice = Process()
        twice.executableURL = URL(fileURLWithPath: copy + "/.build/debug/workbook")
        twice.arguments = ["watch", "0"]
        twice.environment = environment
        twice.currentDirectoryURL = URL(fileURLWithPath: copy)
        twice.standardOutput = secondHandle
        twice.standardError = secondHandle
        try twice.run()
        defer {
            if twice.isRunning {
                kill(twice.processIdentifier, SIGKILL)
                twice.waitUntilExit()
            }
        }
        func secondText() -> String { (try? String(contentsOfFile: secondOutput, encoding: .utf8)) ?? "" }
        func secondText(after offset: Int) -> String { String(decoding: secondText().utf8.dropFirst(offset), as: UTF8.self) }
        func waitSecond(for words: String, after offset: Int = 0, seconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline && twice.isRunning && !secondText(after: offset).contains(words) { usleep(50_000) }
            return secondText(after: offset).contains(words)
        }
        try #require(waitSecond(for: "save to check again", seconds: 120), "\(secondText())")
        #expect(secondText().contains("Chapter 0 not passed"), "\(secondText())")
        // First save: still wrong (a signal's bare number), in another way than before.
        try ExerciseFiles.exitStatus(signaled: "signal + 1")
            .write(toFile: copy + "/" + ExerciseFiles.chapter0, atomically: false, encoding: .utf8)
        usleep(300_000)
        let beforeSecondSave = secondText().utf8.count
        try ExerciseFiles.exitStatus(signaled: "ExitCode.signalBase + signal")
            .write(toFile: copy + "/" + ExerciseFiles.chapter0, atomically: false, encoding: .utf8)
        #expect(waitSecond(for: "→ Chapter 0 passed", after: beforeSecondSave, seconds: 120), "\(secondText())")
        let verdicts = secondText().split(separator: "\n").filter { $0.contains("→ Chapter 0 ") }
        #expect(verdicts.last?.contains("passed (") == true && verdicts.last?.contains("not passed") == false, "\(secondText())")
        #expect(!String(secondText().utf8.prefix(beforeSecondSave))!.contains("→ Chapter 0 passed"), "\(secondText())")
        kill(twice.processIdentifier, SIGKILL)
        twice.waitUntilExit()

        try savesDuringABuild(copy: copy, environment: environment)
    }

    /// A second save that lands while the first one is built (after the compiler read
    /// the file, before the link ended), on a loaded machine: the verdict watch ends on
    /// is the second save's, and names the sources it was judged on. Watch used to take
    /// the program's modification time (the link's end) for the moment it was built
    /// from the sources: the save, older than that, looked built, and the verdict of
    /// the first save stayed on screen. Three rounds, the second save at a different
    /// point of the build each time; chapters after 0 are skipped, so watch ends when
    /// chapter 0 passes.
    func savesDuringABuild(copy: String, environment base: [String: String]) throws {
        // Two busy loops for the whole test (killed by pid): builds and checks slow down
        // as on a crowded workshop machine, and the windows between reading a file and
        // linking widen.
        var burners: [Process] = []
        defer {
            for burner in burners where burner.isRunning {
                kill(burner.processIdentifier, SIGKILL)
                burner.waitUntilExit()
            }
        }
        for _ in 0..<2 {
            let burner = Process()
            burner.executableURL = URL(fileURLWithPath: "/bin/sh")
            burner.arguments = ["-c", "while :; do :; done"]
            try burner.run()
            burners.append(burner)
        }
        let exercise = copy + "/" + ExerciseFiles.chapter0
        var rebuild = 2.0
        for (round, fraction) in [0.3, 0.55, 0.8].enumerated() {
            try ExerciseFiles.exitStatus(signaled: "signal + \(round + 10)").write(toFile: exercise, atomically: false, encoding: .utf8)
            try #"{"skipped":[1,2,3,4,5,6,7,8,9,10]}"#.write(toFile: copy + "/progress.json", atomically: false, encoding: .utf8)
            let output = copy + "/watch-during-\(round).out"
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            let watch = Process()
            watch.executableURL = URL(fileURLWithPath: copy + "/.build/debug/workbook")
            watch.arguments = ["watch", "0"]
            var environment = base
            environment["NO_COLOR"] = "1"
            watch.environment = environment
            watch.currentDirectoryURL = URL(fileURLWithPath: copy)
            watch.standardOutput = handle
            watch.standardError = handle
            try watch.run()
            defer {
                if watch.isRunning {
                    kill(watch.processIdentifier, SIGKILL)
                    watch.waitUntilExit()
                }
            }
            func text(after offset: Int = 0) -> String {
                String(decoding: ((try? Data(contentsOf: URL(fileURLWithPath: output))) ?? Data()).dropFirst(offset), as: UTF8.self)
            }
            func wait(for words: String, after offset: Int = 0, seconds: Double) -> Bool {
                let deadline = Date().addingTimeInterval(seconds)
                while Date() < deadline && watch.isRunning && !text(after: offset).contains(words) { usleep(20_000) }
                return text(after: offset).contains(words)
            }
            try #require(wait(for: "save to check again", seconds: 120), "round \(round): \(text())")
            // How long a rebuild takes here now, from the last one watch timed.
            if let line = text().split(separator: "\n").last(where: { $0.hasPrefix("rebuild ") }),
                let value = Double(line.dropFirst("rebuild ".count).prefix { $0 != " " })
            {
                rebuild = value
            }
            let beforeSaves = text().utf8.count
            // The first save: still wrong, in another way.
            try ExerciseFiles.exitStatus(signaled: "signal + \(round + 20)").write(toFile: exercise, atomically: false, encoding: .utf8)
            try #require(wait(for: "changed: building", after: beforeSaves, seconds: 30), "round \(round): \(text())")
            usleep(useconds_t(rebuild * fraction * 1e6))
            try ExerciseFiles.exitStatus(signaled: "ExitCode.signalBase + signal").write(toFile: exercise, atomically: false, encoding: .utf8)
            let deadline = Date().addingTimeInterval(90)
            while watch.isRunning && Date() < deadline { usleep(50_000) }
            let after = text(after: beforeSaves)
            #expect(
                !watch.isRunning,
                "round \(round) (second save \(fraction) of a \(rebuild) s rebuild in): watch never judged the second save: \(after)")
            let verdicts = after.split(separator: "\n").filter { $0.contains("→ Chapter 0 ") }
            #expect(verdicts.last?.contains("→ Chapter 0 passed") == true, "round \(round): \(after)")
            // The verdict names the sources it was judged on: those on disk at the end.
            let judged = after.split(separator: "\n").filter { $0.hasPrefix("Judged: ") }
            let onDisk = Freshness.snapshot(of: Repository(root: copy)).fingerprint
            #expect(judged.last?.contains("#\(onDisk))") == true, "round \(round): on disk #\(onDisk): \(after)")
        }
    }
}
