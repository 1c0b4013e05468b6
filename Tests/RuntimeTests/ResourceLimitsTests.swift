import Glibc
@testable import Runtime
import Syscalls
import Testing

// `--memory`, `--pids-limit` and `--cpus`: Docker's units, and clear errors for bad
// input (which the runtime refuses in step 1, exit 125, before any cgroup exists).
@Suite struct ResourceLimitsTests {
    static let mib: UInt64 = 1 << 20
    static let sizes: [(String, UInt64)] = [
        ("64m", 64 * mib), ("64M", 64 * mib), ("64mb", 64 * mib), ("64MiB", 64 * mib),
        ("1g", 1024 * mib), ("1.5g", 1536 * mib), ("8192k", 8 * mib), ("6m", 6 * mib),
        ("33554432", 32 * mib), ("33554432b", 32 * mib),
    ]

    @Test("memory sizes in Docker's units", arguments: sizes)
    func memorySizes(text: String, bytes: UInt64) throws {
        #expect(try parseMemorySize(text) == bytes)
    }

    @Test(
        "bad memory sizes are refused",
        arguments: [
            "0", "0m", "-5m", "12XB", "abc", "m", "", "1.2.3m", "64mm", "1k", "5m", "8000000000g", "4194305g", "1e10", "inf", "nan",
            String(repeating: "9", count: 400), "６４m", "64 m",
        ])
    func badMemorySizes(text: String) {
        #expect(throws: LimitParseError.self) { try parseMemorySize(text) }
    }

    @Test("the memory ceiling is 4 PiB: beyond it no machine has memory, so it is a slip")
    func memoryCeiling() throws {
        #expect(try parseMemorySize("4194304g") == 1 << 52)
        #expect(try parseMemorySize("1024g") == 1 << 40)
        let error = #expect(throws: LimitParseError.self) { try parseMemorySize("8000000000g") }
        #expect(error?.reason.contains("check the unit") == true)
        #expect(throws: ContainerError.self) { try ResourceLimits(memoryBytes: (1 << 52) + 1).validate() }
        #expect(throws: ContainerError.self) { try ResourceLimits(memoryBytes: UInt64.max).validate() }
    }

    @Test func pidsLimits() throws {
        #expect(try parsePidsLimit("20") == 20)
        #expect(try parsePidsLimit("1") == 1)
        for bad in ["0", "-1", "abc", "1.5", "", "99999999", "99999999999999999999999", "４"] {
            #expect(throws: LimitParseError.self) { try parsePidsLimit(bad) }
        }
    }

    @Test func cpuShares() throws {
        #expect(try parseCPUs("0.5") == 0.5)
        #expect(try parseCPUs("1") == 1)
        #expect(try parseCPUs("0.01") == 0.01)
        for bad in ["0", "0.001", "-1", "abc", "", "nan", "inf", "0x1p-1", "1000000"] {
            #expect(throws: LimitParseError.self) { try parseCPUs(bad) }
        }
    }

    @Test("--cpus becomes a CFS quota per 100 ms period")
    func cpuQuota() {
        #expect(ResourceLimits(cpus: 0.5).cpuQuotaMicroseconds == 50_000)
        #expect(ResourceLimits(cpus: 0.2).cpuQuotaMicroseconds == 20_000)
        #expect(ResourceLimits(cpus: 1.5).cpuQuotaMicroseconds == 150_000)
        #expect(ResourceLimits.cpuPeriodMicroseconds == 100_000)
    }

