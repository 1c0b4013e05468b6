import Foundation
import Runtime
import Testing

/// Chapter 7's runtime, black-box through `scratch run`: every escape of issue 15's
/// first paragraph fails by default and (in a non-destructive form: access is tested,
/// nothing of the host's is written) works with --privileged; the flags; bad input.
extension ContainerTests {
    @Suite final class LeastPrivilegeTests {
        /// This test's SCRATCH_HOME, holding a busybox rootfs with the probe in it.
        let home: String
        let rootfs: String
        let setupProblem: String?

        init() throws {
            home = try Support.temporaryDirectory()
            rootfs = home + "/rootfs"
            let built = Support.run(["scratch", "rootfs", "build", rootfs], environment: ["SCRATCH_HOME": home])
            let probe = Support.run(["cc", "-static", "-O2", "-o", rootfs + "/bin/probe", Support.repository.root + "/tools/probe/probe.c"])
            setupProblem =
                built.status != 0 ? "rootfs build: \(built.stderr)" : probe.status != 0 ? "probe build (cc -static): \(probe.stderr)" : nil
        }

        deinit { try? FileManager.default.removeItem(atPath: home) }

        /// `scratch run --rm --rootfs ROOTFS OPTIONS -- sh -c SCRIPT`.
        func run(_ options: [String], _ script: String) -> Support.Output {
            Support.run(
                ["timeout", "30", Support.scratch, "run", "--rm", "--rootfs", rootfs] + options + ["--", "sh", "-c", script],
                environment: ["SCRATCH_HOME": home])
        }

        /// The value of `field` in the container's /proc/self/status.
        func status(_ field: String, _ options: [String] = []) -> String {
            let result = run(options, "grep '^\(field):' /proc/self/status")
            return result.stdout.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? result.stderr
        }

        static let dockerDefault = String(format: "%016llx", CapabilitySet.dockerDefault.bits)

        @Test("capabilities: Docker's 14 in bounding, permitted and effective; inheritable and ambient empty; all with --privileged")
        func capabilities() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            #expect(Self.dockerDefault == "00000000a80425fb")
            for field in ["CapBnd", "CapPrm", "CapEff"] {
                #expect(status(field) == Self.dockerDefault, "\(field)")
            }
            #expect(status("CapInh") == "0000000000000000")
            #expect(status("CapAmb") == "0000000000000000")
            let host = try String(contentsOfFile: "/proc/self/status", encoding: .utf8).split(separator: "\n")
                .first { $0.hasPrefix("CapBnd:") }?.split(separator: "\t").last.map(String.init)
            #expect(status("CapEff", ["--privileged"]) == host)
        }

