import Foundation
import Glibc
import Testing

extension ContainerTests.ReliabilityTests {
    /// What one SIGKILLed runtime was doing when it died, as seen from the host.
    struct Kill {
        let index: Int
        let limits: Bool
        let delay: Double
        /// The runtime's descendants at the moment of the kill (the container).
        let descendants: [(pid: pid_t, start: String)]
        /// The container ids the runtime was working on (its open files, its
        /// children's cgroups).
        let ids: Set<String>
        /// Ids of cgroups or state directories that appeared while it ran: ours,
        /// unless another run on this host started in the same milliseconds.
        let appeared: Set<String>
        var survivors: [(pid: pid_t, start: String)] = []
        var mountsLeft: [String] = []
        var status: Int32 = 0
    }

    /// SIGKILL cannot be caught: a runtime killed at any point must leave nothing a
    /// later run cannot clean. At a random point 0–50 ms after its start, the
    /// runtime is stopped (SIGSTOP, so it makes no new child while we look), its
    /// descendants and ids are read from /proc, and it is SIGKILLed. Then: no process
    /// of the run may be left (the container dies with its runtime), no mount; and
    /// after the next `scratch run`, no cgroup and no state directory of those ids.
    @Test("SIGKILL of scratch at random points leaves no process, no mount, and after the next run no cgroup or state")
    func killedAtRandomPoints() throws {
        let root = try Host.makeTestRoot("kill")
        let home = root + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
        var kills: [Kill] = []
        defer { Self.cleanUp(after: kills, root: root) }
        let mountsBefore = Host.relevantMounts(root: root)
        let warm = Host.runScratch(["run", "--", "true"], home: home, scratchDirectory: root)
        try #require(warm.status == 0, "the warm-up run failed: \(warm.stderr)")

        let start = Date()
        var generator = SystemRandomNumberGenerator()
        for index in 0..<Host.size {
            let limits = index % 2 == 1
            let delay = Double.random(in: 0...0.050, using: &generator)
            kills.append(killOnce(index: index, limits: limits, delay: delay, home: home, root: root))
        }
        let killTime = Date().timeIntervalSince(start)

        // The next run removes what dead runtimes left.
        let next = Host.runScratch(["run", "--", "true"], home: home, scratchDirectory: root)
        #expect(next.status == 0, "the next run failed: \(next.stderr)")
        let running = Host.runScratch(["ps", "-q"], home: home, scratchDirectory: root)
        #expect(running.status == 0, "scratch ps -q: exit \(running.status), \(running.stderr)")
        let listed = Set(running.stdout.split(separator: "\n").map(String.init))

        var table = Table(
            "Reliability: SIGKILL of scratch 0–50 ms after its start (RELIABILITY_SIZE=\(Host.size))",
            columns: [
                "runs", "kills", "before clone", "after clone", "processes left", "mounts left", "cgroups left", "state left",
                "listed by ps", "time",
            ])
        var leftCgroups: [String: [String]] = [:]
        var leftState: [String] = []
        for limits in [false, true] {
            let group = kills.filter { $0.limits == limits }
            var cgroups = 0
            var states = 0
            var inPs = 0
            for kill in group {
                for id in kill.ids {
                    let directories = Host.cgroupDirectories(of: id)
                    if !directories.isEmpty {
                        cgroups += 1
                        leftCgroups[id] = directories
                    }
                    if FileManager.default.fileExists(atPath: Host.stateDirectory(of: id)) {
                        states += 1
                        leftState.append(id)
                    }
                    if listed.contains(id) { inPs += 1 }
                }
                // Ids seen to appear during the run but not tied to it by /proc: an
                // empty group of them is a leftover all the same.
                for id in kill.appeared.subtracting(kill.ids) where !Host.cgroupHoldsProcesses(id) {
                    let directories = Host.cgroupDirectories(of: id)
                    if !directories.isEmpty {
                        cgroups += 1
                        leftCgroups[id] = directories
                    }
                }
            }
            let afterClone = group.filter { !$0.descendants.isEmpty }.count
            table.add([
                limits ? "sleep 5, --memory 64m --pids-limit 64" : "sleep 5", "\(group.count)", "\(group.count - afterClone)",
                "\(afterClone)", "\(group.map(\.survivors.count).reduce(0, +))", "\(group.map(\.mountsLeft.count).reduce(0, +))",
                "\(cgroups)", "\(states)", "\(inPs)", seconds(killTime * Double(group.count) / Double(max(1, kills.count))),
            ])
        }
        table.print()

        // Counts in the expectations, a few examples in the messages: 200 ids would
        // bury the table.
        let survivors = kills.flatMap { kill in kill.survivors.map { "run \(kill.index): pid \($0.pid)" } }
        let survivorCount = survivors.count
        #expect(survivorCount == 0, "processes outlived their killed runtime, e.g. \(survivors.prefix(5))")
        let mounts = kills.flatMap(\.mountsLeft)
        let mountCount = mounts.count
        #expect(mountCount == 0, "mounts left, e.g. \(mounts.prefix(5))")
        let cgroupCount = leftCgroups.count
        #expect(cgroupCount == 0, "ids that kept a cgroup after the next run, e.g. \(leftCgroups.keys.sorted().prefix(5))")
        let stateCount = leftState.count
        #expect(stateCount == 0, "ids that kept a state directory after the next run, e.g. \(leftState.sorted().prefix(5))")
        let allIDs = kills.reduce(into: Set<String>()) { $0.formUnion($1.ids) }
        let stillListed = listed.intersection(allIDs).count
        #expect(stillListed == 0, "scratch ps -q still lists killed runs, e.g. \(listed.intersection(allIDs).sorted().prefix(5))")
        let mountChanges = Host.mountChanges(mountsBefore, Host.relevantMounts(root: root))
        #expect(mountChanges == nil)
    }

