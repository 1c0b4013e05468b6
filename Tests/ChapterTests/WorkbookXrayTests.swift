import Foundation
import Syscalls
import Testing

@testable import Workbook

/// `workbook xray ID --once` against a real container started with `scratch run --rm`:
/// the namespaces it made are marked different, its limits shown, its pid 1 shown
/// beside its host pid.
extension ContainerTests {
    @Suite final class WorkbookXrayTests {
        let home: String

        init() throws {
            home = try Support.temporaryDirectory()
        }

        deinit { try? FileManager.default.removeItem(atPath: home) }

        @Test("xray --once shows a running container's namespaces, limits, pids and mounts")
        func onceShowsAContainer() throws {
            let name = "xray-\(getpid() % 100_000)"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Support.scratch)
            process.arguments = [
                "run", "--rm", "--hostname", name, "--memory", "48m", "--pids-limit", "24", "--", "sh", "-c", "sleep 60 & exec sleep 61",
            ]
            process.environment = ["SCRATCH_HOME": home, "PATH": "/usr/bin:/bin"]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // On every way out: the runtime killed, so the kernel kills the container
            // (PR_SET_PDEATHSIG) and the next run or gc removes its state.
            defer {
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                }
            }
            var id = ""
            var hostPID = ""
            for _ in 0..<100 where hostPID.isEmpty {
                Thread.sleep(forTimeInterval: 0.1)
                let ps = Support.run([Support.scratch, "ps"], environment: ["SCRATCH_HOME": home])
                id = ps.stdout.split(separator: "\n").first { $0.hasSuffix(name) }.map { String($0.prefix(12)) } ?? ""
                guard !id.isEmpty, let state = try? String(contentsOfFile: "/run/scratch/\(id)/state", encoding: .utf8) else { continue }
                hostPID = state.split(separator: "\n").first { $0.hasPrefix("pid=") }.map { String($0.dropFirst(4)) } ?? ""
            }
            try #require(!hostPID.isEmpty, "the container did not start")

            let xray = Support.run([Support.workbook, "xray", String(id.prefix(8)), "--once"])
            #expect(xray.status == 0, "\(xray.stderr)")
            let lines = xray.stdout.split(separator: "\n").map(String.init)
            // Not a terminal, NO_COLOR: no escape code at all, and 80 columns.
            #expect(!xray.stdout.contains("\u{1B}"))
            #expect(lines.allSatisfy { $0.count <= 80 }, "\(xray.stdout)")
            #expect(lines.first?.contains(id) == true, "\(xray.stdout)")
            // Its pid 1 beside its pid on the host, on one line, and the child as 2.
            let first = lines.first { $0.split(separator: " ").dropFirst().first == "1" } ?? ""
            #expect(first.split(separator: " ").dropFirst(2).first.map(String.init) == hostPID, "\(xray.stdout)")
            #expect(first.contains("sleep 61"), "\(xray.stdout)")
            #expect(lines.contains { $0.contains("└─ sleep 60") }, "\(xray.stdout)")
            // The namespaces scratch makes are different, the network too (chapter 9's bridge).
            for kind in ["pid", "mnt", "uts", "net"] {
                let line = lines.first { $0.hasPrefix("│ \(kind) ") } ?? ""
                #expect(line.contains("different"), "\(kind): \(xray.stdout)")
            }
            // The limits, from the cgroup the state records.
            #expect(lines.contains { $0.hasPrefix("│ memory") && $0.contains("of 48.0 MiB") }, "\(xray.stdout)")
            #expect(lines.contains { $0.hasPrefix("│ pids") && $0.contains("2 of 24") }, "\(xray.stdout)")
            // The rootfs is the overlay: the busybox image below, the container's layer above.
            #expect(lines.contains { $0.contains("overlay: the rootfs") }, "\(xray.stdout)")
            #expect(lines.contains { $0.contains("upper") && $0.contains("/containers/\(id)/upper") }, "\(xray.stdout)")
            #expect(lines.contains { $0.contains("/proc") && $0.contains("proc") }, "\(xray.stdout)")

