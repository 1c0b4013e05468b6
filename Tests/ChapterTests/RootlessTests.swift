import Foundation
import Runtime
import Testing

/// Chapter 8's runtime, black-box: `scratch run` started by a real user who is not
/// root. Each test makes its own user (uniquely named, home under a temporary
/// directory) and removes it, its /etc/subuid and /etc/subgid lines, its processes and
/// its files on every path out, failures included.
extension ContainerTests {
    @Suite(.serialized) final class RootlessTests {
        let name: String
        let uid: uid_t
        let base: String
        let home: String
        let setupProblem: String?

        /// Makes the user. `range`: keep the subordinate range useradd gives it (Debian's
        /// login.defs has SUB_UID_COUNT 65536), else remove it: one id mapped.
        init(range: Bool = false) throws {
            name = "scr8" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
            base = try Support.temporaryDirectory()
            home = base + "/home"
            chmod(base, 0o755)
            let added = Support.run(["useradd", "-M", "-d", home, "-s", "/bin/sh", name])
            uid = getpwnam(name)?.pointee.pw_uid ?? 0
            var problem: String? = added.status == 0 && uid != 0 ? nil : "useradd \(name): \(added.stderr)"
            if problem == nil {
                try FileManager.default.createDirectory(atPath: home + "/vol", withIntermediateDirectories: true)
                let owned = Support.run(["chown", "-R", "\(name):", home])
                if owned.status != 0 { problem = "chown \(home): \(owned.stderr)" }
                if !range { Self.removeSubordinateLines(of: name) }
            }
            setupProblem = problem
        }

        convenience init() throws { try self.init(range: false) }

        deinit {
            // Its processes first (by pid), then the user, its lines, its files.
            for pid in Self.processes(of: uid) where uid != 0 { kill(pid, SIGKILL) }
            _ = Support.run(["userdel", name])
            Self.removeSubordinateLines(of: name)
            try? FileManager.default.removeItem(atPath: base)
        }

        /// `scratch run --rm OPTIONS -- sh -c SCRIPT` as the user, in its own
        /// XDG directories.
        func run(_ options: [String], _ script: String) -> Support.Output {
            Self.run(as: name, home: home, options, script)
        }

        static func run(as name: String, home: String, _ options: [String], _ script: String) -> Support.Output {
            Support.run(
                [
                    "runuser", "-u", name, "--", "env", "-u", "SCRATCH_HOME", "-u", "XDG_DATA_HOME", "-u", "XDG_CACHE_HOME", "-u", "TMPDIR",
                    "HOME=" + home, "XDG_RUNTIME_DIR=" + home + "/run", "timeout", "30", Support.scratch, "run", "--rm",
                ] + options + ["--", "sh", "-c", script],
                directory: home)
        }

