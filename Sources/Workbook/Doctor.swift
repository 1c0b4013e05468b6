import Foundation
import Glibc
import Runtime

/// `workbook doctor`: what the workbook needs from this machine, one finding a line,
/// each missing piece with the command that fixes it. It tries what it can (a
/// namespace is created, not looked up) and reads the rest from /proc and PATH.
public struct Doctor {
    public struct Finding: Sendable, Equatable {
        public let ok: Bool
        /// A missing optional piece (the cgroup v2 VM, rootless) does not fail the doctor.
        public let required: Bool
        public let what: String
        /// What was found, or what is wrong and how to fix it.
        public let detail: String

        public var line: String {
            (ok ? "✓ " : "✗ ") + what + (detail.isEmpty ? "" : ": " + detail) + (!ok && !required ? " (optional)" : "")
        }
    }

    public let repository: Repository
    /// The environment whose PATH and SCRATCH_BUSYBOX are looked at (the tests pass
    /// their own to simulate a missing piece).
    public var environment: [String: String]

    public init(repository: Repository, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.repository = repository
        self.environment = environment
    }

    public func findings() -> [Finding] {
        var findings = [root(), kernel()]
        findings += namespaces()
        findings += [overlay(), cgroups(), unprivilegedUserNamespaces(), busybox(), compiler(), staticLibc(), umoci(), swift()]
        findings += virtualMachine()
        findings += room()
        return findings
    }

    // MARK: - The machine

    func root() -> Finding {
        geteuid() == 0
            ? Finding(ok: true, required: true, what: "root", detail: "running as uid 0")
            : Finding(
                ok: false, required: true, what: "root",
                detail: "namespaces, mounts and cgroups need CAP_SYS_ADMIN — run `sudo env PATH=\"$PATH\" workbook doctor`")
    }

    func kernel() -> Finding {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        let version = numbers.count == 2 ? numbers[0] * 1000 + numbers[1] : 0
        // openat2(RESOLVE_IN_ROOT), which chapters 5 and 6 use for paths inside a rootfs,
        // came with Linux 5.6; cgroup v2's cgroup.kill with 5.14 (the runtime falls back).
        return version >= 5006
            ? Finding(ok: true, required: true, what: "kernel", detail: "Linux \(release)")
            : Finding(
                ok: false, required: true, what: "kernel",
                detail: "Linux \(release) is older than 5.6 (openat2, used from chapter 5) — use a newer distribution or kernel")
    }

    static let namespaceKinds: [(name: String, flag: Int32, chapter: String)] = [
        ("uts", 0x0400_0000, "chapter 1"), ("pid", 0x2000_0000, "chapter 2"), ("mount", 0x0002_0000, "chapter 3"),
        ("cgroup", 0x0200_0000, "chapter 4"), ("ipc", 0x0800_0000, "chapter 7"), ("user", 0x1000_0000, "chapter 8"),
        ("network", 0x4000_0000, "chapter 9"), ("time", 0x0000_0080, "not used; Linux 5.6+"),
    ]

    /// Each kind is tried for real: a child calls unshare(2) and exits with its errno,
    /// so a kernel built without one, or a seccomp profile that forbids it, shows here.
    func namespaces() -> [Finding] {
        Self.namespaceKinds.map { kind in
            let error = tryUnshare(kind.flag)
            let what = "\(kind.name) namespace"
            if error == 0 { return Finding(ok: true, required: kind.name != "time", what: what, detail: "unshare works (\(kind.chapter))") }
            let fix =
                error == EPERM
                ? "run as root; in a container, give it --privileged" : "the kernel lacks CONFIG_\(kind.name.uppercased())_NS or forbids it"
            return Finding(
                ok: false, required: kind.name != "time", what: what,
                detail: "unshare failed with \(String(cString: strerror(error))) (\(kind.chapter)) — \(fix)")
        }
    }

    func tryUnshare(_ flag: Int32) -> Int32 {
        // Glibc declares unshare(2) only under _GNU_SOURCE, which Swift's Glibc module
        // does not define; the C library has it all the same.
        typealias Unshare = @convention(c) (Int32) -> Int32
        guard let symbol = dlsym(nil, "unshare") else { return ENOSYS }
        let unshare = unsafeBitCast(symbol, to: Unshare.self)
        let child = fork()
        if child == 0 {
            // Only async-signal-safe calls between fork and _exit.
            _exit(unshare(flag) == 0 ? 0 : errno)
        }
        guard child > 0 else { return errno }
        var status: Int32 = 0
        while waitpid(child, &status, 0) == -1 && errno == EINTR {}
        // WIFEXITED and WEXITSTATUS, spelled out: Glibc's macros do not reach Swift.
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : EINVAL
    }

