import Foundation
import Testing

/// scratch's own life around a container: signals, descriptors, the state directory
/// and what `ps`, `exec`, `kill` and `gc` make of it. Black-box, through the binaries.
extension ContainerTests {
    @Suite final class RuntimeLifecycleTests {
        /// Each test's own SCRATCH_HOME, with the default rootfs built; removed in deinit.
        let home: String

        init() throws {
            home = try Support.temporaryDirectory()
            _ = Support.run(["scratch", "rootfs", "build"], environment: ["SCRATCH_HOME": home])
        }

        func scratch(_ arguments: [String], wrapper: [String] = []) -> Support.Output {
            Support.run(wrapper + [Support.scratch] + arguments, environment: ["SCRATCH_HOME": home])
        }

        deinit { try? FileManager.default.removeItem(atPath: home) }

        @Test("a caller that ignores SIGCHLD does not hang scratch")
        func ignoredSIGCHLD() {
            let result = scratch(["run", "--", "echo", "ok"], wrapper: ["timeout", "10", "env", "--ignore-signal=CHLD"])
            #expect(result.status == 0 && result.stdout == "ok\n", "\(result.stderr)")
        }

        @Test("the command starts with no signal ignored and no signal blocked, whatever the caller set")
        func signalsReset() {
            let result = scratch(
                ["run", "--", "grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"],
                wrapper: ["env", "--ignore-signal=HUP", "--ignore-signal=USR1", "--ignore-signal=PIPE", "--block-signal=TERM"])
            #expect(result.stdout == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n", "\(result.stdout)\(result.stderr)")
        }

        @Test("descriptors the caller left open do not reach the container")
        func descriptorsClosed() {
            let result = Support.run(
                ["bash", "-c", "exec 7</dev/null 8>/dev/null; \(Support.scratch) run -- ls /proc/self/fd"],
                environment: ["SCRATCH_HOME": home])
            // 0, 1, 2, and the directory ls itself opened to list them.
            #expect(result.stdout.split(separator: "\n") == ["0", "1", "2", "3"], "\(result.stdout)\(result.stderr)")
        }

        @Test("an interrupt during a setup step that hangs stops the start: exit 130, nothing left")
        func interruptDuringSetup() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Support.binDirectory + "/fd-audit")
            process.arguments = ["hang", home + "/rootfs/busybox"]
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: 0.7)
            let started = Date()
            kill(process.processIdentifier, SIGINT)
            process.waitUntilExit()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 130, "\(stderr)")
            #expect(Date().timeIntervalSince(started) < 3)
            #expect(stderr.contains("interrupted by SIGINT while the container was being set up"), "\(stderr)")
            let id = stderr.split(separator: "\n").first { $0.hasPrefix("id ") }.map { String($0.dropFirst(3)) } ?? "?"
            #expect(!FileManager.default.fileExists(atPath: "/run/scratch/\(id)"))
            #expect(Support.run(["sh", "-c", "ls -d /sys/fs/cgroup/*/scratch/\(id) /sys/fs/cgroup/scratch/\(id)"]).stdout.isEmpty)
        }

        @Test("a container that ignores SIGTERM gets the third one as SIGKILL")
        func thirdInterruptKills() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Support.scratch)
            process.arguments = ["run", "--", "sleep", "30"]
            process.environment = ["SCRATCH_HOME": home, "PATH": "/usr/bin:/bin"]
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            Thread.sleep(forTimeInterval: 0.5)
            let started = Date()
            for _ in 0..<3 {
                kill(process.processIdentifier, SIGTERM)
                Thread.sleep(forTimeInterval: 0.1)
            }
            process.waitUntilExit()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 137, "\(stderr)")
            #expect(Date().timeIntervalSince(started) < 3)
            #expect(stderr.contains("the next one was sent as SIGKILL"), "\(stderr)")
        }

        @Test("ps lists a running container, exec runs inside it, kill ends it, and its state goes with it")
        func psExecKill() throws {
            let name = "life-\(getpid() % 100_000)"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Support.scratch)
            process.arguments = ["run", "--hostname", name, "--memory", "32m", "--", "sleep", "30"]
            process.environment = ["SCRATCH_HOME": home, "PATH": "/usr/bin:/bin"]
            try process.run()
            defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
            var id = ""
            for _ in 0..<50 where id.isEmpty {
                Thread.sleep(forTimeInterval: 0.1)
                let ps = scratch(["ps"])
                id = ps.stdout.split(separator: "\n").first { $0.hasSuffix(name) }.map { String($0.prefix(12)) } ?? ""
            }
            #expect(id.count == 12)
            #expect(scratch(["ps", "-q"]).stdout.split(separator: "\n").contains(Substring(id)))
            let inside = scratch(["exec", String(id.prefix(6)), "--", "sh", "-c", "hostname; echo $$; grep -c memory /proc/self/cgroup"])
            #expect(inside.status == 0, "\(inside.stderr)")
            let lines = inside.stdout.split(separator: "\n")
            #expect(lines.first == Substring(name), "\(inside.stdout)")
            // Born inside the PID namespace: a small pid there, not the host's.
            #expect((lines.dropFirst().first.flatMap { Int($0) } ?? 1_000_000) < 100, "\(inside.stdout)")
            #expect(scratch(["exec", id, "--", "sh", "-c", "exit 7"]).status == 7)
            #expect(scratch(["exec", "no-such-id", "--", "true"]).status == 125)
            #expect(scratch(["kill", id, "NOSUCHSIGNAL"]).status == 125)
            let killed = scratch(["kill", id])
            #expect(killed.status == 0, "\(killed.stderr)")
            process.waitUntilExit()
            #expect(process.terminationStatus == 137)
            #expect(!FileManager.default.fileExists(atPath: "/run/scratch/\(id)"))
        }

        @Test("the state and cgroups of a SIGKILLed scratch are removed by the next run")
        func leftoversRemoved() throws {
            var ids: [String] = []
            for _ in 0..<3 {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: Support.scratch)
                process.arguments = ["run", "--memory", "32m", "--", "sleep", "30"]
                process.environment = ["SCRATCH_HOME": home, "PATH": "/usr/bin:/bin"]
                try process.run()
                let pid = process.processIdentifier
                var id: String?
                for _ in 0..<50 where id == nil {
                    Thread.sleep(forTimeInterval: 0.05)
                    id = Support.run(["sh", "-c", "grep -l '^runtime=\(pid)$' /run/scratch/*/state"]).stdout
                        .split(separator: "/").dropFirst(2).first.map(String.init)
                }
                kill(pid, SIGKILL)
                process.waitUntilExit()
                guard let id else { continue }
                ids.append(id)
                // Left behind: nobody removed it. (The next start removes it, so look now.)
                #expect(FileManager.default.fileExists(atPath: "/run/scratch/\(id)"), "\(id) left no state to clean")
            }
            #expect(ids.count == 3)
            #expect(scratch(["run", "--", "true"]).status == 0)
            for id in ids {
                #expect(!FileManager.default.fileExists(atPath: "/run/scratch/\(id)"))
                #expect(Support.run(["sh", "-c", "ls -d /sys/fs/cgroup/*/scratch/\(id) /sys/fs/cgroup/scratch/\(id) 2>/dev/null"]).stdout.isEmpty)
            }
            #expect(scratch(["gc"]).status == 0)
        }
    }
}
