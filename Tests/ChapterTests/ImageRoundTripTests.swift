import Checks
import Foundation
import Testing

/// Images out (chapter 5): `scratch commit` and `scratch image export`, read back by
/// Debian's skopeo and umoci and by our own import; the import's progress bar; and an
/// import interrupted mid-layer leaves nothing that the next import or `scratch gc`
/// does not remove.
extension ContainerTests {
    @Suite final class ImageRoundTripTests {
        /// This test's SCRATCH_HOME, its images and exports; removed in deinit with the
        /// containers it kept.
        let home: String
        let work: String
        var containers: [String] = []

        init() throws {
            home = try Support.temporaryDirectory()
            work = home + "/made"
        }

        deinit {
            for id in containers { _ = scratch(["rm", id]) }
            try? FileManager.default.removeItem(atPath: home)
        }

        func scratch(_ arguments: [String]) -> Support.Output {
            Support.run([Support.scratch] + arguments, environment: ["SCRATCH_HOME": home])
        }

        func shell(_ script: String) -> Support.Output {
            Support.run(["bash", "-euo", "pipefail", "-c", script], environment: ["SCRATCH_HOME": home, "W": work])
        }

        /// A base image made with umoci from the busybox rootfs, plus /etc/gone,
        /// /opt/app/keep and /opt/app/sub/old, with Env and Cmd; imported as rt:base.
        func importBase() throws {
            let made = shell(
                """
                mkdir -p "$W" && cd "$W"
                umoci init --layout oci && umoci new --image oci:base
                umoci unpack --image oci:base b >/dev/null
                rm -rf b/rootfs && scratch rootfs build "$W/b/rootfs" >/dev/null
                mkdir -p b/rootfs/opt/app/sub && echo old > b/rootfs/opt/app/sub/old
                echo keep > b/rootfs/opt/app/keep && echo gone > b/rootfs/etc/gone
                umoci repack --image oci:base b && rm -rf b
                umoci config --image oci:base --config.env FOO=bar --config.cmd sh
                """)
            try #require(made.status == 0, "umoci (apt-get install umoci skopeo): \(made.stdout)\(made.stderr)")
            let imported = scratch(["image", "import", work + "/oci", "rt:base"])
            try #require(imported.status == 0, "\(imported.stderr)")
        }

        /// Runs `script` in a kept container of `image` and returns its id.
        func runKept(_ image: String, _ script: String) throws -> String {
            let hostname = "rt-\(UUID().uuidString.prefix(8).lowercased())"
            let ran = scratch(["run", "--hostname", hostname, image, "--", "sh", "-c", script])
            try #require(ran.status == 0, "\(ran.stdout)\(ran.stderr)")
            let line = try #require(scratch(["ps", "-a"]).stdout.split(separator: "\n").first { $0.hasSuffix(" " + hostname) })
            let id = String(line.prefix(12))
            containers.append(id)
            return id
        }

        /// Every path in the image's tree, from inside a container of it.
        func tree(_ image: String) -> Set<String> {
            let listed = scratch(["run", "--rm", image, "--", "find", "/", "-xdev"])
            return Set(listed.stdout.split(separator: "\n").map(String.init))
        }

        /// What the container changes: a new file, a deleted base file (a whiteout), a
        /// replaced directory (an opaque one).
        static let changes = "echo new > /root/new && rm /etc/gone && rm -rf /opt/app/sub && mkdir /opt/app/sub && echo fresh > /opt/app/sub/fresh"

