import Foundation
import Glibc
import Runtime

// Chapter 4 — limits: the container runs in a cgroup of its own, its limits hold,
// and the group is gone when the container is. Each check runs on whatever cgroup
// mode the host has, and says which it saw.

let chapter4Checks: [Check] = [
    Check(
        "cgroup-joined", chapter: 4, "/proc/self/cgroup inside shows the container's own group",
        hints: [
            "The parent writes the child's pid to cgroup.procs in the container's group — in every hierarchy on v1 — before it lets the child go on.",
            "joinCgroup(directories, pid:): for each directory, writeControlFile(directory + \"/cgroup.procs\", String(pid)).",
            "With no limit flag cgroupFiles must still return (an empty list): the group is made all the same.",
        ]
    ) { context in
        guard let mode = HostCgroups.mode() else { return .skipped("/sys/fs/cgroup holds no cgroup filesystem") }
        // The default hostname is the container's id, and the group is scratch/<id>.
        let result = context.run(["sh", "-c", "hostname; cat /proc/self/cgroup"])
        let lines = result.stdout.split(separator: "\n", maxSplits: 1)
        guard result.status == 0, lines.count == 2 else {
            return .failed(expected: "hostname and /proc/self/cgroup printed" + HostCgroups.note(mode), saw: describe(result))
        }
        let id = String(lines[0]).trimmed
        let groups = HostCgroups.groups(inProcCgroup: String(lines[1]))
        let controllers = mode == .v2 ? [""] : ["memory", "pids", "cpu"].filter { HostCgroups.hasController($0, mode: mode) }
        let wrong = controllers.filter { groups[$0] != "/scratch/\(id)" }
        return expect(
            !controllers.isEmpty && wrong.isEmpty,
            "/scratch/\(id) as the group in " + (mode == .v2 ? "the unified tree (0::)" : controllers.joined(separator: ", "))
                + HostCgroups.note(mode),
            saw: describe(result))
    },

    Check(
        "pids-limit", chapter: 4, "with --pids-limit 20 forks are refused near 20, and the host is unaffected",
        hints: [
            "pids.max holds the number of processes (and threads) the group may have; past it fork(2) fails with EAGAIN.",
            "cgroupFiles: for limits.pids, CgroupFile(\"pids.max\", String(pids)) — the same name on v1 and v2.",
        ]
    ) { context in
        guard let mode = HostCgroups.mode() else { return .skipped("/sys/fs/cgroup holds no cgroup filesystem") }
        guard HostCgroups.hasController("pids", mode: mode) else { return .skipped(HostCgroups.missing("pids", mode: mode)) }
        guard let probe = context.probe else { return .skipped(context.probeProblem ?? "no probe") }
        let result = context.run([probe, "fork-until-refused"], options: ["--pids-limit", "20"], timeout: 60)
        let forked = result.stdout.split(separator: "\n").first { $0.hasPrefix("forked ") }
            .flatMap { Int($0.dropFirst("forked ".count)) }
        // The host can still fork plenty once the container is gone.
        // (Thirty processes at once, started from here: a shell's `wait` would hang when
        // the test harness runs us with SIGCHLD blocked.)
        let sleepers = (0..<30).map { _ in RunningProcess(["sleep", "0.2"], environment: context.environment, outputDirectory: context.workDirectory)
        }
        let finished = sleepers.map { $0.wait(timeout: 10) }.filter { $0.status == 0 }.count
        let host = RunResult(status: 0, stdout: finished == 30 ? "host-ok" : "only \(finished) of 30 ran", stderr: "", timedOut: false)
        return all(
            expect(
                result.status == 0 && forked.map { (10...20).contains($0) } == true,
                "the probe to fork between 10 and 20 children before fork is refused" + HostCgroups.note(mode),
                saw: describe(result)),
            expect(host.stdout.contains("host-ok"), "the host to fork 30 processes afterwards", saw: describe(host)))
    },

    Check(
        "memory-limit", chapter: 4, "with --memory 32m, 64 MiB ends in an OOM kill (exit 137, reported) and 16 MiB fits",
        hints: [
            "v2: memory.max; v1: memory.limit_in_bytes — in bytes. When the group's usage cannot stay under it, the kernel's OOM killer kills a process in it with SIGKILL: 128+9 = 137.",
            "Set swap too, or the container swaps past the limit: v2 memory.swap.max = 0; v1 memory.memsw.limit_in_bytes = the same value as memory.limit_in_bytes, written after it.",
        ]
    ) { context in
        guard let mode = HostCgroups.mode() else { return .skipped("/sys/fs/cgroup holds no cgroup filesystem") }
        guard HostCgroups.hasController("memory", mode: mode) else { return .skipped(HostCgroups.missing("memory", mode: mode)) }
        guard let probe = context.probe else { return .skipped(context.probeProblem ?? "no probe") }
        let tooMuch = context.run([probe, "alloc", "64"], options: ["--memory", "32m"], timeout: 30)
        let fits = context.run([probe, "alloc", "16"], options: ["--memory", "32m"], timeout: 30)
        return all(
            expect(
                tooMuch.status == 137 && tooMuch.stderr.contains("out of memory") && !tooMuch.stdout.contains("allocated"),
                "probe alloc 64 to be OOM-killed: exit 137, and the runtime saying \"out of memory\" on stderr" + HostCgroups.note(mode),
                saw: describe(tooMuch)),
            expect(
                fits.status == 0 && fits.stdout.contains("allocated 16"),
                "probe alloc 16 to succeed under --memory 32m" + HostCgroups.note(mode), saw: describe(fits)))
    },

    Check(
        "cpu-limit", chapter: 4, "with --cpus 0.2, two seconds of spinning use about 0.4 s of CPU",
        hints: [
            "CFS bandwidth: the group may use QUOTA µs of CPU time in every PERIOD µs. --cpus 0.2 is 20000 of 100000.",
            "v2: cpu.max = \"20000 100000\"; v1: cpu.cfs_period_us = 100000, then cpu.cfs_quota_us = 20000. limits.cpuQuotaMicroseconds has the quota.",
        ]
    ) { context in
        guard let mode = HostCgroups.mode() else { return .skipped("/sys/fs/cgroup holds no cgroup filesystem") }
        guard HostCgroups.hasController("cpu", mode: mode) else { return .skipped(HostCgroups.missing("cpu", mode: mode)) }
        if mode == .v1 && !HostCgroups.hasController("cpuacct", mode: mode) {
            return .skipped("this host has no cpuacct controller (\(mode)) to measure the CPU time with")
        }
        guard let probe = context.probe else { return .skipped(context.probeProblem ?? "no probe") }
        // Spin, then sleep: the usage is read from the host while the container sleeps,
        // before the runtime removes the group.
        let running = context.start(["sh", "-c", "\(probe) spin 2; sleep 2"], options: ["--cpus", "0.2"])
        let pid = running.containerPID()
        var groups: [String: String] = [:]
        var seconds: Double?
        var usageFile = ""
        // Read the groups once the container runs its command (before the go-ahead
        // the child is still in the runtime's groups), and only a group of its own:
        // the root's usage would be the whole machine's.
        if running.waitForOutput("spun", timeout: 15), let pid {
            groups = HostCgroups.groups(of: String(pid)).filter { $0.value != "/" }
            switch mode {
            case .v1:
                if let path = groups["cpuacct"] {
                    usageFile = HostCgroups.directory(path, controller: "cpuacct", mode: mode) + "/cpuacct.usage"
                    seconds = (try? String(contentsOfFile: usageFile, encoding: .utf8)).flatMap { Double($0.trimmed) }.map { $0 / 1e9 }
                }
            case .v2:
                if let path = groups[""] {
                    usageFile = HostCgroups.directory(path, controller: "", mode: mode) + "/cpu.stat"
                    let text = (try? String(contentsOfFile: usageFile, encoding: .utf8)) ?? ""
                    seconds = text.split(separator: "\n").first { $0.hasPrefix("usage_usec ") }
                        .flatMap { Double($0.dropFirst("usage_usec ".count)) }.map { $0 / 1e6 }
                }
            }
        }
        let result = running.wait(timeout: 15)
        guard let seconds else {
            return .failed(
                expected: "the container to spin in a cgroup of its own whose usage the host can read" + HostCgroups.note(mode),
                saw: "groups \(groups), usage file \(usageFile.isEmpty ? "none" : usageFile); \(describe(result))")
        }
        let shown = (seconds * 100).rounded() / 100
        return all(
            expect(
                seconds >= 0.2 && seconds <= 0.7, "0.2–0.7 s of CPU used in 2 s of spinning" + HostCgroups.note(mode),
                saw: "\(shown) s (from \(usageFile))"),
            expect(result.status == 0, "the container to exit 0", saw: describe(result)))
    },

    Check(
        "no-cgroup-left", chapter: 4, "no cgroup of a container is left, after a run, an OOM kill or a refused start", provesChapter: false,
        hints: [
            "removeCgroup runs on every path out: success, failure after clone, the container killed. It must rmdir the group in every hierarchy, then the scratch parent unless other containers are in it.",
            "rmdir fails with EBUSY while a process is still in the group: killed processes take a moment to leave. Retry every few milliseconds, for up to a second. ENOENT means it is gone already.",
            "The runtime double-checks: a group your removeCgroup left (or an error it threw) is reported as \"remove the cgroup: ...\" and removed for you, so the host stays clean. This check fails on that report.",
            "Bad flags are refused in step 1, before any group exists.",
        ]
    ) { context in
        guard let mode = HostCgroups.mode() else { return .skipped("/sys/fs/cgroup holds no cgroup filesystem") }
        let before = HostCgroups.containerGroups()
        var runs: [(String, RunResult, Int32)] = []
        let good = context.run(["sh", "-c", "hostname"])
        runs.append(("a run of hostname", good, 0))
        runs.append(("a missing program", context.run(["/no/such/program"]), 127))
        runs.append(("--memory 12XB", context.run(["true"], options: ["--memory", "12XB"]), 125))
        runs.append(("--pids-limit 0", context.run(["true"], options: ["--pids-limit", "0"]), 125))
        runs.append(("--cpus abc", context.run(["true"], options: ["--cpus", "abc"]), 125))
        if let probe = context.probe, HostCgroups.hasController("memory", mode: mode) {
            runs.append(("an OOM kill", context.run([probe, "alloc", "64"], options: ["--memory", "32m"], timeout: 30), 137))
        }
        let after = HostCgroups.containerGroups()
        let id = good.stdout.trimmed
        let left = after.subtracting(before).union(id.isEmpty ? [] : after.filter { $0.hasSuffix("/scratch/" + id) })
        var outcomes: [Outcome] = []
        // Bad flags must be refused whatever the exercise does; the other runs' exit
        // codes belong to the chapter's own checks.
        for (name, result, code) in runs where code == 125 {
            outcomes.append(expect(result.status == code, "\(name) to exit \(code)", saw: describe(result)))
        }
        outcomes.append(
            expect(
                left.isEmpty, "no group left under scratch/ in any hierarchy" + HostCgroups.note(mode),
                saw: left.sorted().joined(separator: ", ")))
        // What removeCgroup missed, the runtime reports and removes itself: the host
        // stays clean, and the report is how this check sees the miss.
        for (name, result, _) in runs where result.stderr.contains("remove the cgroup") {
            outcomes.append(
                .failed(
                    expected: "after \(name), the group removed by removeCgroup, with no complaint" + HostCgroups.note(mode),
                    saw: describe(result)))
        }
        return outcomes.first { !$0.isPassed } ?? .passed
    },
]
