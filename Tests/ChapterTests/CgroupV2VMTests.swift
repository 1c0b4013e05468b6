import Checks
import Foundation
import Testing
import Workbook

/// Chapter 4 on cgroup v2, for real: our machines have every controller on v1, so
/// tools/vm/cgroup2-checks boots a small VM whose only cgroup tree is v2 and runs the
/// chapter's checks and snippets there. The host's own run (v1) is ChapterChecksTests.
///
/// Serialized with the other container tests: the emulated VM keeps both CPUs busy,
/// which would disturb the CPU-time checks running beside it.
extension ContainerTests {
    @Suite struct CgroupV2VMTests {
        static let script = Support.repository.path("tools/vm/cgroup2-checks")
        static let kernel = Support.repository.path(".build/vm/vmlinuz")

        /// Why the VM cannot run here, if it cannot: skipped, with this reason, on a
        /// learner's machine; a failure in CI, which installs qemu and fetches the kernel.
        static let missing: String? = {
            var missing: [String] = []
            if Support.run(["sh", "-c", "command -v qemu-system-x86_64"]).status != 0 {
                missing.append("qemu-system-x86_64 (apt-get install qemu-system-x86)")
            }
            if Support.run(["sh", "-c", "command -v cpio"]).status != 0 { missing.append("cpio (apt-get install cpio)") }
            if !FileManager.default.fileExists(atPath: kernel) { missing.append("a kernel at \(kernel) (tools/vm/fetch-kernel)") }
            return missing.isEmpty ? nil : "the cgroup v2 VM needs " + missing.joined(separator: ", ")
        }()

        @Test(
            "chapter 4's checks and snippets pass in a VM with cgroup v2 only",
            .enabled(if: missing == nil || Support.inCI, Comment(rawValue: missing ?? "")),
            .timeLimit(.minutes(15)))
        func chapterFourOnCgroupV2() throws {
            if let missing = Self.missing {
                Issue.record("CI must run the VM test, but \(missing)")
                return
            }
            let vm = Support.run([Self.script, "--bin", Support.binDirectory, "--timeout", "600"])
            let console = vm.stdout
            let log = "--- console\n\(console.suffix(6000))\n--- stderr\n\(vm.stderr.suffix(3000))"
            #expect(vm.status == 0, "tools/vm/cgroup2-checks exited \(vm.status)\n\(log)")

            // The guest really had cgroup v2 alone.
            #expect(console.contains("@@vm: kernel ") && console.contains("/sys/fs/cgroup is cgroup2fs"), "\(log)")

            // Every chapter 4 check ran and passed: none skipped (a missing probe or
            // controller would skip, and prove nothing).
            let checks = CheckCatalog.checks(for: 4)
            for check in checks {
                #expect(console.contains("✓ \(check.title)"), "check \(check.id) did not pass in the VM\n\(log)")
            }
            #expect(console.contains("\(checks.count) passed, 0 failed"), "\(log)")
            #expect(!console.contains("SKIPPED"), "\(log)")
            #expect(console.contains("@@vm: checks rc=0"), "\(log)")

            // Every snippet of the lesson ran there and succeeded.
            let text = try String(contentsOfFile: Support.repository.path("chapters/04-limits-cgroups.md"), encoding: .utf8)
            let snippets = Lesson.shellSnippets(in: text).count
            #expect(snippets >= 4)
            for index in 1...max(snippets, 1) {
                let name = String(format: "04-%02d", index)
                #expect(console.contains("@@vm: snippet \(name) rc=0"), "snippet \(name) did not succeed in the VM\n\(log)")
            }
            // The labs said what the lesson says they say.
            #expect(console.contains("forked 19"), "\(log)")
            #expect(console.contains("allocated 16") && console.contains("exit 137") && console.contains("ran out of memory"), "\(log)")
            #expect(console.contains("0::/scratch/"), "\(log)")

            #expect(console.contains("@@vm: leftover cgroups: none"), "\(log)")

            // Bad input's cousin: a host without the controller a flag needs.
            #expect(
                console.contains(
                    "@@vm: missing controller rc=125, left: nothing, said: scratch: create the cgroup: this host has no pids controller"),
                "\(log)")
            #expect(!console.contains("pids did not come back"), "\(log)")
            // Chapter 8: a rootless user's limits, in a subtree delegated to it, read
            // inside the container (uid 0 there); refused (125) from a group not its own.
            #expect(console.contains("@@vm: rootless delegated: 0 33554432 20 "), "\(log)")
            #expect(
                console.contains("@@vm: rootless undelegated rc=125, said: scratch: check the request: --memory")
                    && console.contains("none is delegated to this user: no group from this process's own"), "\(log)")
            #expect(
                console.contains("@@vm: rootless foreign parent rc=125")
                    && console.contains("SCRATCH_CGROUP_PARENT names /sys/fs/cgroup, which belongs to uid 0"),
                "\(log)")
            // Chapter 7: the eBPF device program lets /dev's devices through and refuses
            // a node of the kernel log; --privileged attaches none.
            #expect(
                console.contains("@@vm: device program: 1 mknod: /tmp/kmsg: Operation not permitted | privileged: made "), "\(log)")
        }
    }
}