    func overlay() -> Finding {
        let filesystems = (try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8)) ?? ""
        if filesystems.split(separator: "\n").contains(where: { $0.hasSuffix("\toverlay") }) {
            return Finding(ok: true, required: true, what: "overlayfs", detail: "in /proc/filesystems (chapter 5)")
        }
        return Finding(
            ok: false, required: true, what: "overlayfs",
            detail: "not in /proc/filesystems (chapter 5's layers) — `modprobe overlay`, or a kernel with CONFIG_OVERLAY_FS")
    }

    func cgroups() -> Finding {
        let needed = ["cpu", "memory", "pids"]
        let mode: CgroupMode
        do { mode = try detectCgroupMode() } catch {
            return Finding(ok: false, required: true, what: "cgroups", detail: "\(error)")
        }
        var usable: [String] = []
        switch mode {
        case .v2:
            let available = (try? String(contentsOfFile: "/sys/fs/cgroup/cgroup.controllers", encoding: .utf8)) ?? ""
            usable = available.split(whereSeparator: \.isWhitespace).map(String.init)
        case .v1:
            // Each controller is a hierarchy of its own, mounted under /sys/fs/cgroup.
            usable = needed.filter { FileManager.default.fileExists(atPath: "/sys/fs/cgroup/\($0)/cgroup.procs") }
        }
        let missing = needed.filter { !usable.contains($0) }
        if missing.isEmpty {
            return Finding(ok: true, required: true, what: "cgroups", detail: "\(mode), controllers \(needed.joined(separator: " ")) usable")
        }
        let fix =
            mode == .v2
            ? "the root does not offer them: check the kernel command line for cgroup_disable=, or whether a v1 mount holds them"
            : "mount them (`mount -t cgroup -o \(missing[0]) cgroup /sys/fs/cgroup/\(missing[0])`)"
        return Finding(ok: false, required: true, what: "cgroups", detail: "\(mode), no \(missing.joined(separator: ", ")) — \(fix)")
    }

    /// Where chapter 8's pieces are read (the tests point them at files of their own).
    var procSys = "/proc/sys"
    var subuidFile = "/etc/subuid"
    var subgidFile = "/etc/subgid"
    var idMapHelpers = ["/usr/bin/newuidmap", "/usr/bin/newgidmap"]

    /// Chapter 8: may an ordinary user make a user namespace, are the setuid helpers
    /// there for a range of ids, and has the user (the one behind sudo, if any) a range.
    func unprivilegedUserNamespaces() -> Finding {
        let what = "unprivileged user namespaces"
        // Debian's older kernels had a switch of their own; Ubuntu 24.04 restricts them
        // through AppArmor; everywhere a limit of 0 forbids them.
        if read(procSys + "/kernel/unprivileged_userns_clone") == "0" {
            return Finding(ok: false, required: false, what: what, detail: "off (chapter 8) — `sysctl kernel.unprivileged_userns_clone=1`")
        }
        if read(procSys + "/kernel/apparmor_restrict_unprivileged_userns") == "1" {
            return Finding(
                ok: false, required: false, what: what,
                detail: "AppArmor restricts them (chapter 8) — `sysctl kernel.apparmor_restrict_unprivileged_userns=0`")
        }
        if read(procSys + "/user/max_user_namespaces") == "0" {
            return Finding(
                ok: false, required: false, what: what, detail: "max_user_namespaces is 0 (chapter 8) — `sysctl user.max_user_namespaces=15000`")
        }
        let user = environment["SUDO_USER"].flatMap { $0.isEmpty ? nil : $0 } ?? currentUserName()
        let missing = idMapHelpers.filter { access($0, X_OK) != 0 }
        if !missing.isEmpty {
            return Finding(
                ok: false, required: false, what: what,
                detail:
                    "allowed, but \(missing.joined(separator: " and ")) missing: a user's range of ids (/etc/subuid) cannot be mapped (chapter 8) — `apt-get install uidmap`"
            )
        }
        // Root itself maps a range only with --userns: its own line is not the point.
        if user == "root" {
            return Finding(
                ok: true, required: false, what: what,
                detail: "allowed, newuidmap and newgidmap present (chapter 8; a user's range in \(subuidFile) is checked when doctor runs under sudo)"
            )
        }
        let ranges = [subuidFile, subgidFile].map { subordinateCount(in: $0, user: user) }
        if ranges.contains(where: { ($0 ?? 0) < 65536 }) {
            return Finding(
                ok: true, required: false, what: what,
                detail:
                    "allowed, newuidmap and newgidmap present; \(user) has no range of 65,536 ids in \(subuidFile) and \(subgidFile), so rootless containers map one id (chapter 8) — for a range: `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \(user)`"
            )
        }
        return Finding(
            ok: true, required: false, what: what,
            detail: "allowed, newuidmap and newgidmap present, \(user) has a range in \(subuidFile) and \(subgidFile) (chapter 8, rootless)")
    }

    /// How many ids `user`'s line in /etc/subuid (or /etc/subgid) gives; nil without one.
    func subordinateCount(in file: String, user: String) -> Int? {
        let uid = getpwnam(user).map { String($0.pointee.pw_uid) }
        for line in (read(file) ?? "").split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 3, fields[0] == user || (uid.map { fields[0] == $0 } ?? false), let count = Int(fields[2]) else { continue }
            return count
        }
        return nil
    }

    func currentUserName() -> String {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return "uid \(geteuid())" }
        return String(cString: name)
    }

    // MARK: - Packages

    func busybox() -> Finding {
        let path = environment["SCRATCH_BUSYBOX"] ?? "/bin/busybox"
        let fix = "`apt-get install busybox-static` (the containers' root filesystem)"
        guard let data = FileManager.default.contents(atPath: path) else {
            let named = environment["SCRATCH_BUSYBOX"] == nil ? "" : " ($SCRATCH_BUSYBOX)"
            return Finding(ok: false, required: true, what: "busybox-static", detail: "no \(path)\(named) — \(fix)")
        }
        guard Self.isStaticELF(data) else {
            return Finding(ok: false, required: true, what: "busybox-static", detail: "\(path) is dynamically linked — \(fix)")
        }
        return Finding(ok: true, required: true, what: "busybox-static", detail: "\(path), static")
    }

    /// An ELF64 executable with no PT_INTERP program header needs no dynamic loader:
    /// copied into an empty rootfs, it runs.
    static func isStaticELF(_ data: Data) -> Bool {
        let bytes = [UInt8](data.prefix(64 * 1024))
        guard bytes.count >= 64, bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46, bytes[4] == 2 else { return false }
        func integer(_ offset: Int, _ size: Int) -> Int {
            (0..<size).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
        }
        let table = integer(0x20, 8)
        let entrySize = integer(0x36, 2)
        let count = integer(0x38, 2)
        for index in 0..<count {
            let start = table + index * entrySize
            guard start + 4 <= bytes.count else { return false }
            if integer(start, 4) == 3 { return false }
        }
        return true
    }

    func compiler() -> Finding {
        if let cc = lookup("cc") ?? lookup("gcc") {
            return Finding(ok: true, required: true, what: "C compiler", detail: cc)
        }
        return Finding(
            ok: false, required: true, what: "C compiler", detail: "no cc or gcc on PATH (the checks' static probe) — `apt-get install gcc`")
    }

    func staticLibc() -> Finding {
        let candidates = ["/usr/lib/x86_64-linux-gnu/libc.a", "/usr/lib/aarch64-linux-gnu/libc.a", "/usr/lib/libc.a", "/usr/lib64/libc.a"]
        if let found = candidates.first(where: FileManager.default.fileExists(atPath:)) {
            return Finding(ok: true, required: true, what: "static libc", detail: found)
        }
        return Finding(
            ok: false, required: true, what: "static libc", detail: "no libc.a (the probe is linked -static) — `apt-get install libc6-dev`")
    }

    func umoci() -> Finding {
        if let umoci = lookup("umoci") {
            return Finding(ok: true, required: true, what: "umoci", detail: umoci)
        }
        return Finding(
            ok: false, required: true, what: "umoci",
            detail: "not on PATH (chapter 5's checks and lesson build their test images with it, offline) — `apt-get install umoci`")
    }

    func swift() -> Finding {
        guard let swift = lookup("swift") else {
            return Finding(
                ok: false, required: true, what: "Swift",
                detail: "not on PATH — install Swift 6 (https://www.swift.org/install/linux/); with sudo, keep PATH: `sudo env PATH=\"$PATH\" …`")
        }
        let output = run(swift, ["--version"])
        guard let range = output.range(of: "Swift version ") else {
            return Finding(ok: false, required: true, what: "Swift", detail: "\(swift) --version did not say its version")
        }
        let version = output[range.upperBound...].prefix { !$0.isWhitespace }
        guard let major = Int(version.prefix { $0.isNumber }), major >= 6 else {
            return Finding(
                ok: false, required: true, what: "Swift", detail: "\(version) at \(swift); the workbook needs Swift 6 — install a newer toolchain")
        }
        return Finding(ok: true, required: true, what: "Swift", detail: "\(version)")
    }

    func virtualMachine() -> [Finding] {
        let why = "the cgroup v2 VM, tools/vm/cgroup2-checks"
        var findings: [Finding] = []
        for (program, package) in [("qemu-system-x86_64", "qemu-system-x86"), ("cpio", "cpio")] {
            findings.append(
                lookup(program).map { Finding(ok: true, required: false, what: program, detail: $0) }
                    ?? Finding(
                        ok: false, required: false, what: program,
                        detail: "not on PATH (\(why)) — `apt-get install --no-install-recommends \(package)`"))
        }
        let kernel = repository.path(".build/vm/vmlinuz")
        findings.append(
            FileManager.default.fileExists(atPath: kernel)
                ? Finding(ok: true, required: false, what: "VM kernel", detail: ".build/vm/vmlinuz")
                : Finding(ok: false, required: false, what: "VM kernel", detail: "no .build/vm/vmlinuz (\(why)) — `sudo tools/vm/fetch-kernel`"))
        return findings
    }

    // MARK: - Helpers

    func lookup(_ program: String) -> String? {
        for directory in (environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func run(_ executable: String, _ arguments: [String]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
