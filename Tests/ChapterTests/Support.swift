import Checks
import Foundation
import Runtime
import Testing
import Workbook

/// Where the tests find what they drive: the repository and the built executables.
enum Support {
    static let isRoot = geteuid() == 0
    static let rootReason: Comment = "needs root: containers need namespaces and mounts — run `sudo swift test`"

    static let repository: Repository = {
        // #filePath is Tests/ChapterTests/Support.swift inside the repository.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        return Repository(root: root)
    }()

    /// The directory holding this test binary also holds `scratch` and `workbook`.
    static let binDirectory: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // The test bundle may sit one level deeper (….xctest/…).
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("workbook").path)
            && directory.path != "/"
        {
            directory = directory.deletingLastPathComponent()
        }
        return directory.path
    }()

    static var workbook: String { binDirectory + "/workbook" }
    static var scratch: String { binDirectory + "/scratch" }

    /// True when the chapter's exercise files are exactly as committed: what CI's fresh
    /// clone has, and the only state in which "the stubs fail" can be proven.
    static func exerciseIsPristine(_ chapter: Int) -> Bool {
        guard let folder = ChapterCatalog.chapter(chapter)?.exerciseFolder else { return false }
        let diff = run(["git", "-C", repository.root, "status", "--porcelain", "--", folder])
        return diff.status == 0 && diff.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }

    /// CI must prove the stubs fail; a learner's checkout with finished exercises may not.
    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs a host command to the end (stdout and stderr to files: no pipe can fill up).
    static func run(_ arguments: [String], environment extra: [String: String] = [:], directory: String? = nil) -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = isolatedNetwork(arguments)
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = binDirectory + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["NO_COLOR"] = "1"
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("chapter-tests-\(UUID().uuidString)")
        let out = base.path + ".out"
        let err = base.path + ".err"
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: err)
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        do { try process.run() } catch { return Output(status: -1, stdout: "", stderr: "\(error)") }
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    /// The project's runtimes, run from the machine's network namespace, go into a
    /// throwaway one (`unshare --net`): from chapter 9 a container's default network is
    /// a bridge with NAT rules, which must never be made on the machine.
    static func isolatedNetwork(_ arguments: [String]) -> [String] {
        let runtimes: Set<String> = ["scratch", "workbook", "mutant-runtime", "fd-audit"]
        guard let first = arguments.first, runtimes.contains(URL(fileURLWithPath: first).lastPathComponent) else { return arguments }
        let ours = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        let machine = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/1/ns/net")
        return ours == machine ? ["unshare", "--net", "--"] + arguments : arguments
    }

    /// A fresh temporary directory, for SCRATCH_HOME and progress files.
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("chapter-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// This test run's own temporary directory, made TMPDIR for the whole process: the
    /// checks' work directories (and so their rootfses and mounts) are all under it, so
    /// what this run leaves can be told from what another test run, or a learner's
    /// containers, have on the host at the same time. Removed at exit when empty.
    static let privateTemporaryDirectory: String = {
        let path = "/tmp/chapter-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        setenv("TMPDIR", path, 1)
        atexit {
            let path = "/tmp/chapter-tests-\(getpid())"
            // The probe and the busybox rootfs are cached per run; nothing else may be left.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            where name.hasPrefix("workbook-probe-") || name.hasPrefix("workbook-rootfs-") {
                try? FileManager.default.removeItem(atPath: path + "/" + name)
            }
            rmdir(path)
        }
        return path
    }()

    /// What a run of a runtime can leave on the host, of this test run's making: mounts
    /// on paths under its temporary directory or holding a check's work directory, and
    /// check directories left in it.
    static func hostFootprint() -> [String] {
        let temporary = privateTemporaryDirectory
        let mounts = HostView.mountTable().filter { $0.contains(temporary) }
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [])
            .filter { $0.hasPrefix("workbook-check-") }
        return mounts + leftovers.map { "tmp: \($0)" }
    }

    /// Container groups under scratch/ that appeared since `before` and stay, empty:
    /// a group another container on the host is still using has processes in it, and
    /// one being made or removed is gone (or filled) a moment later.
    static func groupsLeft(since before: Set<String>) -> [String] {
        func isEmpty(_ group: String) -> Bool {
            ((try? String(contentsOfFile: group + "/cgroup.procs", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        }
        // A runtime that a check's time limit killed (SIGKILL) left its group recorded in
        // its state directory: the next run removes it, by design. Be that next run.
        removeLeftovers()
        let candidates = HostCgroups.containerGroups().subtracting(before).filter(isEmpty)
        guard !candidates.isEmpty else { return [] }
        usleep(500_000)
        return candidates.filter { FileManager.default.fileExists(atPath: $0) && isEmpty($0) }.sorted()
    }

    /// Runs `checks` against `runtime` with the Checker, quietly.
    static func runChecks(_ checks: [Check], runtime: [String], stage: Int) throws -> [Checker.Result] {
        _ = privateTemporaryDirectory
        return try Checker(repository: repository, colors: false).run(checks, runtime: runtime, stage: stage, print: false)
    }

    static func describe(_ results: [Checker.Result]) -> String {
        results.map { result in
            switch result.outcome {
            case .passed: return "✓ \(result.check.id)"
            case .skipped(let why): return "- \(result.check.id) SKIPPED: \(why)"
            case .failed(let expected, let saw): return "✗ \(result.check.id): expected \(expected); saw \(saw)"
            }
        }.joined(separator: "\n")
    }
}

/// Everything that runs containers, one test at a time: the checks time signals and
/// reaping on a 2-core machine. Each test compares only what this test run could
/// leave (mounts and directories under its own TMPDIR, new empty groups), so another
/// test run or a learner's containers on the same host do not disturb it.
@Suite(.serialized, .enabled(if: Support.isRoot, Support.rootReason))
struct ContainerTests {}