    @Test("errors name step 1, the flag and its value, and say what would do")
    func errorText() {
        func message(memory: String? = nil, pids: String? = nil, cpus: String? = nil) -> String {
            do {
                _ = try ResourceLimits(memory: memory, pidsLimit: pids, cpus: cpus)
                return "no error"
            } catch {
                #expect(error.exitCode == 125)
                return "\(error)"
            }
        }
        #expect(
            message(memory: "12XB")
                == "check the request: --memory 12XB: not a size — give a number with an optional unit b, k, m or g (e.g. 64m, 1.5g)")
        #expect(message(memory: "-5m").hasPrefix("check the request: --memory -5m: a size cannot be negative"))
        #expect(message(memory: "0").contains("--memory 0: a limit of 0"))
        #expect(message(pids: "0").hasPrefix("check the request: --pids-limit 0: must be at least 1"))
        #expect(message(cpus: "abc").hasPrefix("check the request: --cpus abc: not a number"))
        #expect(message(cpus: "0").contains("must be from 0.01 to"))
        #expect(message(memory: "8000000000g").hasPrefix("check the request: --memory 8000000000g: more than 4 PiB"))
        #expect(message(pids: "99999999999999999999").contains("must be at most 4194304"))
        #expect(message(memory: "64m", pids: "20", cpus: "0.5") == "no error")
    }

    @Test func noFlagsMeansNoLimits() throws {
        let limits = try ResourceLimits(memory: nil, pidsLimit: nil, cpus: nil)
        #expect(limits.isEmpty)
        #expect(Reference().cgroupFiles(for: limits, mode: .v2).isEmpty)
        #expect(Reference().cgroupFiles(for: limits, mode: .v1).isEmpty)
    }

    @Test("limits become control files, per cgroup mode")
    func controlFiles() {
        let limits = ResourceLimits(memoryBytes: 32 << 20, pids: 20, cpus: 0.5)
        #expect(
            Reference().cgroupFiles(for: limits, mode: .v2) == [
                CgroupFile("memory.max", "33554432"), CgroupFile("memory.swap.max", "0"),
                CgroupFile("pids.max", "20"), CgroupFile("cpu.max", "50000 100000"),
            ])
        #expect(
            Reference().cgroupFiles(for: limits, mode: .v1) == [
                CgroupFile("memory.limit_in_bytes", "33554432"), CgroupFile("memory.memsw.limit_in_bytes", "33554432"),
                CgroupFile("pids.max", "20"), CgroupFile("cpu.cfs_period_us", "100000"), CgroupFile("cpu.cfs_quota_us", "50000"),
            ])
        #expect(CgroupFile("cpu.cfs_quota_us", "1").controller == "cpu")
    }

    @Test func limitsNeedChapterFour() {
        var spec = ContainerSpec(command: ["true"])
        spec.limits = ResourceLimits(pids: 20)
        #expect(throws: ContainerError.self) { try spec.validate(stage: Stage(chapter: 2)) }
    }

    @Test func oomCountsAreReadFromFlatKeyedFiles() {
        #expect(keyedValue("oom_kill", in: "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n") == 2)
        #expect(keyedValue("oom_kill", in: "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n") == 1)
        #expect(keyedValue("oom_kill", in: "oom_kill_disable 0\n") == nil)
    }

    @Test func containerIDsAndControlFilesAreTold() {
        #expect(looksLikeContainerID("0c93f01f158f"))
        #expect(!looksLikeContainerID("tasks"))
        #expect(!looksLikeContainerID("cgroup.procs"))
        #expect(!looksLikeContainerID(""))
    }
}

// The v2 mechanics (mkdir, subtree_control, rmdir of the leaf and the parent) on a
// real cgroup2 tree: a hybrid host's /sys/fs/cgroup/unified. Runs only as root where
// that tree exists; the limits themselves are proven by the chapter's checks.
@Suite struct CgroupV2MechanicsTests {
    static let unified = "/sys/fs/cgroup/unified"
    static var available: Bool {
        getuid() == 0 && (try? filesystemMagic(unified)) == cgroup2SuperMagic
    }

    @Test(.enabled(if: available, "needs root and a cgroup2 tree at /sys/fs/cgroup/unified"))
    func createAndRemoveALeaf() throws {
        let id = ContainerSpec.newID()
        let cgroup = try cgroupLayoutV2(named: id, needing: [], root: Self.unified)
        #expect(cgroup.directories == ["\(Self.unified)/scratch/\(id)"])
        try Reference().makeCgroup(cgroup.directories, mode: .v2, controllers: cgroup.controllers)
        #expect(fileKind(cgroup.directories[0]) == .directory)
        try Reference().removeCgroup(cgroup.directories)
        #expect(fileKind(cgroup.directories[0]) == nil)
    }

    @Test(.enabled(if: available, "needs root and a cgroup2 tree at /sys/fs/cgroup/unified"))
    func aMissingControllerIsAClearError() throws {
        let error = #expect(throws: ContainerError.self) {
            try cgroupLayoutV2(named: ContainerSpec.newID(), needing: ["nosuchcontroller"], root: Self.unified)
        }
        #expect(error?.reason.contains("no nosuchcontroller controller") == true)
    }
}