            // Without an id: the newest running container (ours, or another's started
            // since; either way one frame and exit 0).
            #expect(Support.run([Support.workbook, "xray", "--once"]).status == 0)
            #expect(Support.run([Support.scratch, "kill", id], environment: ["SCRATCH_HOME": home]).status == 0)
            process.waitUntilExit()
            // Gone: a clear message and exit 1.
            let gone = Support.run([Support.workbook, "xray", id, "--once"])
            #expect(gone.status == 1 && gone.stderr.contains("no running container"), "\(gone.stderr)")
        }

        @Test("xray tells the stand-in host's namespaces from the container's own (workbook run 1)")
        func standInHost() throws {
            // A sleep of its own length, to find this container's record among others'.
            let length = "30.\(getpid() % 100_000)"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Support.workbook)
            process.arguments = ["run", "1", "--reference", "--", "sleep", length]
            process.environment = ["PATH": "/usr/bin:/bin"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            process.currentDirectoryURL = URL(fileURLWithPath: Support.repository.root)
            try process.run()
            defer {
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                }
            }
            var id = ""
            for _ in 0..<100 where id.isEmpty {
                Thread.sleep(forTimeInterval: 0.1)
                for name in (try? FileManager.default.contentsOfDirectory(atPath: "/run/scratch")) ?? [] {
                    let state = (try? String(contentsOfFile: "/run/scratch/\(name)/state", encoding: .utf8)) ?? ""
                    if state.contains("arg=\(length)\n") && state.contains("\npid=") { id = name }
                }
            }
            try #require(!id.isEmpty, "the container did not start")
            let xray = Support.run([Support.workbook, "xray", id, "--once"])
            #expect(xray.status == 0, "\(xray.stderr)")
            let lines = xray.stdout.split(separator: "\n").map(String.init)
            func verdict(_ kind: String) -> String { lines.first { $0.hasPrefix("│ \(kind) ") } ?? "" }
            // Chapter 1 adds a UTS namespace; the mount namespace is the stand-in
            // host's (workbook run's), and there is no PID namespace yet.
            #expect(verdict("uts").contains("different"), "\(xray.stdout)")
            #expect(verdict("mnt").contains("stand-in host"), "\(xray.stdout)")
            #expect(verdict("pid").contains("same"), "\(xray.stdout)")
            #expect(lines.contains { $0.contains("no root of its own") }, "\(xray.stdout)")
            #expect(lines.contains { $0.contains("no cgroup of its own") }, "\(xray.stdout)")
            // Without a PID namespace the pid inside is the host's.
            let first = lines.first { $0.hasPrefix("│ ") && $0.contains("sleep \(length)") } ?? ""
            let numbers = first.split(separator: " ").dropFirst().prefix(2)
            #expect(numbers.count == 2 && numbers.first == numbers.last, "\(xray.stdout)")
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }
}

/// The picture's pieces, without a container.
@Suite struct XrayPictureTests {
    @Test func mountinfoFieldsAreUnescaped() {
        #expect(unescapedMountPath("/srv/my\\040data") == "/srv/my data")
        #expect(unescapedMountPath("/plain") == "/plain")
    }

    @Test func barsAndClipping() {
        let picture = XrayPicture(colors: false)
        #expect(picture.bar(0.5) == String(repeating: "█", count: 12) + String(repeating: "░", count: 12))
        #expect(picture.bar(2) == String(repeating: "█", count: 24))
        let row = picture.row([(String(repeating: "x", count: 100), nil)])
        #expect(row.count == 80 && row.hasSuffix("… │"))
    }

    /// Fake group directories with the files each version has: the v2 path is proven
    /// here without a v2 host, and "max" reads as no limit.
    @Test func limitsOnV1AndV2() throws {
        let root = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        func write(_ files: [String: String], in directory: String) throws {
            try FileManager.default.createDirectory(atPath: root + "/" + directory, withIntermediateDirectories: true)
            for (name, value) in files { try (value + "\n").write(toFile: root + "/" + directory + "/" + name, atomically: false, encoding: .utf8) }
        }
        try write(
            [
                "cgroup.controllers": "cpu memory pids", "memory.current": "1048576", "memory.max": "4194304",
                "pids.current": "3", "pids.max": "max", "cpu.max": "50000 100000", "cpu.stat": "usage_usec 2500000\nuser_usec 1",
            ], in: "v2")
        let v2 = XraySnapshot.readLimits([root + "/v2"])
        #expect(v2.version == "v2")
        #expect(v2.memory?.current == 1_048_576 && v2.memory?.limit == 4_194_304)
        #expect(v2.pids?.current == 3 && v2.pids?.limit == nil)
        #expect(v2.cpuQuota == 0.5 && v2.cpuSeconds == 2.5)
        try write(["memory.usage_in_bytes": "2097152", "memory.limit_in_bytes": "9223372036854771712"], in: "memory")
        try write(["pids.current": "2", "pids.max": "16"], in: "pids")
        try write(["cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000"], in: "cpu")
        try write(["cpuacct.usage": "1500000000"], in: "cpuacct")
        let v1 = XraySnapshot.readLimits(["memory", "pids", "cpu", "cpuacct"].map { root + "/" + $0 })
        #expect(v1.version == "v1")
        #expect(v1.memory?.current == 2_097_152 && v1.memory?.limit == nil)
        #expect(v1.pids?.current == 2 && v1.pids?.limit == 16)
        #expect(v1.cpuQuota == nil && v1.cpuSeconds == 1.5)
        #expect(XraySnapshot.readLimits([]).version == nil)
    }

    @Test func noContainerIsAClearMessage() throws {
        // Only meaningful when nothing runs; with containers of others running, pick
        // returns the newest, which is right too.
        do {
            let state = try Xray.pick(nil)
            #expect(state.pid != nil)
        } catch {
            #expect("\(error)".contains("no container is running"))
        }
    }
}