    /// `scratch gc` removes what killed runtimes left, without a run.
    @Test("scratch gc removes the cgroups and state of killed runtimes")
    func gcAfterKills() throws {
        let root = try Host.makeTestRoot("gc")
        let home = root + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
        var kills: [Kill] = []
        defer { Self.cleanUp(after: kills, root: root) }
        let warm = Host.runScratch(["run", "--", "true"], home: home, scratchDirectory: root)
        try #require(warm.status == 0, "the warm-up run failed: \(warm.stderr)")
        // Late kills, once the container runs: each leaves a cgroup (and state) behind.
        let count = max(4, Host.size / 20)
        let start = Date()
        for index in 0..<count {
            let kill = killOnce(
                index: index, limits: index % 2 == 0, delay: 0, home: home, root: root, untilContainerRuns: true)
            kills.append(kill)
        }
        let gc = Host.runScratch(["gc"], home: home, scratchDirectory: root)
        let time = Date().timeIntervalSince(start)
        #expect(gc.status == 0, "scratch gc: exit \(gc.status), \(gc.stderr)")
        let ids = kills.reduce(into: Set<String>()) { $0.formUnion($1.ids) }
        let cgroupsLeft = ids.filter { !Host.cgroupDirectories(of: $0).isEmpty }
        let stateLeft = ids.filter { FileManager.default.fileExists(atPath: Host.stateDirectory(of: $0)) }
        var table = Table(
            "Reliability: scratch gc after SIGKILLs of running containers",
            columns: ["kills", "ids seen", "gc exit", "cgroups left", "state left", "time"])
        table.add(["\(count)", "\(ids.count)", "\(gc.status)", "\(cgroupsLeft.count)", "\(stateLeft.count)", seconds(time)])
        table.print()
        #expect(ids.count == count, "each killed run should show its id (cgroup of its container, or its state files)")
        let cgroupCount = cgroupsLeft.count
        let stateCount = stateLeft.count
        #expect(cgroupCount == 0, "cgroups left after scratch gc, e.g. \(cgroupsLeft.sorted().prefix(5))")
        #expect(stateCount == 0, "state left after scratch gc, e.g. \(stateLeft.sorted().prefix(5))")
    }

    /// Starts `scratch run -- sleep 5`, waits `delay` (or until the container's
    /// command runs), stops it, reads what it made, SIGKILLs it, and checks that its
    /// processes and mounts go.
    func killOnce(
        index: Int, limits: Bool, delay: Double, home: String, root: String, untilContainerRuns: Bool = false
    ) -> Kill {
        let idsBefore = Host.cgroupIDs().union(stateIDs())
        let arguments = ["run"] + (limits ? ["--memory", "64m", "--pids-limit", "64"] : []) + ["--", "sleep", "5"]
        let output = root + "/out/kill-\(index)"
        defer {
            unlink(output + ".out")
            unlink(output + ".err")
        }
        guard let pid = Host.spawnScratch(arguments, home: home, output: output) else {
            return Kill(index: index, limits: limits, delay: delay, descendants: [], ids: [], appeared: [])
        }
        if untilContainerRuns {
            // The container's command is running once a grandchild or child execs sleep.
            let deadline = Date().addingTimeInterval(5)
            while Date() < deadline && !Host.descendants(pid).contains(where: { Host.read("/proc/\($0.pid)/comm") == "sleep\n" }) {
                usleep(1000)
            }
        } else {
            usleep(useconds_t(delay * 1_000_000))
        }
        Glibc.kill(pid, SIGSTOP)
        // Wait until it is really stopped (or already gone): a clone in flight
        // finishes first, and its child must be in the list below.
        let deadline = Date().addingTimeInterval(1)
        while let state = Host.state(pid), state != "T", state != "Z", Date() < deadline { usleep(200) }
        let descendants = Host.descendants(pid)
        let ids = Host.ids(ofRuntime: pid, children: descendants.map(\.pid))
        let appeared = Host.cgroupIDs().union(stateIDs()).subtracting(idsBefore)
        Glibc.kill(pid, SIGKILL)
        let status = Host.wait(pid)
        var kill = Kill(index: index, limits: limits, delay: delay, descendants: descendants, ids: ids, appeared: appeared)
        kill.status = status
        kill.survivors = Host.waitGone(descendants, timeout: 5)
        kill.mountsLeft = Host.mountPoints(under: root)
        return kill
    }

    func stateIDs() -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: Host.stateRoot)) ?? []).filter(Host.looksLikeID))
    }

    /// Whatever a failure left: processes (by pid and start time), cgroups, state —
    /// then the test's directory.
    static func cleanUp(after kills: [Kill], root: String) {
        for kill in kills {
            for process in kill.descendants where Host.isAlive(process.pid, start: process.start) { Glibc.kill(process.pid, SIGKILL) }
        }
        _ = Host.waitGone(kills.flatMap(\.descendants), timeout: 5)
        for id in kills.reduce(into: Set<String>(), { $0.formUnion($1.ids) }) { Host.removeLeftovers(of: id) }
        Host.removeTestRoot(root)
    }
}
