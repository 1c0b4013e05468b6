import Foundation
import Testing

/// scratch's own life around a container: signals, descriptors, the state directory
/// and what `ps`, `exec`, `kill` and `gc` make of it. Black-box, through the binaries.
extension ContainerTests {
    @Suite final class RuntimeLifecycleTests {
        /// Each test's own SCRATCH_HOME, with the default rootfs and image built; removed in deinit.
        let home: String

        init() throws {
            home = try Support.temporaryDirectory()
            _ = Support.run(["scratch", "rootfs", "build"], environment: ["SCRATCH_HOME": home])
            // And the default image: a first run that builds it would take its time
            // out of the tests that time their signals.
            _ = Support.run(["scratch", "run", "--rm", "--", "true"], environment: ["SCRATCH_HOME": home])
        }

        func scratch(_ arguments: [String], wrapper: [String] = []) -> Support.Output {
            Support.run(wrapper + [Support.scratch] + arguments, environment: ["SCRATCH_HOME": home])
        }

        deinit { try? FileManager.default.removeItem(atPath: home) }

        @Test("a caller that ignores SIGCHLD does not hang scratch")
        func ignoredSIGCHLD() {
            let result = scratch(["run", "--rm", "--", "echo", "ok"], wrapper: ["timeout", "10", "env", "--ignore-signal=CHLD"])
            #expect(result.status == 0 && result.stdout == "ok\n", "\(result.stderr)")
        }

        @Test("the command starts with no signal ignored and no signal blocked, whatever the caller set")
        func signalsReset() {
            let result = scratch(
                ["run", "--rm", "--", "grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"],
                wrapper: ["env", "--ignore-signal=HUP", "--ignore-signal=USR1", "--ignore-signal=PIPE", "--block-signal=TERM"])
            #expect(result.stdout == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n", "\(result.stdout)\(result.stderr)")
        }

        @Test("descriptors the caller left open do not reach the container")
        func descriptorsClosed() {
            let result = Support.run(
                ["bash", "-c", "exec 7</dev/null 8>/dev/null; \(Support.scratch) run --rm -- ls /proc/self/fd"],
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
            process.arguments = ["run", "--rm", "--", "sleep", "30"]
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
            // Run without --rm: it stays, stopped, with its layer, until `scratch rm`.
            #expect(!scratch(["ps", "-q"]).stdout.contains(id))
            let all = scratch(["ps", "-a"]).stdout.split(separator: "\n").first { $0.hasPrefix(id) } ?? ""
            #expect(all.contains("Exited (137)") && all.contains("busybox:latest"), "\(all)")
            #expect(FileManager.default.fileExists(atPath: "\(home)/containers/\(id)/upper"))
            #expect(scratch(["exec", id, "--", "true"]).status == 125)
            let removed = scratch(["rm", id])
            #expect(removed.status == 0 && removed.stdout == "\(id)\n", "\(removed.stderr)")
            #expect(!FileManager.default.fileExists(atPath: "/run/scratch/\(id)"))
            #expect(!FileManager.default.fileExists(atPath: "\(home)/containers/\(id)"))
            #expect(scratch(["rm", id]).status == 125)
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
            #expect(scratch(["run", "--rm", "--", "true"]).status == 0)
            // The next run removes the layers its records name; gc also those whose
            // record went without them (a runtime older than layers removed it).
            #expect(scratch(["gc"]).status == 0)
            for id in ids {
                #expect(!FileManager.default.fileExists(atPath: "/run/scratch/\(id)"))
                #expect(!FileManager.default.fileExists(atPath: "\(home)/containers/\(id)"), "its layer is left")
                #expect(Support.run(["sh", "-c", "ls -d /sys/fs/cgroup/*/scratch/\(id) /sys/fs/cgroup/scratch/\(id) 2>/dev/null"]).stdout.isEmpty)
            }
            #expect(scratch(["gc"]).status == 0)
        }

        @Test("every run has a layer of its own: what one writes, the next does not see")
        func runsDoNotShareWrites() throws {
            let planted = scratch(["run", "--rm", "--", "sh", "-c", "echo T >/etc/planted && rm /etc/passwd && cat /etc/planted"])
            #expect(planted.status == 0 && planted.stdout == "T\n", "\(planted.stderr)")
            let next = scratch(["run", "--rm", "--", "sh", "-c", "cat /etc/passwd; cat /etc/planted"])
            #expect(next.status == 1, "\(next.stdout)\(next.stderr)")
            #expect(next.stderr.contains("can't open '/etc/planted'") && next.stdout.contains("root:"), "\(next.stdout)\(next.stderr)")
            // --rm took each container's layer away; the image's layer is untouched.
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: home + "/containers")) ?? []).isEmpty)
            let layers = try FileManager.default.contentsOfDirectory(atPath: home + "/layers").filter { !$0.hasPrefix(".") }
            #expect(layers.count == 1 && layers[0].count == 64, "\(layers)")
            #expect(!FileManager.default.fileExists(atPath: "\(home)/layers/\(layers[0])/etc/planted"))
        }

        @Test("a write lands in the container's upper dir, seen from the host while it runs")
        func writeLandsInUpper() throws {
            let result = scratch([
                "run", "--rm", "--", "sh", "-c", "echo inside > /root/note && cat /proc/self/mountinfo | grep -c ' / / .* - overlay '",
            ])
            #expect(result.status == 0 && result.stdout == "1\n", "\(result.stdout)\(result.stderr)")
            let kept = scratch(["run", "--hostname", "keep", "--", "sh", "-c", "echo inside > /root/note; hostname"])
            #expect(kept.status == 0, "\(kept.stderr)")
            let id = try #require(scratch(["ps", "-a"]).stdout.split(separator: "\n").first { $0.hasSuffix(" keep") }).prefix(12)
            defer { _ = scratch(["rm", String(id)]) }
            let note = try String(contentsOfFile: "\(home)/containers/\(id)/upper/root/note", encoding: .utf8)
            #expect(note == "inside\n")
        }

        @Test("a SCRATCH_HOME with ':' and ',' in its path still mounts: the overlay's options are escaped")
        func escapedPaths() throws {
            let odd = home + "/odd:dir,name"
            try FileManager.default.createDirectory(atPath: odd, withIntermediateDirectories: true)
            let result = Support.run([Support.scratch, "run", "--rm", "--", "cat", "/etc/passwd"], environment: ["SCRATCH_HOME": odd])
            #expect(result.status == 0 && result.stdout.contains("root:x:0:0"), "\(result.stdout)\(result.stderr)")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: odd + "/containers")) ?? []).isEmpty)
        }
    }
}
