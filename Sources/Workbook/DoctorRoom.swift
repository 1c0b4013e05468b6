import Foundation
import Glibc

/// What a workshop room meets that a developer's own machine does not: the workbook run
/// inside a container, under WSL, on a distribution other than Debian's family, on an
/// arm64 laptop. Each is read from files (`root` is "/" for real; the tests point it at
/// a directory of simulated files) and `machine` (uname's, or a simulated one).
extension Doctor {
    func room() -> [Finding] {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return Self.roomFindings(root: "/", machine: machine, repositoryRoot: repository.root)
    }

    static func roomFindings(root: String, machine: String, repositoryRoot: String) -> [Finding] {
        var findings = [container(root: root)]
        if let wsl = wsl(root: root, repositoryRoot: repositoryRoot) { findings += wsl }
        findings += [distribution(root: root), architecture(machine)]
        return findings
    }

    static func file(_ root: String, _ path: String) -> String? {
        try? String(contentsOfFile: (root == "/" ? "" : root) + path, encoding: .utf8)
    }

    // MARK: - A container

    /// Docker leaves /.dockerenv, Podman /run/.containerenv; a cgroup path of PID 1
    /// naming a container engine says so for the others (containerd, Kubernetes, LXC).
    static func container(root: String) -> Finding {
        var engine: String?
        if file(root, "/.dockerenv") != nil {
            engine = "Docker (/.dockerenv)"
        } else if file(root, "/run/.containerenv") != nil {
            engine = "Podman (/run/.containerenv)"
        } else if let cgroup = file(root, "/proc/1/cgroup") {
            let markers = ["docker", "kubepods", "containerd", "libpod", "lxc"]
            if let marker = markers.first(where: { cgroup.contains($0) }) { engine = "\(marker) (a cgroup path of /proc/1/cgroup)" }
        }
        guard let engine else { return Finding(ok: true, required: false, what: "container", detail: "not inside one (a machine of its own)") }
        // Everything the workbook does is what a container engine forbids its
        // containers by default; overlayfs refuses an upper layer on overlayfs.
        return Finding(
            ok: false, required: false, what: "container",
            detail:
                "inside one: \(engine). The workbook makes namespaces, mounts and cgroups: run it `--privileged --cgroupns=host` with a volume (not the container's overlay) on /var/lib/scratch and /tmp, or use the attendee image (docs/workshop/image.md)"
        )
    }

    // MARK: - WSL

    /// WSL 1 translates Linux calls and has no namespaces: nothing here works. WSL 2 is
    /// a real Linux kernel in a VM: everything works, with two traps — Windows' drives
    /// under /mnt are a 9p share (slow, no inotify for edits made from Windows) and
    /// systemd may be off.
    static func wsl(root: String, repositoryRoot: String) -> [Finding]? {
        guard let version = file(root, "/proc/version"), version.lowercased().contains("microsoft") else { return nil }
        let wsl2 = version.contains("microsoft-standard") || version.contains("WSL2")
        guard wsl2 else {
            return [
                Finding(
                    ok: false, required: true, what: "WSL",
                    detail:
                        "WSL 1 has no Linux kernel of its own (no namespaces, no cgroups) — in PowerShell `wsl --set-version <distribution> 2`, or use the attendee image"
                )
            ]
        }
        var findings = [
            Finding(
                ok: true, required: false, what: "WSL",
                detail:
                    "WSL 2: a real Linux kernel; namespaces, overlayfs and cgroups work. Keep the repository in the Linux home (~), not under /mnt/c"
            )
        ]
        if repositoryRoot.hasPrefix("/mnt/") {
            findings.append(
                Finding(
                    ok: false, required: false, what: "WSL repository",
                    detail:
                        "\(repositoryRoot) is on a Windows drive: builds are slow there and `workbook watch` sees no save made from Windows — clone into ~ instead (or use `workbook watch --poll`)"
                ))
        }
        return findings
    }