        @Test("commit → export → skopeo inspect, umoci unpack → import → run sees exactly the container's changes")
        func roundTrip() throws {
            try importBase()
            let id = try runKept("rt:base", Self.changes)
            let committed = scratch(["commit", id, "rt:committed"])
            #expect(committed.status == 0 && committed.stdout.hasPrefix("committed \(id) as rt:committed"), "\(committed.stdout)\(committed.stderr)")
            for (target, flags) in [("export", [String]()), ("export.tar", []), ("plain", ["--uncompressed"])] {
                let exported = scratch(["image", "export", "rt:committed", work + "/" + target] + flags)
                #expect(exported.status == 0 && exported.stdout.contains("2 layers"), "\(target): \(exported.stdout)\(exported.stderr)")
            }
            // skopeo reads the layout and the tar: two layers, the base's Env carried over.
            let inspected = Support.run(["skopeo", "inspect", "oci:\(work)/export:committed"])
            let json = try #require(
                try JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [String: Any], "\(inspected.stderr)")
            #expect((json["Layers"] as? [String])?.count == 2, "\(inspected.stdout)")
            #expect((json["Env"] as? [String])?.contains("FOO=bar") == true, "\(inspected.stdout)")
            #expect(Support.run(["skopeo", "inspect", "oci-archive:\(work)/export.tar:committed"]).status == 0)
            // umoci unpacks it (checking every digest) into the tree the container left.
            for layout in ["export", "plain"] {
                let unpacked = shell(
                    """
                    cd "$W" && umoci unpack --image \(layout):committed u-\(layout) >/dev/null && r=u-\(layout)/rootfs
                    cat $r/root/new; test ! -e $r/etc/gone && echo deleted; ls $r/opt/app/sub; cat $r/opt/app/keep
                    """)
                #expect(unpacked.stdout == "new\ndeleted\nfresh\nkeep\n", "\(layout): \(unpacked.stdout)\(unpacked.stderr)")
            }
            // Our own import: the same tree as the container's, from each form.
            for (source, name) in [("export", "rt:back"), ("export.tar", "rt:tar"), ("plain", "rt:plain")] {
                let imported = scratch(["image", "import", work + "/" + source, name])
                #expect(imported.status == 0, "\(source): \(imported.stderr)")
            }
            let base = tree("rt:base")
            let back = tree("rt:back")
            #expect(base.contains("/etc/gone") && base.contains("/bin/busybox"), "\(base.count) paths")
            #expect(back.subtracting(base) == ["/root/new", "/opt/app/sub/fresh"], "added: \(back.subtracting(base).sorted())")
            #expect(base.subtracting(back) == ["/etc/gone", "/opt/app/sub/old"], "removed: \(base.subtracting(back).sorted())")
            for name in ["rt:back", "rt:tar", "rt:plain"] {
                let seen = scratch(["run", "--rm", name, "--", "cat", "/root/new", "/opt/app/sub/fresh", "/opt/app/keep"])
                #expect(seen.stdout == "new\nfresh\nkeep\n", "\(name): \(seen.stdout)\(seen.stderr)")
            }
            let record = try String(contentsOfFile: home + "/images/rt/back", encoding: .utf8)
            #expect(record.contains("env=FOO=bar") && record.contains("cmd=sh"), "\(record)")
            #expect(leftovers().isEmpty, "\(leftovers())")
        }

        @Test("a running container commits with a warning; a --rm one is refused")
        func runningContainer() throws {
            try importBase()
            let hostname = "rt-\(UUID().uuidString.prefix(8).lowercased())"
            let runner = Process()
            runner.executableURL = URL(fileURLWithPath: Support.scratch)
            runner.arguments = ["run", "--hostname", hostname, "rt:base", "--", "sh", "-c", "echo up > /root/up; sleep 30"]
            runner.environment = ["SCRATCH_HOME": home, "PATH": "/usr/bin:/bin"]
            runner.standardOutput = FileHandle.nullDevice
            runner.standardError = FileHandle.nullDevice
            try runner.run()
            // A PID 1 without handlers ignores SIGTERM: the runtime is SIGKILLed on a
            // failure (its container dies with it, and the next run removes the rest).
            defer {
                if runner.isRunning { kill(runner.processIdentifier, SIGKILL) }
                runner.waitUntilExit()
            }
            var id: String?
            for _ in 0..<100 where id == nil {
                let line = scratch(["ps"]).stdout.split(separator: "\n").first { $0.hasSuffix(" " + hostname) }
                if let line, FileManager.default.fileExists(atPath: "\(home)/containers/\(line.prefix(12))/upper/root/up") {
                    id = String(line.prefix(12))
                }
                usleep(50_000)
            }
            let running = try #require(id)
            containers.append(running)
            let committed = scratch(["commit", running, "rt:live"])
            #expect(committed.status == 0 && committed.stderr.contains("is running"), "\(committed.stdout)\(committed.stderr)")
            #expect(scratch(["run", "--rm", "rt:live", "--", "cat", "/root/up"]).stdout == "up\n")
            #expect(scratch(["kill", running]).status == 0)
            runner.waitUntilExit()
            // --rm: the layer is a tmpfs only the container's mount namespace sees.
            let memoryHost = "rt-\(UUID().uuidString.prefix(8).lowercased())"
            let memory = Process()
            memory.executableURL = URL(fileURLWithPath: Support.scratch)
            memory.arguments = ["run", "--rm", "--hostname", memoryHost, "rt:base", "--", "sleep", "30"]
            memory.environment = ["SCRATCH_HOME": home, "PATH": "/usr/bin:/bin"]
            memory.standardOutput = FileHandle.nullDevice
            memory.standardError = FileHandle.nullDevice
            try memory.run()
            defer {
                if memory.isRunning { kill(memory.processIdentifier, SIGKILL) }
                memory.waitUntilExit()
            }
            var line: Substring?
            for _ in 0..<100 where line == nil {
                line = scratch(["ps"]).stdout.split(separator: "\n").first { $0.hasSuffix(" " + memoryHost) }
                usleep(50_000)
            }
            let inMemory = try #require(line).prefix(12)
            let refused = scratch(["commit", String(inMemory), "rt:memory"])
            #expect(refused.status == 125 && refused.stderr.contains("runs with --rm"), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: home + "/images/rt/memory"))
            #expect(scratch(["kill", String(inMemory)]).status == 0)
            memory.waitUntilExit()
        }

