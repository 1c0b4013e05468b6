import Foundation
import Glibc
import Runtime

// Chapter 3 — a root of its own: the rootfs is `/`, the host's tree is out of reach,
// and /proc, /dev, /sys are the container's.

/// The mount points a container may have at this stage, and no others.
let expectedContainerMounts: Set<String> = ["/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"]

/// What the runtime's stderr says about a failed pivot, in the learner's terms; "" when
/// it says nothing we recognise.
func pivotDiagnosis(_ result: RunResult) -> String {
    let text = result.stderr
    if text.contains("pivot_root") {
        if text.contains("Device or resource busy") {
            return
                " — pivot_root refused with EBUSY: the new root must be a mount point (other kernels say EINVAL for the same mistake; EINVAL also means put_old is not under the new root)"
        }
        if text.contains("Invalid argument") {
            return
                " — pivot_root refused with EINVAL: the new root must be a mount point, with put_old under it (some kernels, 6.18 among them, say EBUSY for a new root that is no mount point)"
        }
    }
    if text.contains("umount") && text.contains("Device or resource busy") {
        return " — the old root could not be unmounted: the mounts under it keep it busy; a lazy unmount (MNT_DETACH) is needed"
    }
    return ""
}

let chapter3Checks: [Check] = [
    Check(
        "root-is-rootfs", chapter: 3, "/ inside is the rootfs",
        hints: [
            "pivot_root(2) has conditions; its man page lists them. Did the runtime say which one failed?",
            "pivotToRootfs: the new root must be a mount point (refused with EBUSY on some kernels, 6.18 among them, and EINVAL on others), and the old root has mounts under it.",
            "Bind-mount the rootfs onto itself (.bind, .recursive), chdir into it, pivotRoot(\".\", putOld: \".\"), unmount(\".\", detach: true), then changeDirectory(\"/\").",
        ]
    ) { context in
        let marker = "marker-\(UUID().uuidString.prefix(8))"
        try marker.write(toFile: context.rootfs + "/rootfs-marker", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: context.rootfs + "/rootfs-marker") }
        let result = context.run(["cat", "/rootfs-marker"])
        return expect(
            result.status == 0 && result.stdout.trimmed == marker, "cat /rootfs-marker to print \(marker)",
            saw: describe(result) + pivotDiagnosis(result))
    },

    Check(
        "host-unreachable", chapter: 3, "nothing of the host is reachable, `..` included",
        hints: [
            "Try from inside: `cat ../../../etc/hostname`, `ls /`, `cd /..`. A process has two anchors in the tree — its root, and one more.",
            "After pivot_root: the old root (still mounted at put_old until unmounted), and the working directory (still where the runtime started, in the host's tree).",
            "Unmount the old root with detach: true (and remove put_old if you made one), then changeDirectory(\"/\") — or relative paths still climb into the host.",
        ]
    ) { context in
        // The runtime starts in the work directory, on the host: the marker is one
        // relative step from a working directory that was never moved.
        let hostMarker = context.workDirectory + "/host-marker"
        try "host-secret\n".write(toFile: hostMarker, atomically: true, encoding: .utf8)
        let climb = String(repeating: "../", count: 12)
        let script =
            "cat host-marker 2>/dev/null && echo REL; cat \(climb)\(hostMarker.dropFirst()) 2>/dev/null && echo CLIMB; cat /../../..\(hostMarker) 2>/dev/null && echo ABS; "
            + "cd /../../..; pwd; ls -d /.oldroot* /.pivot* 2>/dev/null; echo done"
        let result = context.run(["sh", "-c", script])
        let lines = result.stdout.split(separator: "\n").map(String.init)
        var saw = describe(result)
        if lines.contains("REL") || lines.contains("CLIMB") {
            saw +=
                " — a relative path from the container's starting directory read the host's file: its working directory is still in the host's tree (no chdir(\"/\") after the pivot)"
        } else if let old = lines.first(where: { $0.hasPrefix("/.oldroot") || $0.hasPrefix("/.pivot") }) {
            saw += " — \(old) is still there: the old root was not unmounted (and removed)"
        }
        return expect(
            result.status == 0 && !result.stdout.contains("host-secret") && lines == ["/", "done"],
            "the host's marker unreadable by any path, `cd /../../..` to land in /, no /.oldroot", saw: saw + pivotDiagnosis(result))
    },

    Check(
        "ps-shows-container", chapter: 3, "ps lists only the container's processes, the command as PID 1",
        hints: [
            "ps reads /proc. What is at /proc in the new root?",
            "mountProc(), after the pivot: a procfs shows the PID namespace of whoever mounted it, so mount a new one from inside.",
            "mountProc(): makeDirectory(\"/proc\") if needed, then mount(source: \"proc\", target: \"/proc\", type: \"proc\", flags: [.noSuid, .noDev, .noExec]).",
        ]
    ) { context in
        let result = context.run(["sh", "-c", "test -e /proc/self/stat || echo NO-PROC; ps -o pid,comm"])
        if result.stdout.contains("NO-PROC") {
            return .failed(
                expected: "a procfs at /proc for ps to read",
                saw: "/proc is empty in the container: no procfs is mounted there (\(describe(result)))")
        }
        let rows = result.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: " ") }
        let pids = rows.compactMap { $0.first.flatMap { Int($0) } }
        return expect(
            result.status == 0 && pids.contains(1) && pids.count <= 3 && pids.allSatisfy { $0 < 10 },
            "ps to list PID 1 and at most two more low pids", saw: describe(result) + pivotDiagnosis(result))
    },

    Check(
        "no-host-mounts", chapter: 3, "/proc/self/mountinfo inside holds no host mount",
        hints: [
            "Every mount the container can reach is listed in its /proc/self/mountinfo. Where do the host's come from?",
            "The old root, with every host mount under it, stays in the container's mount namespace until it is unmounted; chroot unmounts nothing.",
            "After pivot_root, unmount the old root with detach: true.",
        ]
    ) { context in
        let result = context.run(["sh", "-c", "test -e /proc/self/stat || echo NO-PROC; cat /proc/self/mountinfo"])
        if result.stdout.contains("NO-PROC") {
            // This check's subject is the mount table, not /proc: ps-shows-container
            // fails for a missing /proc; here there is nothing to judge.
            return .skipped("no /proc in the container, so its mount table cannot be read — see the ps check")
        }
        let targets = result.stdout.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            return fields.count > 4 ? String(fields[4]) : nil
        }
        // Chapter 7 (scratch) hides some of /proc and /sys under mounts of its own, and
        // mounts the container's own cgroup tree read-only. Chapter 9 binds the
        // container's own /etc/hosts, /etc/hostname and /etc/resolv.conf.
        let networkFiles: Set<String> = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]
        let unexpected = targets.filter {
            !expectedContainerMounts.contains($0) && !maskedPaths.contains($0) && !readOnlyPaths.contains($0)
                && $0 != "/sys/fs/cgroup" && !$0.hasPrefix("/sys/fs/cgroup/") && !(context.stage >= 9 && networkFiles.contains($0))
        }
        return expect(
            result.status == 0 && !targets.isEmpty && unexpected.isEmpty,
            "only \(expectedContainerMounts.sorted().joined(separator: ", ")) mounted",
            saw: unexpected.isEmpty
                ? describe(result) + pivotDiagnosis(result)
                : "also " + unexpected.prefix(8).joined(separator: ", ") + (unexpected.count > 8 ? ", …" : "")
                    + " — the host's mounts are still in the container's mount table: the old root was not unmounted")
    },

    Check(
        "host-mounts-unchanged", chapter: 3, "the host's mount table is the same before and after a run, a failed one too", provesChapter: false,
        hints: [
            "Mounts made in the container's mount namespace stay there when / was made private first.",
            "A mount that leaks to the host means propagation was still shared: the story makes / private (MS_REC|MS_PRIVATE) before anything else.",
        ]
    ) { context in
        // Only what these runs could leave: mounts under this check run's own work
        // directory. Other containers on the host come and go meanwhile.
        func ours() -> [String] { HostView.mountTable().filter { $0.contains(context.workDirectory) } }
        let before = ours()
        let good = context.run(["true"])
        let failed = context.run(["/no/such/program"])
        let after = ours()
        let appeared = after.filter { !before.contains($0) }
        let reported = (CheckContext.hostDamage(good) + CheckContext.hostDamage(failed)).filter { $0.contains("mounts") }
        return all(
            expect(good.status == 0, "a run of `true` to succeed", saw: describe(good)),
            expect(failed.status == 127, "a run of a missing program to exit 127", saw: describe(failed)),
            expect(appeared.isEmpty, "the host's mount table unchanged", saw: "new: \(appeared.joined(separator: "; "))"),
            expect(reported.isEmpty, "the host's mount table unchanged", saw: reported.joined(separator: "; ")))
    },

    Check(
        "dev", chapter: 3, "/dev/null works and no host disk is in /dev",
        hints: [
            "The story mounts a tmpfs on /dev with a handful of character devices; the host's /dev is never bound in."
        ]
    ) { context in
        let result = context.run(["sh", "-c", "echo x > /dev/null && test -c /dev/null && echo null-ok; find /dev -type b"])
        return expect(
            result.status == 0 && result.stdout.trimmed == "null-ok",
            "/dev/null writable and no block device in /dev", saw: describe(result) + pivotDiagnosis(result))
    },

    Check(
        "sys-read-only", chapter: 3, "writing under /sys fails",
        hints: [
            "sysfs is mounted with MS_RDONLY: the container may read the kernel's knobs, never turn them."
        ]
    ) { context in
        // Judged from /sys alone (no /proc/mounts): a missing /proc is another check's.
        let result = context.run(["sh", "-c", "test -d /sys/kernel && echo sysfs-there; echo 1 > /sys/kernel/profiling && echo WROTE"])
        return expect(
            result.stdout.contains("sysfs-there") && !result.stdout.contains("WROTE")
                && result.stderr.contains("Read-only file system"),
            "a sysfs at /sys, and the write to fail with Read-only file system", saw: describe(result) + pivotDiagnosis(result))
    },

    Check(
        "read-only-rootfs", chapter: 3, "with --read-only writing to / fails; without, it works",
        hints: [
            "A bind mount takes MS_RDONLY only through a remount: MS_REMOUNT|MS_BIND|MS_RDONLY on /, after the other mounts."
        ]
    ) { context in
        let readOnly = context.run(["sh", "-c", "touch /written 2>&1; echo $?"], options: ["--read-only"])
        let writable = context.run(["sh", "-c", "touch /written && echo ok"])
        try? FileManager.default.removeItem(atPath: context.rootfs + "/written")
        return all(
            expect(
                readOnly.stdout.contains("Read-only file system"), "touch / to fail with Read-only file system",
                saw: describe(readOnly) + pivotDiagnosis(readOnly)),
            expect(writable.stdout.trimmed == "ok", "touch / to work without --read-only", saw: describe(writable)))
    },

    Check(
        "chroot-breakout", chapter: 3, "the chroot breakout escapes a chroot, and not pivot_root",
        hints: [
            "The breakout climbs `..` from wherever it stands until `..` is itself. What is above the container's root, and where does it stand when it starts?",
            "Two ways out: the host's tree still mounted beneath the root (chroot, or an old root never unmounted), or a working directory left in the host's tree.",
            "pivot_root, unmount the old root with detach: true, then changeDirectory(\"/\"): nothing of the host is left to climb to.",
        ]
    ) { context in
        guard let probe = context.probe else { return .skipped(context.probeProblem ?? "no probe") }
        let hostMarker = context.workDirectory + "/breakout-marker"
        try "host-secret".write(toFile: hostMarker, atomically: true, encoding: .utf8)
        let chrooted = context.run([probe, "chroot-escape", hostMarker], options: ["--unsafe-chroot"])
        let pivoted = context.run([probe, "chroot-escape", hostMarker])
        var saw = describe(pivoted) + pivotDiagnosis(pivoted)
        if pivoted.stdout.contains("host-secret") {
            // Which way out: a working directory in the host's tree reads the marker
            // by its relative name (the runtime starts in the work directory).
            let relative = context.run(["cat", "breakout-marker"])
            saw +=
                relative.stdout.contains("host-secret")
                ? " — the container started with its working directory outside its root (no chdir(\"/\") after the pivot), and climbed out from there"
                : " — the host's tree is still mounted beneath the container's root (entered with chroot, or the old root never unmounted)"
        }
        return all(
            expect(chrooted.stdout.contains("escaped: host-secret"), "the breakout to escape the chroot stage", saw: describe(chrooted)),
            expect(
                pivoted.status != 0 && !pivoted.stdout.contains("host-secret"),
                "the breakout to fail against your pivot_root", saw: saw))
    },
]
