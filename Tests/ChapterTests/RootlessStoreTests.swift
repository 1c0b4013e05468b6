import Foundation
import Testing

/// Chapter 8's store and state, rootless: images, commit, volumes, rm and gc as a real
/// user who is not root (made and removed as RootlessTests makes them), with files of
/// its subordinate ids; the overlay natively (userxattr) and through fuse-overlayfs;
/// the state directory without XDG_RUNTIME_DIR; `--userns-map`.
extension ContainerTests {
    @Suite(.serialized) final class RootlessStoreTests {
        let user: RootlessTests
        var store: String { user.home + "/.local/share/scratch" }
        var state: String { user.home + "/run/scratch" }

        init() throws { user = try RootlessTests(range: true) }

        deinit {
            // The fallback state root, should a test have made it (root removes it
            // whatever it holds); the user and its home go with `user`.
            try? FileManager.default.removeItem(atPath: "/tmp/scratch-run-\(user.uid)")
        }

        /// `scratch ARGUMENTS` as the user, in its own XDG directories (and `extra`
        /// variables; a nil value unsets one).
        func scratch(_ arguments: [String], _ extra: [String: String?] = [:]) -> Support.Output {
            var variables = ["HOME": user.home, "XDG_RUNTIME_DIR": user.home + "/run"] as [String: String?]
            for (key, value) in extra { variables[key] = value }
            var words = ["runuser", "-u", user.name, "--", "env", "-u", "SCRATCH_HOME", "-u", "XDG_DATA_HOME", "-u", "TMPDIR"]
            // env takes its -u options before the assignments.
            for (key, value) in variables.sorted(by: { $0.key < $1.key }) where value == nil { words += ["-u", key] }
            for (key, value) in variables.sorted(by: { $0.key < $1.key }) { if let value { words.append(key + "=" + value) } }
            return Support.run(words + ["timeout", "60", Support.scratch] + arguments, directory: user.home)
        }

        func owner(_ path: String) -> (uid: uid_t, gid: gid_t)? {
            var info = stat()
            return lstat(path, &info) == 0 ? (info.st_uid, info.st_gid) : nil
        }