    // MARK: - The distribution

    /// The package names ./workbook installs are Debian's. Other families get their own
    /// names where we know them, marked untested: no pilot has run there yet.
    static func distribution(root: String) -> Finding {
        guard let text = file(root, "/etc/os-release") ?? file(root, "/usr/lib/os-release") else {
            return Finding(ok: false, required: false, what: "distribution", detail: "no /etc/os-release: untested — use the attendee image")
        }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...]).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        }
        let id = fields["ID"] ?? "unknown"
        let family = ([id] + (fields["ID_LIKE"] ?? "").split(separator: " ").map(String.init))
        let name = fields["PRETTY_NAME"] ?? id
        if id == "debian" {
            return Finding(ok: true, required: false, what: "distribution", detail: "\(name) (the one the workbook is tested on)")
        }
        if family.contains("debian") || family.contains("ubuntu") {
            return Finding(
                ok: true, required: false, what: "distribution",
                detail: "\(name), of Debian's family: ./workbook installs the same package names with apt-get")
        }
        let untested = "\(name): untested (no pilot ran here)"
        if family.contains("fedora") || family.contains("rhel") || family.contains("centos") {
            return Finding(
                ok: false, required: false, what: "distribution",
                detail:
                    "\(untested) — `dnf install busybox gcc glibc-static util-linux cmark-gfm-devel libarchive-devel openssl-devel ncurses-devel umoci` (Fedora's names; on RHEL some need EPEL), then `SCRATCH_BUSYBOX=/usr/sbin/busybox` if busybox is not in /bin"
            )
        }
        if family.contains("arch") {
            return Finding(
                ok: false, required: false, what: "distribution",
                detail:
                    "\(untested) — `pacman -S busybox gcc util-linux cmark-gfm libarchive openssl ncurses umoci` (Arch's names; its busybox must be static)"
            )
        }
        if family.contains("suse") || family.contains("opensuse") {
            return Finding(
                ok: false, required: false, what: "distribution",
                detail:
                    "\(untested) — `zypper install busybox-static gcc glibc-devel-static util-linux cmark-gfm-devel libarchive-devel libopenssl-devel ncurses-devel umoci` (openSUSE's names)"
            )
        }
        if id == "alpine" {
            return Finding(
                ok: false, required: false, what: "distribution",
                detail: "\(untested): musl, and the Swift toolchain for Linux needs glibc — use the attendee image")
        }
        return Finding(
            ok: false, required: false, what: "distribution",
            detail:
                "\(untested) — install what Debian calls \(debianPackages.joined(separator: " ")) by your distribution's names, or use the attendee image"
        )
    }

    /// What ./workbook installs on Debian (its `missing+=` list), for the message above.
    static let debianPackages = [
        "busybox-static", "gcc", "libc6-dev", "util-linux", "libcmark-gfm-dev", "libcmark-gfm-extensions-dev", "libarchive-dev",
        "libssl-dev", "umoci", "libncurses-dev",
    ]

    // MARK: - The architecture

    static func architecture(_ machine: String) -> Finding {
        switch machine {
        case "x86_64":
            return Finding(ok: true, required: false, what: "architecture", detail: "x86_64 (tested; the attendee image is x86_64)")
        case "aarch64", "arm64":
            // Everything is built from source on the machine itself, so it is native;
            // seccomp's filters name the architecture (chapter 7 handles arm64).
            return Finding(
                ok: true, required: false, what: "architecture",
                detail:
                    "arm64: the workbook builds natively (Swift for Linux on aarch64, Debian's busybox-static); the x86_64 attendee image would run only emulated — build the image for arm64 instead (docs/workshop/image.md, \"arm64\")"
            )
        default:
            return Finding(
                ok: false, required: false, what: "architecture",
                detail: "\(machine): untested — Swift for Linux ships for x86_64 and aarch64 only; chapter 7's seccomp knows those two")
        }
    }
}
