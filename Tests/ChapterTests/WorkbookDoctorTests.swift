import Foundation
import Testing

@testable import Workbook

/// `workbook doctor` on this machine (everything required is here: CI installs it), and
/// with a piece missing, simulated through the environment it looks at.
@Suite(.serialized) struct WorkbookDoctorTests {
    @Test func thisMachineHasWhatIsRequired() {
        let doctor = Support.run([Support.binDirectory + "/workbook", "doctor"])
        #expect(doctor.status == 0, "\(doctor.stdout)\(doctor.stderr)")
        for what in [
            "root", "kernel", "uts namespace", "pid namespace", "mount namespace", "overlayfs", "cgroups", "busybox-static", "umoci", "Swift",
        ] {
            #expect(doctor.stdout.contains("✓ \(what)"), "\(what) in \(doctor.stdout)")
        }
        #expect(!doctor.stdout.contains("\u{1B}"))
    }

    @Test func aMissingBusyboxFailsWithItsFix() {
        let doctor = Support.run([Support.binDirectory + "/workbook", "doctor"], environment: ["SCRATCH_BUSYBOX": "/nonexistent/busybox"])
        #expect(doctor.status == 1)
        #expect(
            doctor.stdout.contains("✗ busybox-static: no /nonexistent/busybox ($SCRATCH_BUSYBOX) — `apt-get install busybox-static`"),
            "\(doctor.stdout)")
        #expect(doctor.stdout.contains("1 required piece(s) missing: busybox-static"), "\(doctor.stdout)")
    }

    @Test func noCompilerOnPathFailsWithItsFix() throws {
        // A PATH that has Swift and umoci and nothing else: no cc, no gcc, no qemu.
        let bin = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: bin) }
        for program in ["swift", "umoci"] {
            let found = try #require(Doctor(repository: Support.repository).lookup(program))
            try FileManager.default.createSymbolicLink(atPath: bin + "/" + program, withDestinationPath: found)
        }
        let doctor = Support.run([Support.binDirectory + "/workbook", "doctor"], environment: ["PATH": bin])
        #expect(doctor.status == 1)
        #expect(doctor.stdout.contains("✗ C compiler: no cc or gcc on PATH"), "\(doctor.stdout)")
        #expect(doctor.stdout.contains("✓ Swift"), "\(doctor.stdout)")
        // The VM's pieces are optional: missing, they do not count.
        #expect(doctor.stdout.contains("✗ qemu-system-x86_64: not on PATH") && doctor.stdout.contains("(optional)"))
        #expect(doctor.stdout.contains("1 required piece(s) missing: C compiler"), "\(doctor.stdout)")
    }

    /// Chapter 8's line, from files the test writes: the kernel's switches, the helpers,
    /// /etc/subuid and /etc/subgid.
    @Test func userNamespacesLineSaysWhatIsMissingAndTheFix() throws {
        let directory = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/user", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/kernel", withIntermediateDirectories: true)
        try "15000\n".write(toFile: directory + "/user/max_user_namespaces", atomically: true, encoding: .utf8)
        try "ann:100000:65536\n".write(toFile: directory + "/subuid", atomically: true, encoding: .utf8)
        try "ann:100000:65536\n".write(toFile: directory + "/subgid", atomically: true, encoding: .utf8)
        var doctor = Doctor(repository: Support.repository, environment: ["SUDO_USER": "ann"])
        doctor.procSys = directory
        doctor.subuidFile = directory + "/subuid"
        doctor.subgidFile = directory + "/subgid"
        doctor.idMapHelpers = ["/bin/true", "/bin/true"]
        let fine = doctor.unprivilegedUserNamespaces()
        #expect(fine.ok && fine.detail.contains("ann has a range"), "\(fine.line)")

        // No range for this user: still usable (one id), with the command that gives one.
        doctor.environment = ["SUDO_USER": "bob"]
        let single = doctor.unprivilegedUserNamespaces()
        #expect(single.ok && single.detail.contains("`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 bob`"), "\(single.line)")

        // newuidmap missing.
        doctor.idMapHelpers = [directory + "/newuidmap", "/bin/true"]
        let helper = doctor.unprivilegedUserNamespaces()
        #expect(!helper.ok && !helper.required, "\(helper.line)")
        #expect(helper.line.contains("newuidmap missing") && helper.line.contains("`apt-get install uidmap`"), "\(helper.line)")

        // Disabled by the kernel.
        try "0\n".write(toFile: directory + "/user/max_user_namespaces", atomically: true, encoding: .utf8)
        let off = doctor.unprivilegedUserNamespaces()
        #expect(!off.ok && off.line.contains("`sysctl user.max_user_namespaces=15000`"), "\(off.line)")
    }

    @Test func staticExecutablesAreToldFromDynamicOnes() throws {
        let busybox = try #require(FileManager.default.contents(atPath: "/bin/busybox"))
        let ls = try #require(FileManager.default.contents(atPath: "/bin/ls"))
        #expect(Doctor.isStaticELF(busybox))
        #expect(!Doctor.isStaticELF(ls))
        #expect(!Doctor.isStaticELF(Data("#!/bin/sh\n".utf8)))
    }

    @Test func aFindingIsOneLine() {
        #expect(Doctor.Finding(ok: true, required: true, what: "root", detail: "uid 0").line == "✓ root: uid 0")
        #expect(Doctor.Finding(ok: false, required: false, what: "cpio", detail: "missing").line == "✗ cpio: missing (optional)")
    }
}