        @Test("--cap-drop ALL leaves none; --cap-add SYS_ADMIN adds it; Docker's spelling, any case")
        func capabilityFlags() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            #expect(status("CapEff", ["--cap-drop", "ALL"]) == "0000000000000000")
            #expect(status("CapBnd", ["--cap-drop", "all"]) == "0000000000000000")
            #expect(status("CapEff", ["--cap-add", "SYS_ADMIN"]) == "00000000a82425fb")
            #expect(status("CapEff", ["--cap-add", "cap_sys_admin"]) == "00000000a82425fb")
            #expect(status("CapEff", ["--cap-drop", "ALL", "--cap-add", "chown"]) == "0000000000000001")
            #expect(status("CapEff", ["--cap-drop", "NET_RAW", "--cap-drop", "MKNOD"]) == "00000000a00405fb")
            // With SYS_ADMIN the profile lets mount through (as Docker's does): the probe's
            // mount of a missing path reaches the kernel, which says ENOENT.
            #expect(run(["--cap-add", "SYS_ADMIN"], "probe syscall mount").stdout == "ENOENT\n")
        }

        @Test("no_new_privs and seccomp: on by default, off with --privileged, each on its own with --security-opt")
        func noNewPrivilegesAndSeccomp() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            #expect(status("NoNewPrivs") == "1")
            #expect(status("Seccomp") == "2")
            #expect(status("NoNewPrivs", ["--privileged"]) == "0")
            #expect(status("Seccomp", ["--privileged"]) == "0")
            // Without no_new_privs the filter is loaded before the capabilities go.
            #expect(status("NoNewPrivs", ["--security-opt", "no-new-privileges=false"]) == "0")
            #expect(status("Seccomp", ["--security-opt", "no-new-privileges=false"]) == "2")
            #expect(status("Seccomp", ["--security-opt", "seccomp=unconfined"]) == "0")
            #expect(status("CapEff", ["--security-opt", "seccomp=unconfined"]) == Self.dockerDefault)
            #expect(status("NoNewPrivs", ["--security-opt", "no-new-privileges:true"]) == "1")
        }

        @Test("under --init, PID 1 (our own code) is confined like the command")
        func initConfined() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let result = run(["--init"], "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/1/status | tr -s '\\t' ' '")
            #expect(result.stdout == "CapEff: \(Self.dockerDefault)\nNoNewPrivs: 1\nSeccomp: 2\n", "\(result.stderr)")
        }

        @Test("the default profile refuses the dangerous calls with EPERM and unknown ones with ENOSYS; --privileged lets them reach the kernel")
        func refusedSyscalls() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let calls = [
                "mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "ptrace", "reboot",
                "kexec_load", "init_module", "finit_module", "delete_module", "swapon", "swapoff", "open_by_handle_at",
                "clone-newns",
            ]
            let script =
                calls.map { "echo \($0) $(probe syscall \($0))" }.joined(separator: "; ") + "; echo migrate_pages $(probe syscall migrate_pages)"
            let confined = run([], script).stdout
            let privileged = run(["--privileged"], script).stdout
            for call in calls {
                #expect(confined.contains("\(call) EPERM\n"), "\(call) by default: \(confined)")
                #expect(!privileged.contains("\(call) EPERM\n"), "\(call) with --privileged: \(privileged)")
            }
            #expect(confined.contains("migrate_pages ENOSYS\n"), "\(confined)")
            #expect(!privileged.contains("migrate_pages ENOSYS\n"), "\(privileged)")
        }

        @Test("open_by_handle_at (the 2014 shocker breakout) is refused; with --privileged it opens")
        func openByHandle() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            #expect(run([], "probe open-by-handle /dev").stdout == "EPERM\n")
            #expect(run(["--privileged"], "probe open-by-handle /dev").stdout == "opened\n")
        }

        @Test("mounting the v1 pids hierarchy is refused; with --privileged it mounts, its release_agent hidden by the cgroup namespace")
        func cgroupEscape() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let script =
                "mkdir -p /tmp/c && mount -t cgroup -o pids none /tmp/c && echo mounted && test -e /tmp/c/release_agent && echo release_agent"
            let confined = run([], script)
            #expect(confined.status != 0 && confined.stdout.isEmpty, "\(confined.stdout)")
            // CVE-2022-0492 needed release_agent, found only at a hierarchy's root: in a
            // cgroup namespace of its own the container's mount shows its own group.
            #expect(run(["--privileged"], script).stdout == "mounted\n")
        }

        @Test("a --read-only root cannot be remounted read-write; with --privileged it can")
        func remountReadOnly() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let script = "mount -o remount,rw / && echo remounted"
            let confined = run(["--read-only"], script)
            #expect(confined.status != 0 && !confined.stdout.contains("remounted"))
            #expect(run(["--read-only", "--privileged"], script).stdout == "remounted\n")
        }

        @Test("devices: /dev's own work; mknod of /dev/kmsg (1:11) is refused by the devices cgroup; with --privileged it is made")
        func devices() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let ours = run([], "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null; head -c 1 /dev/urandom | wc -c")
            #expect(ours.stdout == "4\nnull\n1\n", "\(ours.stderr)")
            // Only made, never read: a node of the host's kernel log.
            let script = "mknod /tmp/kmsg c 1 11 && echo made"
            let confined = run([], script)
            #expect(confined.status != 0 && confined.stderr.contains("Operation not permitted"), "\(confined.stderr)")
            #expect(run(["--privileged"], script).stdout == "made\n")
        }

        @Test("/proc/sys and sysrq-trigger are read-only; /proc/keys and timer_list are the null device; /proc/acpi an empty read-only dir")
        func maskedAndReadOnlyPaths() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            // busybox's `test -w` says yes to root whatever the mount: the mount's own
            // options say it (field 6 of mountinfo). Nothing is written.
            let options =
                "awk '$5 == \"/proc\" || $5 == \"/proc/sys\" || $5 == \"/proc/sysrq-trigger\" { print $5, substr($6, 1, 2) }' /proc/self/mountinfo"
            let confined = run([], options).stdout
            #expect(confined.contains("/proc/sys ro\n") && confined.contains("/proc rw\n"), "\(confined)")
            if FileManager.default.fileExists(atPath: "/proc/sysrq-trigger") {
                #expect(confined.contains("/proc/sysrq-trigger ro\n"), "\(confined)")
            }
            #expect(run(["--privileged"], options).stdout == "/proc rw\n")
            let masked = run([], "for f in /proc/keys /proc/timer_list; do stat -c '%n %F %t:%T' $f; wc -c < $f; done; ls -A /proc/acpi | wc -l")
            #expect(
                masked.stdout == "/proc/keys character special file 1:3\n0\n/proc/timer_list character special file 1:3\n0\n0\n", "\(masked.stderr)")
            let unmasked = run(["--privileged"], "stat -c '%F' /proc/keys")
            #expect(unmasked.stdout == "regular empty file\n" || unmasked.stdout == "regular file\n", "\(unmasked.stdout)")
        }

        @Test("unshare -U, -n and -m are refused; with --privileged they work")
        func unshareRefused() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            for flag in ["-U", "-n", "-m"] {
                let script = "unshare \(flag) true && echo unshared"
                #expect(run([], script).stdout.isEmpty, "unshare \(flag)")
                #expect(run(["--privileged"], script).stdout == "unshared\n", "unshare \(flag) with --privileged")
            }
        }

        @Test("IPC and cgroup namespaces of its own: /proc/self/cgroup shows /")
        func lastNamespaces() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let hostIPC = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/ipc")
            let hostCgroup = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/cgroup")
            let result = run([], "readlink /proc/self/ns/ipc; readlink /proc/self/ns/cgroup; grep -E '^[0-9]+:(pids|memory):' /proc/self/cgroup")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 4, "\(result.stdout)\(result.stderr)")
            #expect(lines.first != hostIPC && lines.dropFirst().first != hostCgroup, "\(lines)")
            #expect(lines.dropFirst(2).allSatisfy { $0.hasSuffix(":/") }, "\(lines)")
        }

        @Test("/sys/fs/cgroup is the container's own tree, read-only: its limit reads, nothing writes")
        func cgroupTreeReadOnly() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let script = """
                awk '$5 ~ "^/sys/fs/cgroup" { print substr($6, 1, 3) }' /proc/self/mountinfo | sort -u
                cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max
                f=/sys/fs/cgroup/cgroup.procs; [ -e $f ] || f=/sys/fs/cgroup/pids/cgroup.procs
                echo $$ > $f || echo refused
                """
            let result = run(["--pids-limit", "20"], script)
            #expect(result.stdout == "ro,\n20\nrefused\n", "\(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("Read-only file system"), "\(result.stderr)")
        }

        @Test("`scratch exec` gets the container's confinement: its capabilities, no_new_privs, its seccomp filter")
        func execConfined() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let name = "lp-\(getpid() % 100_000)"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Support.scratch)
            process.arguments = ["run", "--rm", "--rootfs", rootfs, "--hostname", name, "--cap-drop", "NET_RAW", "--", "sleep", "30"]
            process.environment = ["SCRATCH_HOME": home, "PATH": "/usr/bin:/bin"]
            try process.run()
            defer {
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
            }
            var id = ""
            for _ in 0..<50 where id.isEmpty {
                Thread.sleep(forTimeInterval: 0.1)
                let ps = Support.run([Support.scratch, "ps"], environment: ["SCRATCH_HOME": home])
                id = ps.stdout.split(separator: "\n").first { $0.hasSuffix(name) }.map { String($0.prefix(12)) } ?? ""
            }
            try #require(id.count == 12)
            let inside = Support.run(
                [
                    Support.scratch, "exec", id, "--", "sh", "-c",
                    "grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t' ' '; probe syscall mount",
                ],
                environment: ["SCRATCH_HOME": home])
            #expect(
                inside.stdout == "CapEff: 00000000a80405fb\nCapBnd: 00000000a80405fb\nNoNewPrivs: 1\nSeccomp: 2\nEPERM\n",
                "\(inside.stdout)\(inside.stderr)")
            _ = Support.run([Support.scratch, "kill", id], environment: ["SCRATCH_HOME": home])
        }

        @Test("an ordinary workload still works: shell, files, sort, tar, a pipe, a background job")
        func ordinaryWorkload() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let result = run(
                [], "cd /tmp && echo b > f && echo a >> f && sort f | tr -d '\\n'; tar cf t.tar f && tar tf t.tar; sleep 0.1 & wait $!; echo done")
            #expect(result.stdout == "abf\ndone\n", "\(result.stderr)")
        }

        @Test(
            "a profile in Docker's format loads: defaultErrnoRet, archMap, errnoRet, args, includes/excludes, newer syscalls, the old `name`; without close_range"
        )
        func dockerFormatProfile() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let allowed = defaultSeccompProfile().rules[0].names.filter { !["mkdir", "mkdirat", "getcwd", "close_range"].contains($0) }
            let quoted = allowed.map { "\"\($0)\"" }.joined(separator: ", ")
            let profile = """
                {
                  "defaultAction": "SCMP_ACT_ERRNO",
                  "defaultErrnoRet": 1,
                  "archMap": [
                    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
                    {"architecture": "SCMP_ARCH_MIPS64", "subArchitectures": ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"]}
                  ],
                  "syscalls": [
                    {"names": [\(quoted), "futex_wake", "cachestat"], "action": "SCMP_ACT_ALLOW", "comment": "", "includes": {}, "excludes": {}},
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                    {"name": "getcwd", "action": "SCMP_ACT_ALLOW", "args": null},
                    {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
                     "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
                    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                    {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                    {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                    {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
                    {"names": ["mount", "umount2"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}
                  ]
                }
                """
            let path = home + "/profile.json"
            try profile.write(toFile: path, atomically: true, encoding: .utf8)
            let script = "mkdir /tmp/x; probe syscall migrate_pages; probe syscall mount; probe syscall ptrace; echo ok"
            let result = run(["--security-opt", "seccomp=" + path], script)
            #expect(result.stdout == "EPERM\nEPERM\nESRCH\nok\n", "\(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("Permission denied"), "mkdir gets errnoRet 13: \(result.stderr)")
            let admin = run(["--security-opt", "seccomp=" + path, "--cap-add", "SYS_ADMIN"], "probe syscall mount")
            #expect(admin.stdout == "ENOENT\n", "\(admin.stderr)")
        }

        @Test("bad input: invalid JSON (line and column), unknown syscall, action or operator, unknown option: exit 125, nothing made")
        func badProfiles() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let cases: [(String, [String])] = [
                (
                    "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [ {\"names\": [\"mkdir\"] \"action\": 1} ]}",
                    ["line 2, column 37", "expected ',' or '}'"]
                ),
                (
                    "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdri\"], \"action\": \"SCMP_ACT_ERRNO\"}]}",
                    [
                        "syscalls[0].names[0]", "unknown syscall", "mkdri",
                    ]
                ),
                ("{\"defaultAction\": \"SCMP_ACT_MAYBE\"}", ["defaultAction", "unknown action", "SCMP_ACT_MAYBE"]),
                (
                    "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_SOMETIMES\"}]}]}",
                    ["syscalls[0].args[0].op", "unknown operator"]
                ),
            ]
            let empty = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: empty) }
            let path = home + "/bad.json"
            for (text, words) in cases {
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                // No --rootfs: a refusal must come before the default image is built.
                let result = Support.run(
                    [Support.scratch, "run", "--rm", "--security-opt", "seccomp=" + path, "--", "true"], environment: ["SCRATCH_HOME": empty])
                #expect(result.status == 125, "\(result.stderr)")
                for word in words { #expect(result.stderr.contains(word), "\(word) in \(result.stderr)") }
                #expect((try? FileManager.default.contentsOfDirectory(atPath: empty)) == [], "nothing made")
            }
        }

        @Test("earlier stages are as before: `workbook run 3` keeps every capability and refuses chapter 7's flags")
        func earlierStages() throws {
            try #require(setupProblem == nil, "\(setupProblem ?? "")")
            let result = Support.run(
                [Support.workbook, "run", "3", "--reference", "--rootfs", rootfs, "--", "grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status"],
                environment: ["SCRATCH_HOME": home])
            #expect(result.stdout.replacingOccurrences(of: "\t", with: " ") == "NoNewPrivs: 0\nSeccomp: 0\n", "\(result.stderr)")
            let refused = Support.run(
                [Support.workbook, "run", "3", "--reference", "--rootfs", rootfs, "--cap-drop", "ALL", "--", "true"],
                environment: ["SCRATCH_HOME": home])
            #expect(refused.status == 125 && refused.stderr.contains("chapter 7"), "\(refused.stderr)")
        }
    }
}