        @Test("rootless images: export, import, run, commit (chown 1000, an opaque directory), export, rm — in the user's store")
        func imagesRoundTrip() throws {
            try #require(user.setupProblem == nil, "\(user.setupProblem ?? "")")
            let uidStart = try #require(RootlessTests.subordinateStart(of: user.name, in: "/etc/subuid"), "no range")
            let built = scratch(["rootfs", "build"])
            #expect(built.status == 0, "\(built.stderr)")
            let exported = scratch(["image", "export", "busybox:latest", user.home + "/bb.tar"])
            #expect(exported.status == 0, "\(exported.stderr)")
            let imported = scratch(["image", "import", user.home + "/bb.tar", "rl:1"])
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(scratch(["image", "ls"]).stdout.contains("rl:1"))
            #expect(FileManager.default.fileExists(atPath: store + "/images/rl/1"), "not in the user's store")
            // Root of the image is the user on the host: the layer's files are the user's.
            #expect(owner(store + "/layers")?.uid == user.uid)

            let ran = scratch([
                "run", "rl:1", "--", "sh", "-c", "mkdir /data; touch /data/f; chown -R 1000:1000 /data; rm -rf /etc; mkdir /etc; echo y > /etc/y",
            ])
            #expect(ran.status == 0, "\(ran.stderr)")
            let id = scratch(["ps", "-a", "-q"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(id.count >= 12, "\(id)")
            #expect(owner(store + "/containers/\(id)/upper/data/f")?.uid == uidStart + 999, "chown 1000 is the range's 999th id on the host")
            let committed = scratch(["commit", id, "rl:2"])
            #expect(committed.status == 0, "\(committed.stderr)")
            let seen = scratch(["run", "--rm", "rl:2", "--", "sh", "-c", "stat -c '%u %g' /data/f; ls /etc"])
            #expect(seen.stdout == "1000 1000\ny\n", "owners and the opaque /etc: \(seen.stdout)\(seen.stderr)")
            let layout = scratch(["image", "export", "rl:2", user.home + "/rl2"])
            #expect(layout.status == 0, "\(layout.stderr)")
            #expect(owner(user.home + "/rl2/index.json")?.uid == user.uid)

            // rm of the container removes its upper layer's files of subordinate ids.
            let removed = scratch(["rm", id])
            #expect(removed.status == 0, "\(removed.stderr)")
            #expect(!FileManager.default.fileExists(atPath: store + "/containers/\(id)"), "the layer is still there")
            for name in ["rl:2", "rl:1"] {
                let gone = scratch(["image", "rm", name])
                #expect(gone.status == 0, "\(gone.stderr)")
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: store + "/layers").filter { !$0.hasPrefix(".") }
            #expect(left.count == 1, "only busybox's layer: \(left)")
        }

        @Test("rootless gc removes a dead container's layer holding files of subordinate ids")
        func gcRemovesSubordinateFiles() throws {
            try #require(user.setupProblem == nil, "\(user.setupProblem ?? "")")
            let ran = scratch(["run", "--", "sh", "-c", "mkdir /d; touch /d/f; chown -R 1000 /d; chmod 700 /d"])
            #expect(ran.status == 0, "\(ran.stderr)")
            let id = scratch(["ps", "-a", "-q"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            // Its record lost (as at a reboot): the layer is no one's.
            try FileManager.default.removeItem(atPath: state + "/stopped/" + id)
            let collected = scratch(["gc"])
            #expect(collected.status == 0, "\(collected.stderr)")
            #expect(collected.stdout.contains("containers/\(id)"), "\(collected.stdout)")
            #expect(!FileManager.default.fileExists(atPath: store + "/containers/\(id)"))
            #expect(collected.stderr.isEmpty, "\(collected.stderr)")
        }

        @Test("rootless volumes: create, ls, a file chowned inside, rm")
        func volumes() throws {
            try #require(user.setupProblem == nil, "\(user.setupProblem ?? "")")
            #expect(scratch(["volume", "create", "rlvol"]).status == 0)
            #expect(scratch(["volume", "ls", "-q"]).stdout == "rlvol\n")
            let ran = scratch(["run", "--rm", "-v", "rlvol:/v", "--", "sh", "-c", "mkdir /v/d; touch /v/d/f; chown -R 1000 /v/d; chmod 700 /v/d"])
            #expect(ran.status == 0, "\(ran.stderr)")
            let removed = scratch(["volume", "rm", "rlvol"])
            #expect(removed.status == 0, "\(removed.stderr)")
            #expect(scratch(["volume", "ls", "-q"]).stdout.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: store + "/volumes/rlvol"))
        }

        @Test("rootless overlay: the kernel's with userxattr (a removed directory made again is opaque)")
        func nativeOverlay() throws {
            try #require(user.setupProblem == nil, "\(user.setupProblem ?? "")")
            let result = scratch(["run", "--rm", "--", "sh", "-c", "grep ' / ' /proc/self/mountinfo; rm -rf /etc; mkdir /etc; ls -A /etc; echo done"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains(" - overlay overlay ") && result.stdout.contains("userxattr"), "\(result.stdout)")
            #expect(result.stdout.hasSuffix("\ndone\n") && !result.stdout.contains("passwd"), "\(result.stdout)")
        }

        @Test("rootless overlay through fuse-overlayfs when asked (SCRATCH_OVERLAY), and a clear error without it")
        func fuseOverlayFallback() throws {
            try #require(user.setupProblem == nil, "\(user.setupProblem ?? "")")
            #expect(scratch(["rootfs", "build"]).status == 0)  // so the run's standard error is its own
            let fuse = ["SCRATCH_OVERLAY": "fuse-overlayfs"]
            let result = scratch(
                [
                    "run", "--rm", "--", "sh", "-c",
                    "grep ' / ' /proc/self/mountinfo; rm -rf /etc; mkdir /etc; ls -A /etc; chown 1000 /tmp && echo chowned",
                ],
                fuse)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("fuse.fuse-overlayfs"), "\(result.stdout)")
            #expect(result.stderr.isEmpty, "fuse-overlayfs's chatter on success: \(result.stderr)")
            #expect(result.stdout.hasSuffix("chowned\n") && !result.stdout.contains("passwd"), "\(result.stdout)")
            var missing = fuse
            missing["SCRATCH_FUSE_OVERLAYFS"] = "/nonexistent/fuse-overlayfs"
            let refused = scratch(["run", "--rm", "--", "true"], missing)
            #expect(refused.status == 125)
            #expect(refused.stderr.contains("apt-get install fuse-overlayfs"), "\(refused.stderr)")
            // A fuse-overlayfs that fails: its status (and what it said) in the error.
            missing["SCRATCH_FUSE_OVERLAYFS"] = "/bin/false"
            let failed = scratch(["run", "--rm", "--", "true"], missing)
            #expect(failed.status == 125 && failed.stderr.contains("failed (exited(1))"), "\(failed.stderr)")
            let left = (try? FileManager.default.contentsOfDirectory(atPath: state)) ?? []
            #expect(left.allSatisfy { $0 == "seccomp-cache" || $0 == "stopped" }, "\(left)")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: store + "/containers")) ?? []).isEmpty)
        }

        @Test("rootless without XDG_RUNTIME_DIR: state in /tmp/scratch-run-UID; refused when someone else made it")
        func stateWithoutRuntimeDirectory() throws {
            try #require(user.setupProblem == nil, "\(user.setupProblem ?? "")")
            let fallback = "/tmp/scratch-run-\(user.uid)"
            try? FileManager.default.removeItem(atPath: fallback)
            let unset: [String: String?] = ["XDG_RUNTIME_DIR": nil]
            let ran = scratch(["run", "--", "true"], unset)
            #expect(ran.status == 0, "\(ran.stderr)")
            #expect(owner(fallback)?.uid == user.uid)
            #expect(scratch(["ps", "-a", "-q"], unset).stdout.count >= 12)
            let id = scratch(["ps", "-a", "-q"], unset).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(scratch(["rm", id], unset).status == 0)
            // Made by another user first (here root): not trusted.
            try FileManager.default.removeItem(atPath: fallback)
            try FileManager.default.createDirectory(atPath: fallback, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o777])
            let refused = scratch(["run", "--rm", "--", "true"], unset)
            #expect(refused.status == 125)
            #expect(refused.stderr.contains("set XDG_RUNTIME_DIR"), "\(refused.stderr)")
            #expect((try? FileManager.default.contentsOfDirectory(atPath: fallback)) == [], "something was made in it")
        }

        @Test("--userns-map single maps one id despite a range; --help says auto, range, single")
        func mapSingle() throws {
            try #require(user.setupProblem == nil, "\(user.setupProblem ?? "")")
            let result = scratch(["run", "--rm", "--userns-map", "single", "--", "cat", "/proc/self/uid_map"])
            #expect(result.stdout.split(separator: " ", omittingEmptySubsequences: true) == ["0", "\(user.uid)", "1\n"], "\(result.stdout)")
            let help = Support.run([Support.scratch, "run", "--help"]).stdout
            #expect(help.contains("--userns-map") && help.contains("range") && help.contains("single"), "\(help)")
        }
    }

    /// A user without a subordinate range.
    @Suite(.serialized) final class RootlessNoRangeTests {
        let user: RootlessTests

        init() throws { user = try RootlessTests(range: false) }

        @Test("--userns-map range without a range: exit 125, the fix named, nothing made")
        func rangeAskedWithout() throws {
            try #require(user.setupProblem == nil, "\(user.setupProblem ?? "")")
            let result = Support.run(
                [
                    "runuser", "-u", user.name, "--", "env", "-u", "SCRATCH_HOME", "-u", "XDG_DATA_HOME", "HOME=" + user.home,
                    "XDG_RUNTIME_DIR=" + user.home + "/run", Support.scratch, "run", "--rm", "--userns-map", "range", "--", "true",
                ], directory: user.home)
            #expect(result.status == 125)
            #expect(result.stderr.contains("usermod --add-subuids"), "\(result.stderr)")
            #expect(result.stderr.contains("--userns-map single"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: user.home + "/run/scratch"), "a state directory was made")
            #expect(!FileManager.default.fileExists(atPath: user.home + "/.local/share/scratch"), "an image store was made")
        }

        @Test("an image with a file of uid 1000, imported by a user with one id: exit 125, the range named, the image not recorded")
        func foreignOwnerWithoutRange() throws {
            try #require(user.setupProblem == nil, "\(user.setupProblem ?? "")")
            // The image, made by root in a store of the test's own.
            let store = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: store) }
            let root = ["SCRATCH_HOME": store]
            let ran = Support.run([Support.scratch, "run", "--", "sh", "-c", "touch /f; chown 1000:1000 /f"], environment: root)
            // (Root's `ps -a` lists other runs' containers too: this one's layer is the
            // only one in the test's store.)
            let id = ((try? FileManager.default.contentsOfDirectory(atPath: store + "/containers")) ?? []).first ?? ""

            defer { _ = Support.run([Support.scratch, "rm", id], environment: root) }
            #expect(ran.status == 0 && !id.isEmpty, "\(ran.stderr)")
            #expect(Support.run([Support.scratch, "commit", id, "owned:1"], environment: root).status == 0)
            let tar = user.home + "/owned.tar"
            #expect(Support.run([Support.scratch, "image", "export", "owned:1", tar], environment: root).status == 0)
            chmod(tar, 0o644)
            let imported = Support.run(
                [
                    "runuser", "-u", user.name, "--", "env", "-u", "SCRATCH_HOME", "-u", "XDG_DATA_HOME", "HOME=" + user.home,
                    "XDG_RUNTIME_DIR=" + user.home + "/run", Support.scratch, "image", "import", tar, "owned:1",
                ], directory: user.home)
            #expect(imported.status == 125)
            #expect(imported.stderr.contains("Can't set user=1000") && imported.stderr.contains("usermod --add-subuids"), "\(imported.stderr)")
            #expect(!FileManager.default.fileExists(atPath: user.home + "/.local/share/scratch/images/owned"), "the image was recorded")
            let layers = (try? FileManager.default.contentsOfDirectory(atPath: user.home + "/.local/share/scratch/layers")) ?? []
            // (The base layer, complete, stays stored, as for any import that fails
            // later; the refused layer's temporary directory goes.)
            #expect(!layers.contains { $0.hasPrefix("new-") }, "left in the store: \(layers)")
        }
    }
}
