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