        @Test("bad input: unknown container or image, an existing target, a bad name → exit 125 and nothing left")
        func badInput() throws {
            try importBase()
            let id = try runKept("rt:base", "echo x > /root/x")
            let cases: [([String], String)] = [
                (["commit", "nosuchid", "rt:x"], "no container nosuchid"),
                (["commit", id, "rt:base"], "image rt:base exists"),
                (["commit", id, "Bad Name"], "is not an image name"),
                (["commit", id], "Missing expected argument"),
                (["image", "export", "nosuch:1", work + "/e1"], "no image nosuch:1"),
                (["image", "export", "rt:nosuch", work + "/e2.tar"], "no image rt:nosuch"),
                (["image", "export", "rt:base", work + "/oci"], "exists"),
                (["image", "export", "rt:base", work + "/no/such/dir"], "is not a directory"),
                (["image", "export", "rt", work + "/e3"], "no image rt:latest"),
            ]
            for (arguments, words) in cases {
                let result = scratch(arguments)
                #expect(result.status == 125 && result.stderr.contains(words), "\(arguments): \(result.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: home + "/images/rt/x"))
            #expect(!FileManager.default.fileExists(atPath: home + "/images/rt/latest"))
            for name in ["e1", "e2.tar", "e3", "no"] { #expect(!FileManager.default.fileExists(atPath: work + "/" + name), "\(name)") }
            // A name without a tag is NAME:latest, for commit and export alike.
            #expect(scratch(["commit", id, "rt"]).stdout.contains("as rt:latest"))
            let exported = scratch(["image", "export", "rt", work + "/latest"])
            #expect(exported.status == 0, "\(exported.stderr)")
            #expect(Support.run(["skopeo", "inspect", "oci:\(work)/latest:latest"]).status == 0)
            #expect(leftovers().isEmpty, "\(leftovers())")
        }

        @Test("import draws a progress bar on a terminal's standard error, and nothing elsewhere")
        func progressBar() throws {
            let made = shell(
                """
                mkdir -p "$W" && cd "$W" && umoci init --layout oci && umoci new --image oci:p
                umoci unpack --image oci:p b >/dev/null && head -c 8M /dev/urandom > b/rootfs/noise
                umoci repack --image oci:p b && rm -rf b
                """)
            try #require(made.status == 0, "\(made.stderr)")
            // script(1) gives the import a terminal (a pty) and copies what it drew.
            let tty = Support.run(
                ["script", "-qec", "\(Support.scratch) image import \(work)/oci p:tty", "/dev/null"], environment: ["SCRATCH_HOME": home])
            #expect(tty.status == 0, "\(tty.stdout)")
            #expect(
                tty.stdout.contains("\rlayer 1/1 ") && tty.stdout.contains("MB") && tty.stdout.contains("\u{1B}[K"), "\(tty.stdout.debugDescription)")
            #expect(tty.stdout.contains("\r\u{1B}[Kimported p:tty"), "the bar is erased before the last line: \(tty.stdout.debugDescription)")
            _ = scratch(["image", "rm", "p:tty"])
            let plain = scratch(["image", "import", work + "/oci", "p:plain"])
            #expect(plain.status == 0 && plain.stderr.isEmpty, "\(plain.stderr.debugDescription)")
        }

        @Test("an import killed mid-layer (SIGINT, SIGKILL) leaves only what the next import or `scratch gc` removes")
        func interruptedImport() throws {
            // One layer of 300 MB of zeros: small gzip'd, long to write out.
            let made = shell(
                """
                mkdir -p "$W/z" && cd "$W" && umoci init --layout big && umoci new --image big:1
                truncate -s 300M z/zeros && tar -C z -cf zeros.tar zeros && rm -rf z
                umoci raw add-layer --image big:1 zeros.tar && rm zeros.tar
                """)
            try #require(made.status == 0, "\(made.stderr)")
            for signal in [SIGINT, SIGKILL] {
                // Spawned with every disposition the default: a test runner may ignore
                // SIGINT, and its children would inherit that.
                let pid = try spawn([Support.scratch, "image", "import", work + "/big", "big:1"])
                // Mid-stream: the layer's temporary directory holds the file being written.
                var started = false
                for _ in 0..<2000 where !started {
                    started = unfinished().contains { name in
                        name.hasPrefix("new-\(pid)-")
                            && ((try? FileManager.default.contentsOfDirectory(atPath: home + "/layers/" + name)) ?? []).contains("zeros")
                    }
                    if !started { usleep(5_000) }
                }
                kill(pid, signal)
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                #expect(started, "the import was never seen mid-layer")
                #expect(status & 0x7f == signal, "wait status \(status)")
                #expect(!unfinished().isEmpty, "a killed import leaves its temporary layer (that is what is cleaned next)")
                #expect(!FileManager.default.fileExists(atPath: home + "/images/big/1"))
                if signal == SIGINT {
                    // The next import removes it (under the store's lock) and succeeds.
                    let again = scratch(["image", "import", work + "/big", "big:1"])
                    #expect(again.status == 0, "\(again.stderr)")
                    #expect(unfinished().isEmpty, "\(unfinished())")
                    #expect(scratch(["image", "rm", "big:1"]).status == 0)
                } else {
                    let collected = scratch(["gc"])
                    #expect(collected.stdout.contains("/layers/new-\(pid)-"), "\(collected.stdout)")
                    #expect(unfinished().isEmpty, "\(unfinished())")
                }
            }
            let stored = (try? FileManager.default.contentsOfDirectory(atPath: home + "/layers")) ?? []
            #expect(stored.filter { !$0.hasPrefix(".") }.isEmpty, "\(stored)")
        }

        @Test("a commit or an export interrupted by SIGINT exits 130 and leaves nothing, in the store or beside the target")
        func interruptedCommitAndExport() throws {
            try importBase()
            let id = try runKept("rt:base", "head -c 200000000 /dev/zero > /big")
            let commit = try spawn([Support.scratch, "commit", id, "rt:big"])
            let tar = "\(home)/layers/new-\(commit)-commit.tar"
            #expect(waitFor { fileSize(tar) > 0 }, "never saw \(tar)")
            kill(commit, SIGINT)
            #expect(exitStatus(commit) == 130 << 8, "exit 130")
            #expect(unfinished().isEmpty, "\(unfinished())")
            #expect(!FileManager.default.fileExists(atPath: home + "/images/rt/big"))
            #expect(scratch(["commit", id, "rt:big"]).status == 0)
            let export = try spawn([Support.scratch, "image", "export", "rt:big", work + "/big-export"])
            let partial = "\(work)/big-export.new-\(export)/blobs/sha256"
            #expect(waitFor { ((try? FileManager.default.contentsOfDirectory(atPath: partial)) ?? []).count > 1 }, "never saw \(partial)")
            kill(export, SIGINT)
            #expect(exitStatus(export) == 130 << 8, "exit 130")
            #expect(leftovers().isEmpty, "\(leftovers())")
            #expect(!FileManager.default.fileExists(atPath: work + "/big-export"))
        }

        /// The size of the file at `path`, 0 when there is none.
        func fileSize(_ path: String) -> Int {
            var info = stat()
            return stat(path, &info) == 0 ? Int(info.st_size) : 0
        }

        /// Polls `condition` every 5 ms for up to 10 s.
        func waitFor(_ condition: () -> Bool) -> Bool {
            for _ in 0..<2000 {
                if condition() { return true }
                usleep(5_000)
            }
            return false
        }

        /// waitpid's status (exit code N is N << 8; signal N is N).
        func exitStatus(_ pid: pid_t) -> Int32 {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            return status
        }

        /// Starts `arguments` as a shell would (no signal ignored or blocked), output
        /// to /dev/null, with this test's SCRATCH_HOME.
        func spawn(_ arguments: [String]) throws -> pid_t {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
            let environment = ["SCRATCH_HOME=\(home)", "PATH=\(Support.binDirectory):/usr/bin:/bin"]
            let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
            let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
            defer { for pointer in argv + envp { free(pointer) } }
            var pid: pid_t = 0
            let result = withCleanSpawnAttributes { attributes in posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp) }
            try #require(result == 0, "posix_spawn \(arguments[0]): \(String(cString: strerror(result)))")
            return pid
        }

        /// The store's temporary names: an import's, a commit's.
        func unfinished() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: home + "/layers")) ?? []).filter { $0.hasPrefix("new-") }
        }

        /// Anything half-made: temporary layers and records, export work directories.
        func leftovers() -> [String] {
            let exports = ((try? FileManager.default.contentsOfDirectory(atPath: work)) ?? []).filter { $0.contains(".new-") }
            let records = (FileManager.default.enumerator(atPath: home + "/images")?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".new") }
            return unfinished() + exports + records
        }
    }
}
