import Foundation
import Glibc

// Chapter 3 — a root of its own: the rootfs is `/`, the host's tree is out of reach,
// and /proc, /dev, /sys are the container's.

/// The mount points a container may have at this stage, and no others.
let expectedContainerMounts: Set<String> = ["/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"]

let chapter3Checks: [Check] = [
    Check(
        "root-is-rootfs", chapter: 3, "/ inside is the rootfs",
        hints: [
            "After pivot_root the rootfs is `/`: a file placed in the rootfs shows at the top.",
            "Bind-mount the rootfs onto itself, then pivotRoot(rootfs, putOld: rootfs + \"/.oldroot\"), then changeDirectory(\"/\").",
        ]
    ) { context in
        let marker = "marker-\(UUID().uuidString.prefix(8))"
        try marker.write(toFile: context.rootfs + "/rootfs-marker", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: context.rootfs + "/rootfs-marker") }
        let result = context.run(["cat", "/rootfs-marker"])
        return expect(result.status == 0 && result.stdout.trimmed == marker, "cat /rootfs-marker to print \(marker)", saw: describe(result))
    },

    Check(
        "host-unreachable", chapter: 3, "nothing of the host is reachable, `..` included",
        hints: [
            "After pivot_root the old root is still mounted at put_old: unmount it (detach: true) and remove the directory.",
            "`/..` is `/` in the new root; if a host path still resolves, the old root was not unmounted.",
        ]
    ) { context in
        let hostMarker = context.workDirectory + "/host-marker"
        try "host-secret".write(toFile: hostMarker, atomically: true, encoding: .utf8)
        let script =
            "cat \(hostMarker) 2>/dev/null; cat /../../..\(hostMarker) 2>/dev/null; cd /../../..; pwd; ls -d /.oldroot* 2>/dev/null; echo done"
        let result = context.run(["sh", "-c", script])
        return expect(
            result.status == 0 && !result.stdout.contains("host-secret") && result.stdout.contains("done")
                && result.stdout.split(separator: "\n").first == "/" && result.stdout.split(separator: "\n").count == 2,
            "the host's marker unreadable, `cd /../../..` to land in /, no /.oldroot", saw: describe(result))
    },

    Check(
        "ps-shows-container", chapter: 3, "ps lists only the container's processes, the command as PID 1",
        hints: [
            "ps reads /proc. A procfs shows the PID namespace of whoever mounted it: mount a new one from inside.",
            "mountProc(): mount(source: \"proc\", target: \"/proc\", type: \"proc\", flags: [.noSuid, .noDev, .noExec]).",
        ]
    ) { context in
        let result = context.run(["sh", "-c", "ps -o pid,comm"])
        let rows = result.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: " ") }
        let pids = rows.compactMap { $0.first.flatMap { Int($0) } }
        return expect(
            result.status == 0 && pids.contains(1) && pids.count <= 3 && pids.allSatisfy { $0 < 10 },
            "ps to list PID 1 and at most two more low pids", saw: describe(result))
    },

    Check(
        "no-host-mounts", chapter: 3, "/proc/self/mountinfo inside holds no host mount",
        hints: [
            "Mounts the container still sees under the old root show up in mountinfo until the old root is unmounted.",
            "Unmount /.oldroot with detach: true after pivot_root.",
        ]
    ) { context in
        let result = context.run(["cat", "/proc/self/mountinfo"])
        let targets = result.stdout.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            return fields.count > 4 ? String(fields[4]) : nil
        }
        let unexpected = targets.filter { !expectedContainerMounts.contains($0) }
        return expect(
            result.status == 0 && !targets.isEmpty && unexpected.isEmpty,
            "only \(expectedContainerMounts.sorted().joined(separator: ", ")) mounted",
            saw: unexpected.isEmpty ? describe(result) : "also " + unexpected.joined(separator: ", "))
    },

    Check(
        "host-mounts-unchanged", chapter: 3, "the host's mount table is the same before and after a run, a failed one too", provesChapter: false,
        hints: [
            "Mounts made in the container's mount namespace stay there when / was made private first.",
            "A mount that leaks to the host means propagation was still shared: the story makes / private (MS_REC|MS_PRIVATE) before anything else.",
        ]
    ) { context in
        let before = HostView.mountTable()
        let good = context.run(["true"])
        let failed = context.run(["/no/such/program"])
        let after = HostView.mountTable()
        let appeared = after.filter { !before.contains($0) }
        let vanished = before.filter { !after.contains($0) }
        return all(
            expect(good.status == 0, "a run of `true` to succeed", saw: describe(good)),
            expect(failed.status == 127, "a run of a missing program to exit 127", saw: describe(failed)),
            expect(
                appeared.isEmpty && vanished.isEmpty, "the host's mount table unchanged",
                saw: "new: \(appeared.joined(separator: "; ")) gone: \(vanished.joined(separator: "; "))"))
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
            "/dev/null writable and no block device in /dev", saw: describe(result))
    },

    Check(
        "sys-read-only", chapter: 3, "writing under /sys fails",
        hints: [
            "sysfs is mounted with MS_RDONLY: the container may read the kernel's knobs, never turn them."
        ]
    ) { context in
        let result = context.run(["sh", "-c", "echo 1 > /sys/kernel/profiling 2>&1 && echo WROTE; grep ' /sys ' /proc/mounts"])
        return expect(
            !result.stdout.contains("WROTE") && result.stdout.contains("sysfs /sys sysfs ro"),
            "the write to fail and /sys to be mounted ro", saw: describe(result))
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
            expect(readOnly.stdout.contains("Read-only file system"), "touch / to fail with Read-only file system", saw: describe(readOnly)),
            expect(writable.stdout.trimmed == "ok", "touch / to work without --read-only", saw: describe(writable)))
    },

    Check(
        "chroot-breakout", chapter: 3, "the chroot breakout escapes a chroot, and not pivot_root",
        hints: [
            "chroot changes where / resolves for one process, nothing more: the old tree is still mounted beneath.",
            "With pivot_root and the old root unmounted, climbing `..` ends at the container's own /.",
        ]
    ) { context in
        guard let probe = context.probe else { return .skipped(context.probeProblem ?? "no probe") }
        let hostMarker = context.workDirectory + "/breakout-marker"
        try "host-secret".write(toFile: hostMarker, atomically: true, encoding: .utf8)
        let chrooted = context.run([probe, "chroot-escape", hostMarker], options: ["--unsafe-chroot"])
        let pivoted = context.run([probe, "chroot-escape", hostMarker])
        return all(
            expect(chrooted.stdout.contains("escaped: host-secret"), "the breakout to escape the chroot stage", saw: describe(chrooted)),
            expect(
                pivoted.status != 0 && !pivoted.stdout.contains("host-secret"),
                "the breakout to fail against pivot_root", saw: describe(pivoted)))
    },
]
