import Foundation
import Glibc
import Testing

/// The whole suite runs one test at a time: each one loads the 2-core machine on
/// purpose, and its timings and host checks mean most with nothing else of ours
/// running. `swift test --filter Reliability` runs it.
// Part of ContainerTests, so it never runs beside the other suites that time signals
// and CPU on this 2-core machine (or beside the emulated cgroup v2 VM).
extension ContainerTests {
    @Suite struct ReliabilityTests {}
}

extension ContainerTests.ReliabilityTests {
    /// Many containers at once, as CI runners and scripts start them: with and
    /// without limits, on a cold cache (every run of the first batch finds an empty
    /// SCRATCH_HOME and the default rootfs must be built once, under a lock) and on a
    /// warm one. Every run must succeed with the right output.
    @Test("parallel runs: cold and warm cache, with and without limits, all succeed")
    func parallelRuns() throws {
        let root = try Host.makeTestRoot("parallel")
        defer { Host.removeTestRoot(root) }
        let mountsBefore = Host.relevantMounts(root: root)
        let width = 8
        let total = Host.size
        // A few cold batches, each on its own empty home: the race on the first
        // build is met several times, not once.
        let coldBatches = max(1, min(4, total / 50))
        var jobs: [Job] = []
        for batch in 0..<coldBatches {
            let home = root + "/home-cold-\(batch)"
            for slot in 0..<width where jobs.count < total {
                jobs.append(Job(index: jobs.count, home: home, limits: slot % 2 == 1, cold: true))
            }
        }
        let warmHome = root + "/home-cold-0"
        while jobs.count < total {
            jobs.append(Job(index: jobs.count, home: warmHome, limits: jobs.count % 2 == 1, cold: false))
        }
        for batch in 0..<coldBatches {
            try FileManager.default.createDirectory(atPath: root + "/home-cold-\(batch)", withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)

        // The cold batches one after another (each batch all at once, on its empty
        // home), then the warm runs through a window of `width`.
        var results: [JobResult] = []
        for batch in 0..<coldBatches {
            let home = root + "/home-cold-\(batch)"
            results += runPool(jobs.filter { $0.cold && $0.home == home }, width: width, root: root)
        }
        results += runPool(jobs.filter { !$0.cold }, width: width, root: root)

        var table = Table(
            "Reliability: \(total) parallel runs, \(width) at a time (RELIABILITY_SIZE=\(total))",
            columns: ["runs", "cache", "limits", "ran", "passed", "failed", "median", "slowest", "time"])
        for cold in [true, false] {
            for limits in [false, true] {
                let group = results.filter { $0.job.cold == cold && $0.job.limits == limits }
                guard !group.isEmpty else { continue }
                let times = group.map(\.seconds).sorted()
                let passed = group.filter(\.passed).count
                let wall = (group.map(\.end).max() ?? 0) - (group.map(\.start).min() ?? 0)
                table.add([
                    cold ? "first batch on an empty SCRATCH_HOME" : "rootfs already built", cold ? "cold" : "warm",
                    limits ? "--memory 64m --pids-limit 64" : "none", "\(group.count)", "\(passed)", "\(group.count - passed)",
                    milliseconds(times[times.count / 2]), milliseconds(times.last ?? 0), seconds(wall),
                ])
            }
        }
        let passed = results.filter(\.passed).count
        table.add(["all", "", "", "\(results.count)", "\(passed)", "\(results.count - passed)", "", "", ""])
        table.print()

        for failure in results.filter({ !$0.passed }).prefix(5) {
            Issue.record(
                "run \(failure.job.index) (\(failure.job.cold ? "cold" : "warm"), limits \(failure.job.limits)): exit \(failure.status), stdout \(failure.stdout.debugDescription), stderr \(failure.stderr.debugDescription)"
            )
        }
        #expect(passed == total, "\(total - passed) of \(total) runs failed")
        // The default image was built once per home and nothing half-made was left: one
        // layer in the store, no partial one beside it, and the image naming it.
        for batch in 0..<coldBatches {
            let home = root + "/home-cold-\(batch)"
            // (.lock is the lock the builders took: it stays, empty, for the next.)
            let layers = ((try? FileManager.default.contentsOfDirectory(atPath: home + "/layers")) ?? []).filter { $0 != ".lock" }
            #expect(layers.count == 1 && layers.allSatisfy { $0.count == 64 }, "home \(batch) holds layers \(layers), not just the one built")
            #expect(FileManager.default.fileExists(atPath: home + "/images/busybox/latest"), "home \(batch) has no busybox image")
        }
        let mountChanges = Host.mountChanges(mountsBefore, Host.relevantMounts(root: root))
        #expect(mountChanges == nil)
        // Each finished run removed its own cgroup and state.
        let ids = results.compactMap(\.id)
        let cgroupsLeft = ids.filter { !Host.cgroupDirectories(of: $0).isEmpty }
        let stateLeft = ids.filter { FileManager.default.fileExists(atPath: Host.stateDirectory(of: $0)) }
        #expect(cgroupsLeft.isEmpty, "finished runs left cgroups: \(cgroupsLeft.prefix(5))")
        #expect(stateLeft.isEmpty, "finished runs left state directories: \(stateLeft.prefix(5))")
        for id in cgroupsLeft + stateLeft { Host.removeLeftovers(of: id) }
    }

    struct Job {
        let index: Int
        let home: String
        let limits: Bool
        let cold: Bool

        var arguments: [String] {
            // `hostname` prints the container's id (the default hostname): the test
            // can then look for that id's cgroup and state once the run is over.
            ["run"] + (limits ? ["--memory", "64m", "--pids-limit", "64"] : []) + ["--", "sh", "-c", "echo run-\(index); hostname"]
        }
    }

    struct JobResult {
        let job: Job
        let status: Int32
        let stdout: String
        let stderr: String
        let start: Double
        let end: Double
        var seconds: Double { end - start }
        var lines: [Substring] { stdout.split(separator: "\n", omittingEmptySubsequences: false) }
        var id: String? { lines.count == 3 && Host.looksLikeID(String(lines[1])) ? String(lines[1]) : nil }
        var passed: Bool { status == 0 && lines.first == "run-\(job.index)" && id != nil }
    }

    /// Runs the jobs, at most `width` at once; each child is reaped by its own pid.
    func runPool(_ jobs: [Job], width: Int, root: String) -> [JobResult] {
        var waiting = jobs[...]
        var running: [(job: Job, pid: pid_t, start: Double)] = []
        var results: [JobResult] = []
        func now() -> Double { Date().timeIntervalSinceReferenceDate }
        while !waiting.isEmpty || !running.isEmpty {
            while running.count < width, let job = waiting.popFirst() {
                let start = now()
                if let pid = Host.spawnScratch(job.arguments, home: job.home, output: root + "/out/\(job.index)") {
                    running.append((job, pid, start))
                } else {
                    results.append(JobResult(job: job, status: -1, stdout: "", stderr: "posix_spawn failed", start: start, end: start))
                }
            }
            var finished = false
            running.removeAll { entry in
                guard let status = Host.poll(entry.pid) else { return false }
                finished = true
                let base = root + "/out/\(entry.job.index)"
                results.append(
                    JobResult(
                        job: entry.job, status: Host.Output.exitCode(status), stdout: Host.read(base + ".out"),
                        stderr: Host.read(base + ".err"), start: entry.start, end: now()))
                return true
            }
            if !finished { usleep(1000) }
        }
        return results
    }
}