        @Test("rootless: uid 0 inside; the container's processes are the user's on the host; a volume's new file is the user's")
        func rootInsideUserOutside() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let stateRoot = home + "/run/scratch"
            // The container sleeps while the host looks at it; the state directory names
            // its pid.
            let script = "id -u; id -g; cat /proc/self/uid_map; touch /vol/made; sleep 4"
            let (name, home, base) = (self.name, self.home, self.base)
            let runner = Thread {
                let result = Self.run(as: name, home: home, ["-v", home + "/vol:/vol"], script)
                try? "\(result.status)\n\(result.stdout)\n\(result.stderr)".write(
                    toFile: base + "/result", atomically: true, encoding: .utf8)
            }
            runner.start()
            var containerPID: pid_t?
            var containerID = ""
            for _ in 0..<60 where containerPID == nil {
                usleep(100_000)
                let names = (try? FileManager.default.contentsOfDirectory(atPath: stateRoot)) ?? []
                for entry in names where !entry.hasPrefix(".") && entry != "seccomp-cache" && entry != "stopped" {
                    let state = (try? String(contentsOfFile: stateRoot + "/" + entry + "/state", encoding: .utf8)) ?? ""
                    if let line = state.split(separator: "\n").first(where: { $0.hasPrefix("pid=") }) {
                        containerPID = pid_t(line.dropFirst(4))
                        containerID = entry
                    }
                }
            }
            let pid = try #require(containerPID, "no state directory with a pid in \(stateRoot)")
            usleep(300_000)
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map(String.init) ?? ""
            let ids = uidLine.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().map(String.init)
            #expect(ids == Array(repeating: "\(uid)", count: 4), "\(uidLine)")
            // scratch exec, rootless: the user namespace joined first.
            let exec = Support.run(
                [
                    "runuser", "-u", name, "--", "env", "-u", "SCRATCH_HOME", "HOME=" + home, "XDG_RUNTIME_DIR=" + home + "/run",
                    Support.scratch, "exec", containerID, "--", "sh", "-c", "id -u; cat /proc/1/cmdline",
                ], directory: home)
            #expect(exec.status == 0 && exec.stdout.hasPrefix("0\nsleep"), "exec: \(exec.stdout)\(exec.stderr)")
            var result = ""
            for _ in 0..<100 {
                usleep(100_000)
                if let text = try? String(contentsOfFile: base + "/result", encoding: .utf8) {
                    result = text
                    break
                }
            }
            let lines = result.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(lines.first == "0", "\(result)")
            #expect(lines.dropFirst().first == "0", "uid inside: \(result)")
            #expect(lines.dropFirst(2).first == "0", "gid inside: \(result)")
            #expect(
                lines.dropFirst(3).first?.split(separator: " ").map(String.init) == ["0", "\(uid)", "1"], "uid_map: \(result)")
            var info = stat()
            #expect(stat(home + "/vol/made", &info) == 0)
            #expect(info.st_uid == uid, "owner of the volume's new file on the host")
        }

        @Test("rootless: /dev/null, /dev/zero and /dev/tty work (the host's nodes, bound)")
        func devices() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let result = run([], "echo x > /dev/null && echo null; head -c 5 /dev/zero | wc -c; ls -l /dev/tty")
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(lines.first == "null", "\(result.stdout)")
            #expect(lines.dropFirst().first == "5", "\(result.stdout)")
            // The runtime gets no controlling terminal here (standard input is
            // /dev/null); with one, /dev/tty is the host's node, bound.
            let fd = open("/dev/tty", O_RDWR)
            if fd >= 0 {
                close(fd)
                #expect(lines.dropFirst(2).first?.hasPrefix("c") == true, "/dev/tty: \(result.stdout)")
            } else {
                print("RootlessTests: /dev/tty not checked: the test has no controlling terminal (\(String(cString: strerror(errno))))")
            }
        }

        @Test("rootless: a limit asked for is refused (exit 125, no delegated cgroup), nothing made")
        func limitRefused() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let result = run(["--memory", "64m"], "true")
            #expect(result.status == 125)
            #expect(result.stderr.contains("none is delegated to this user"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: home + "/run/scratch"), "a state directory was made")
            #expect(!FileManager.default.fileExists(atPath: home + "/.local/share/scratch"), "an image store was made")
        }

        @Test("rootless without --rm: kept in the user's own state, listed by ps -a, removed by rm")
        func keptAndRemoved() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            func scratch(_ arguments: [String]) -> Support.Output {
                Support.run(
                    [
                        "runuser", "-u", name, "--", "env", "-u", "SCRATCH_HOME", "-u", "XDG_DATA_HOME", "HOME=" + home,
                        "XDG_RUNTIME_DIR=" + home + "/run", Support.scratch,
                    ] + arguments, directory: home)
            }
            let ran = scratch(["run", "--", "sh", "-c", "echo kept > /file"])
            #expect(ran.status == 0, "\(ran.stderr)")
            let ids = scratch(["ps", "-a", "-q"]).stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == 1, "\(ids)")
            #expect(!FileManager.default.fileExists(atPath: "/run/scratch/stopped/" + (ids.first ?? "-")), "in root's state")
            let removed = scratch(["rm"] + ids)
            #expect(removed.status == 0, "\(removed.stderr)")
            #expect(scratch(["ps", "-a", "-q"]).stdout.isEmpty)
            let left = (try? FileManager.default.contentsOfDirectory(atPath: home + "/.local/share/scratch/containers")) ?? []
            #expect(left.isEmpty, "\(left)")
        }

        @Test("--help says --userns")
        func help() throws {
            let result = Support.run([Support.scratch, "run", "--help"])
            #expect(result.stdout.contains("--userns"), "\(result.stdout)")
        }

        // MARK: - Host helpers

        /// Every process whose real uid is `uid`.
        static func processes(of uid: uid_t) -> [pid_t] {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return entries.compactMap { entry in
                guard let pid = pid_t(entry),
                    let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8),
                    let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }),
                    line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first == Substring("\(uid)")
                else { return nil }
                return pid
            }
        }

        static func removeSubordinateLines(of name: String) {
            for file in ["/etc/subuid", "/etc/subgid"] {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
                let kept = text.split(separator: "\n").filter { !$0.hasPrefix(name + ":") }
                let new = kept.isEmpty ? "" : kept.joined(separator: "\n") + "\n"
                if new != text { try? new.write(toFile: file, atomically: true, encoding: .utf8) }
            }
        }

        static func subordinateStart(of name: String, in file: String) -> UInt32? {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            let line = text.split(separator: "\n").first { $0.hasPrefix(name + ":") }
            return line.flatMap { $0.split(separator: ":").dropFirst().first }.flatMap { UInt32($0) }
        }
    }

    /// With the subordinate range useradd gave the user: 65,536 ids through
    /// newuidmap/newgidmap.
    @Suite(.serialized) final class RootlessRangeTests {
        let user: RootlessTests

        init() throws { user = try RootlessTests(range: true) }

        @Test("rootless with a subuid range: chown 1000 inside is subuid-start+999 on the host")
        func chownInRange() throws {
            try #require(user.setupProblem == nil, "\(user.setupProblem ?? "")")
            let uidStart = try #require(RootlessTests.subordinateStart(of: user.name, in: "/etc/subuid"), "useradd gave no range")
            let gidStart = try #require(RootlessTests.subordinateStart(of: user.name, in: "/etc/subgid"), "useradd gave no range")
            let result = user.run(
                ["-v", user.home + "/vol:/vol"], "cat /proc/self/uid_map; touch /vol/f && chown 1000:1000 /vol/f && echo chowned")
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("chowned"), "\(result.stdout)\(result.stderr)")
            var info = stat()
            #expect(stat(user.home + "/vol/f", &info) == 0)
            #expect(info.st_uid == uidStart + 999, "host owner \(info.st_uid), range from \(uidStart)")
            #expect(info.st_gid == gidStart + 999, "host group \(info.st_gid), range from \(gidStart)")
        }
    }
}
