import Foundation
import Syscalls
import Runtime
import Testing

@testable import Workbook

/// `workbook clean` against leftovers made on purpose: a `workbook run` killed with
/// SIGKILL mid-run (its state directory and cgroups stay), and the work directory of
/// an interrupted check with a mount under it.
@Suite(.serialized) struct WorkbookCleanTests {
    @Test func leftoversOfAKilledRunAndAnInterruptedCheckAreListedThenRemoved() throws {
        let home = try Support.temporaryDirectory()
        let temporary = try Support.temporaryDirectory()
        let check = temporary + "/workbook-check-test01"
        let mountPoint = check + "/rootfs/proc"
        defer {
            _ = umount2(mountPoint, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: home)
            try? FileManager.default.removeItem(atPath: temporary)
        }

        // A run at chapter 4's stage (state directory and a cgroup), killed mid-run.
        let run = Process()
        run.executableURL = URL(fileURLWithPath: Support.workbook)
        run.arguments = ["run", "4", "--reference", "--pids-limit", "50", "--", "sleep", "30"]
        var environment = ProcessInfo.processInfo.environment
        environment["SCRATCH_HOME"] = home
        run.environment = environment
        run.standardOutput = FileHandle.nullDevice
        run.standardError = FileHandle.nullDevice
        try run.run()
        var record: RecordedContainer?
        let deadline = Date().addingTimeInterval(20)
        while record == nil, Date() < deadline {
            record = recordedContainers().first { $0.state?.runtimePID == run.processIdentifier && $0.state?.pid != nil }
            if record == nil { usleep(50_000) }
        }
        guard let record, let state = record.state else {
            run.terminate()
            run.waitUntilExit()
            Issue.record("the run never recorded its container")
            return
        }
        kill(run.processIdentifier, SIGKILL)
        run.waitUntilExit()
        #expect(!state.cgroups.isEmpty)

        // An interrupted check: its work directory, a rootfs, a mount under it, old enough.
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        #expect(mount("tmpfs", mountPoint, "tmpfs", 0, nil) == 0)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: check)

        let env = ["TMPDIR": temporary]
        let dryRun = Support.run([Support.workbook, "clean", "--dry-run"], environment: env)
        #expect(dryRun.status == 0, "\(dryRun.stderr)")
        // Another test's `scratch run` may have removed the dead runtime's leftovers first.
        if FileManager.default.fileExists(atPath: record.directory) {
            #expect(dryRun.stdout.contains("would remove \(record.directory) (state of a runtime that is gone)"), "\(dryRun.stdout)")
        }
        #expect(dryRun.stdout.contains("would remove \(mountPoint) (mount under a check's work directory)"), "\(dryRun.stdout)")
        #expect(dryRun.stdout.contains("would remove \(check) (work directory of a check that was interrupted)"), "\(dryRun.stdout)")
        #expect(FileManager.default.fileExists(atPath: check), "--dry-run removes nothing")

        let clean = Support.run([Support.workbook, "clean"], environment: env)
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(clean.stdout.contains("removed \(check)"), "\(clean.stdout)")
        #expect(!FileManager.default.fileExists(atPath: record.directory))
        for group in state.cgroups { #expect(!FileManager.default.fileExists(atPath: group), "\(group)") }
        #expect(!FileManager.default.fileExists(atPath: check))
        #expect(Cleaner.mounts(under: temporary).isEmpty)
    }

    @Test func aCheckDirectoryInUseOrYoungIsLeftAlone() throws {
        let temporary = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let young = temporary + "/workbook-check-young1"
        let held = temporary + "/workbook-check-held01"
        let old = temporary + "/workbook-check-old001"
        for directory in [young, held, old] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        for directory in [held, old] {
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: directory)
        }
        let fd = open(held, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        #expect(Cleaner.abandonedCheckDirectories(in: [temporary]) == [old])
    }

    /// Chapter 8's checks make users (`wb8…`, home in their work directory); a check
    /// killed before its tearDown leaves them. Their subordinate lines go with them.
    @Test func aCheckUserWhoseWorkDirectoryIsGoneIsRemoved() throws {
        let temporary = try Support.temporaryDirectory()
        let live = temporary + "/workbook-check-live01"
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true)
        let fd = open(live, O_RDONLY | O_DIRECTORY)
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let gone = "wb8" + suffix + "g"
        let kept = "wb8" + suffix + "k"
        defer {
            close(fd)
            for name in [gone, kept] { _ = Support.run(["userdel", name]) }
            try? FileManager.default.removeItem(atPath: temporary)
        }
        let madeGone = Support.run(["useradd", "-M", "-N", "-g", "users", "-d", temporary + "/workbook-check-gone01/home-" + gone, gone])
        let madeKept = Support.run(["useradd", "-M", "-N", "-g", "users", "-d", live + "/home-" + kept, kept])
        try #require(madeGone.status == 0 && madeKept.status == 0, "useradd: \(madeGone.stderr)\(madeKept.stderr)")
        let found = Cleaner.abandonedCheckUsers(in: [temporary]).map(\.name)
        #expect(found.contains(gone) && !found.contains(kept), "\(found)")
        let removed = Cleaner.clean(temporaryDirectories: [temporary])
        #expect(removed.contains("user " + gone), "\(removed)")
        #expect(getpwnam(gone) == nil && getpwnam(kept) != nil)
        let subuid = (try? String(contentsOfFile: "/etc/subuid", encoding: .utf8)) ?? ""
        #expect(!subuid.contains(gone + ":"), "its /etc/subuid line stayed")
    }

    @Test func mountinfoEscapesAreRead() {
        #expect(unescapedMountPath("/tmp/a\\040b") == "/tmp/a b")
        #expect(unescapedMountPath("/plain") == "/plain")
    }
}
