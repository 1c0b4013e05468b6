import Foundation
import Testing

@testable import Workbook

/// `workbook doctor` in a room: a container, WSL 1 and 2, distributions other than
/// Debian, arm64, each simulated with files under a directory the test makes (the
/// detections read `root` + "/.dockerenv", "/proc/version", "/etc/os-release"…), and
/// the wrapper on a Mac or Windows.
@Suite struct WorkbookDoctorRoomTests {
    /// A directory holding `files` (path → contents), removed by the caller.
    static func root(_ files: [String: String]) throws -> String {
        let root = try Support.temporaryDirectory()
        for (path, text) in files {
            try FileManager.default.createDirectory(atPath: root + (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: root + path))
        }
        return root
    }

    static func findings(_ files: [String: String], machine: String = "x86_64", repository: String = "/home/ada/scratch") throws -> [Doctor.Finding] {
        let root = try root(files)
        defer { try? FileManager.default.removeItem(atPath: root) }
        return Doctor.roomFindings(root: root, machine: machine, repositoryRoot: repository)
    }

    static func finding(_ what: String, in findings: [Doctor.Finding]) throws -> Doctor.Finding {
        try #require(findings.first { $0.what == what }, "no \(what) in \(findings.map(\.line))")
    }

    @Test func aPlainDebianMachine() throws {
        let findings = try Self.findings(["/etc/os-release": "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n"])
        #expect(findings.allSatisfy { $0.ok }, "\(findings.map(\.line))")
        try #expect(Self.finding("container", in: findings).detail.contains("not inside one"))
        try #expect(Self.finding("distribution", in: findings).line.contains("Debian GNU/Linux 12 (bookworm) (the one the workbook is tested on)"))
        #expect(!findings.contains { $0.what == "WSL" })
    }

    @Test(arguments: [
        ("/.dockerenv", "", "Docker (/.dockerenv)"),
        ("/run/.containerenv", "engine=\"podman-4.3\"\n", "Podman (/run/.containerenv)"),
        ("/proc/1/cgroup", "0::/kubepods/besteffort/pod1234/abcd\n", "kubepods"),
        ("/proc/1/cgroup", "12:pids:/docker/0123abcd\n", "docker"),
    ])
    func insideAContainer(path: String, text: String, says: String) throws {
        let finding = try Self.finding("container", in: try Self.findings([path: text]))
        #expect(!finding.ok && !finding.required)
        #expect(finding.detail.contains(says) && finding.detail.contains("--privileged"), "\(finding.line)")
        #expect(finding.detail.contains("attendee image"))
    }

    @Test func wsl1CannotWork() throws {
        let findings = try Self.findings(["/proc/version": "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0)\n"])
        let wsl = try Self.finding("WSL", in: findings)
        #expect(!wsl.ok && wsl.required, "\(wsl.line)")
        #expect(wsl.detail.contains("wsl --set-version"))
    }

    @Test func wsl2WorksAndWarnsAboutWindowsDrives() throws {
        let version = "Linux version 5.15.153.1-microsoft-standard-WSL2 (root@1234) (gcc (GCC) 11.2.0)\n"
        let home = try Self.findings(["/proc/version": version])
        try #expect(Self.finding("WSL", in: home).ok)
        #expect(!home.contains { $0.what == "WSL repository" })
        let drive = try Self.findings(["/proc/version": version], repository: "/mnt/c/Users/ada/scratch")
        let warning = try Self.finding("WSL repository", in: drive)
        #expect(!warning.ok && !warning.required && warning.detail.contains("clone into ~"), "\(warning.line)")
    }

    @Test(arguments: [
        ("ID=ubuntu\nID_LIKE=debian\nPRETTY_NAME=\"Ubuntu 24.04 LTS\"\n", true, "of Debian's family"),
        ("ID=fedora\nPRETTY_NAME=\"Fedora Linux 40\"\n", false, "dnf install busybox gcc glibc-static"),
        ("ID=rocky\nID_LIKE=\"rhel centos fedora\"\nPRETTY_NAME=\"Rocky Linux 9\"\n", false, "dnf install"),
        ("ID=arch\nPRETTY_NAME=\"Arch Linux\"\n", false, "pacman -S"),
        ("ID=opensuse-tumbleweed\nID_LIKE=\"opensuse suse\"\n", false, "zypper install"),
        ("ID=alpine\nPRETTY_NAME=\"Alpine Linux v3.20\"\n", false, "needs glibc"),
        ("ID=nixos\nPRETTY_NAME=\"NixOS 24.05\"\n", false, "by your distribution's names"),
    ])
    func distributions(osRelease: String, ok: Bool, says: String) throws {
        let finding = try Self.finding("distribution", in: try Self.findings(["/etc/os-release": osRelease]))
        #expect(finding.ok == ok && !finding.required, "\(finding.line)")
        #expect(finding.detail.contains(says), "\(finding.line)")
        if !ok { #expect(finding.detail.contains("untested"), "\(finding.line)") }
    }

    @Test func noOsReleaseIsUntested() throws {
        let finding = try Self.finding("distribution", in: try Self.findings([:]))
        #expect(!finding.ok && finding.detail.contains("untested"))
    }

    @Test func architectures() throws {
        let arm = try Self.finding("architecture", in: try Self.findings([:], machine: "aarch64"))
        #expect(arm.ok && arm.detail.contains("arm64") && arm.detail.contains("build the image for arm64"), "\(arm.line)")
        let risc = try Self.finding("architecture", in: try Self.findings([:], machine: "riscv64"))
        #expect(!risc.ok && !risc.required && risc.detail.contains("untested"), "\(risc.line)")
        try #expect(Self.finding("architecture", in: Self.findings([:])).ok)
    }

    @Test func thisMachinesDoctorShowsTheRoomLines() {
        let doctor = Support.run([Support.workbook, "doctor"])
        for what in ["container", "distribution", "architecture: x86_64"] {
            #expect(doctor.stdout.contains(" \(what)"), "\(what) in \(doctor.stdout)")
        }
    }

    @Test(arguments: [("Darwin", "qemu, UTM or Lima"), ("MINGW64_NT-10.0-19045", "WSL 2"), ("FreeBSD", "needs Linux")])
    func theWrapperSaysLinuxIsNeeded(system: String, says: String) {
        let wrapper = Support.run([Support.repository.path("workbook"), "doctor"], environment: ["WORKBOOK_UNAME": system])
        #expect(wrapper.status == 125)
        #expect(wrapper.stderr.contains("needs Linux") && wrapper.stderr.contains("attendee image"), "\(wrapper.stderr)")
        #expect(wrapper.stderr.contains(says), "\(wrapper.stderr)")
    }
}
