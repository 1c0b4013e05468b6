import Foundation
import Glibc

// Chapter 7 — least privilege: the container keeps Docker's 14 capabilities and no
// more, gains none back through execve, meets a seccomp filter, and every escape of
// the lesson's first lab fails unless --privileged. Looked at from inside the
// container (/proc/self/status, the probe's calls); nothing of the host's is ever
// written: each escape is tried up to the point where access is proven.

/// capabilities(7)'s names by number, as the checks spell them. The checks keep their
/// own table (not the runtime's): a wrong table in the runtime must not fool them.
let checkCapabilityNames = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]

/// A capability mask as /proc/PID/status shows it (hex), and its names.
struct CapabilityMask: Equatable {
    let bits: UInt64

    init(bits: UInt64) { self.bits = bits }

    init(_ names: [String]) {
        bits = names.compactMap { checkCapabilityNames.firstIndex(of: $0) }.reduce(UInt64(0)) { $0 | 1 << UInt64($1) }
    }

    /// "CAP_CHOWN, CAP_KILL", or "none".
    var names: String {
        let numbers = (0..<64).filter { bits & (1 << UInt64($0)) != 0 }
        if numbers.isEmpty { return "none" }
        return numbers.map { $0 < checkCapabilityNames.count ? checkCapabilityNames[$0] : "cap_\($0)" }.joined(separator: ", ")
    }

    func minus(_ other: CapabilityMask) -> CapabilityMask { CapabilityMask(bits: bits & ~other.bits) }
    func contains(_ name: String) -> Bool { CapabilityMask([name]).bits & bits != 0 }

    /// Docker's default set (moby's oci/caps/defaults.go).
    static let dockerDefault = CapabilityMask([
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP",
    ])
}

/// The fields `Cap*`, `NoNewPrivs`, `Seccomp` of a /proc/PID/status printed by a run.
func statusFields(_ text: String) -> [String: String] {
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[String(line[..<colon])] = String(line[line.index(after: colon)...]).trimmed
    }
    return fields
}

/// The capability sets of a status text, by field name (CapBnd, …); nil when missing.
func capabilitySets(_ text: String) -> [String: CapabilityMask] {
    statusFields(text).compactMapValues { value in UInt64(value, radix: 16).map { CapabilityMask(bits: $0) } }
}

/// What is wrong with `set` (a field such as CapBnd) against `expected`, in names.
func capabilityDifference(_ field: String, _ set: CapabilityMask, expected: CapabilityMask) -> String {
    var parts: [String] = []
    let extra = set.minus(expected)
    let missing = expected.minus(set)
    if extra.bits != 0 { parts.append("\(field) also holds \(extra.names)") }
    if missing.bits != 0 { parts.append("\(field) lacks \(missing.names)") }
    return parts.joined(separator: "; ")
}

let capabilityFieldNames = ["CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"]

/// The probe's dangerous calls (tools/probe/probe.c, `probe syscall NAME`): each must
/// answer EPERM under the default profile. `clone-newns` is clone(CLONE_NEWNS);
/// `clone-newuser`, clone(CLONE_NEWUSER), needs no capability, so only the filter's
/// comparison of clone's flags refuses it.
let refusedProbeCalls = [
    "mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "ptrace", "reboot", "kexec_load",
    "init_module", "finit_module", "delete_module", "swapon", "swapoff", "open_by_handle_at", "clone-newns", "clone-newuser",
]

/// Judges the five capability sets of `result` (grep ^Cap /proc/self/status) against
/// what each should hold; the saw text names capabilities, and the likely mistake.
func judgeCapabilities(
    _ result: RunResult, expected: [String: CapabilityMask], what: String
) -> Outcome {
    let sets = capabilitySets(result.stdout)
    guard result.status == 0, capabilityFieldNames.allSatisfy({ sets[$0] != nil }) else {
        return .failed(expected: what, saw: describe(result))
    }
    var problems: [String] = []
    for field in capabilityFieldNames {
        guard let want = expected[field], let set = sets[field], set != want else { continue }
        var problem = capabilityDifference(field, set, expected: want)
        switch field {
        case "CapBnd" where set.minus(want).bits != 0:
            problem +=
                " — the bounding set was not cut to the container's set: every capability it lacks must be dropped (one prctl PR_CAPBSET_DROP each, up to the kernel's last)"
        case "CapBnd":
            problem += " — the bounding set lost capabilities the container keeps: drop only those it lacks"
        case "CapInh":
            problem += " — the inheritable set must be empty (CVE-2022-24769): pass 0 for it to capset"
        case "CapAmb":
            problem += " — the ambient set must be empty: ambient capabilities pass through every execve, to every program the container runs"
        case "CapPrm" where set.minus(want).bits != 0:
            problem += " — the permitted set was left as it was: capset it to the container's set too, not the effective set alone"
        default:
            break
        }
        problems.append(problem)
    }
    return problems.isEmpty ? .passed : .failed(expected: what, saw: problems.joined(separator: "; "))
}

let chapter7Checks: [Check] = [
    Check(
        "capabilities-default", chapter: 7, "CapBnd, CapPrm and CapEff inside are Docker's 14; CapInh and CapAmb are empty",
        hints: [
            "grep Cap /proc/self/status in a container, and `capsh --decode=MASK` on the host: which set holds what? The bounding set is the ceiling of every later execve.",
            "dropBoundingSet(keeping:) walks every capability number from 0 and drops those `keep` lacks, until the kernel says it has no such capability; setCapabilities sets effective and permitted, and empties inheritable and ambient.",
            "dropBoundingSet: `for number in 0..<64 where !keep.contains(number) { guard try dropFromBoundingSet(number) else { return } }`. setCapabilities: `let wanted = keep.bits & (try capabilitySets()).permitted`, `try clearAmbientCapabilities()`, `try setCapabilitySets(effective: wanted, permitted: wanted, inheritable: 0)`.",
        ]
    ) { context in
        let result = context.run(["grep", "^Cap", "/proc/self/status"])
        let docker = CapabilityMask.dockerDefault
        return judgeCapabilities(
            result,
            expected: ["CapBnd": docker, "CapPrm": docker, "CapEff": docker, "CapInh": CapabilityMask(bits: 0), "CapAmb": CapabilityMask(bits: 0)],
            what: "CapBnd, CapPrm and CapEff = Docker's 14 (\(docker.names)); CapInh and CapAmb empty")
    },

    Check(
        "cap-drop-all", chapter: 7, "--cap-drop ALL leaves none, in every set",
        hints: [
            "With --cap-drop ALL the container's set is empty. What must the bounding set hold then, and what is the first number to drop?",
            "Every capability number from 0 up to the kernel's last is dropped from the bounding set when the set to keep is empty: the walk may not stop at the end of a table of names.",
            "`for number in 0..<64 where !keep.contains(number)`, stopping only when dropFromBoundingSet says false (the kernel's EINVAL past its last capability).",
        ]
    ) { context in
        let result = context.run(["grep", "^Cap", "/proc/self/status"], options: ["--cap-drop", "ALL"])
        let none = CapabilityMask(bits: 0)
        return judgeCapabilities(
            result, expected: Dictionary(uniqueKeysWithValues: capabilityFieldNames.map { ($0, none) }),
            what: "every capability set empty with --cap-drop ALL")
    },

    Check(
        "cap-add-sys-admin", chapter: 7, "--cap-add SYS_ADMIN adds it, and the profile then lets mount through",
        hints: [
            "Docker's profile lifts its mount rule for a container given CAP_SYS_ADMIN: a rule can say which capabilities it needs (includes) or must not see (excludes).",
            "In compileSeccompFilter, a rule is in force only when `rule.applies(capabilities:)` says so for the container's capabilities: the refusal of mount excludes CAP_SYS_ADMIN, and an allow rule includes it.",
            "`for rule in profile.rules where rule.applies(capabilities: capabilities) && rule.action != profile.defaultAction { … }`",
        ]
    ) { context in
        guard let probe = context.probe else { return .skipped(context.probeProblem ?? "no probe") }
        let result = context.run(["sh", "-c", "grep ^CapEff /proc/self/status; \(probe) syscall mount"], options: ["--cap-add", "SYS_ADMIN"])
        let sets = capabilitySets(result.stdout)
        let expected = CapabilityMask(bits: CapabilityMask.dockerDefault.bits | CapabilityMask(["CAP_SYS_ADMIN"]).bits)
        let mount = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        var saw = describe(result)
        if let effective = sets["CapEff"], effective != expected {
            saw += " — " + capabilityDifference("CapEff", effective, expected: expected)
        } else if mount == "EPERM" {
            saw +=
                " — CAP_SYS_ADMIN is there, but the filter still refuses mount: the profile's rules were not chosen by the container's capabilities (rule.applies(capabilities:))"
        }
        return expect(
            result.status == 0 && sets["CapEff"] == expected && mount == "ENOENT",
            "CapEff = Docker's 14 + CAP_SYS_ADMIN, and `probe syscall mount` to reach the kernel (ENOENT: its target does not exist)", saw: saw)
    },

    Check(
        "init-confined", chapter: 7, "under --init, PID 1 (the runtime's own code) holds the same capabilities",
        hints: [
            "Under --init PID 1 is the runtime's own code, which never execs: whatever setCapabilities leaves in its sets is what it keeps. Compare /proc/1/status with the command's.",
            "An execve as root recomputes the permitted set from the bounding set, which hides a permitted set left too large in the command; PID 1 under --init shows it. Set both effective and permitted.",
            "`try setCapabilitySets(effective: wanted, permitted: wanted, inheritable: 0)` with `wanted = keep.bits & sets.permitted`.",
        ]
    ) { context in
        let result = context.run(["sh", "-c", "grep ^Cap /proc/1/status"], options: ["--init"])
        let docker = CapabilityMask.dockerDefault
        return judgeCapabilities(
            result,
            expected: ["CapBnd": docker, "CapPrm": docker, "CapEff": docker, "CapInh": CapabilityMask(bits: 0), "CapAmb": CapabilityMask(bits: 0)],
            what: "PID 1 under --init: CapBnd, CapPrm and CapEff = Docker's 14, CapInh and CapAmb empty")
    },

    Check(
        "user-no-capabilities", chapter: 7, "--user 1000 starts, with no capabilities left",
        hints: [
            "setCapabilities runs after --user's setuid, which emptied the permitted and effective sets. What may capset do to a permitted set?",
            "capset(2) may only lower the permitted set: ask for the container's set, and a user who has none gets EPERM. Ask for the part of it the process still has.",
            "`let sets = try capabilitySets(); let wanted = keep.bits & sets.permitted` — then capset effective and permitted to `wanted`.",
        ]
    ) { context in
        let result = context.run(["grep", "^Cap", "/proc/self/status"], options: ["--user", "1000:1000"])
        var outcome = judgeCapabilities(
            result, expected: Dictionary(uniqueKeysWithValues: capabilityFieldNames.filter { $0 != "CapBnd" }.map { ($0, CapabilityMask(bits: 0)) }),
            what: "a run as --user 1000:1000 to start, with empty permitted, effective, inheritable and ambient sets")
        if case .failed(let expected, var saw) = outcome, result.stderr.contains("capset") && result.stderr.contains("not permitted") {
            saw += " — capset asked for capabilities the user no longer has (setuid emptied its permitted set): ask for keep ∩ permitted"
            outcome = .failed(expected: expected, saw: saw)
        }
        return outcome
    },

    Check(
        "no-new-privs", chapter: 7, "no_new_privs is on and a seccomp filter is loaded: NoNewPrivs 1, Seccomp 2",
        hints: [
            "/proc/self/status has NoNewPrivs and Seccomp lines: 1 and 2 (filter mode) are expected.",
            "The runtime sets no_new_privs and loads the filter your compileSeccompFilter built, last, just before the exec: if the run fails before, the error names the step.",
            "A run that stops at \"compile the seccomp filter\", \"cut the bounding set\" or \"set the capabilities\" is stopped by your code: the message says the call and errno; the order of the steps is containerMain's, in Sources/Runtime/Child.swift.",
        ]
    ) { context in
        let result = context.run(["grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status"])
        let fields = statusFields(result.stdout)
        return expect(
            result.status == 0 && fields["NoNewPrivs"] == "1" && fields["Seccomp"] == "2", "NoNewPrivs: 1 and Seccomp: 2",
            saw: describe(result))
    },

    Check(
        "refused-syscalls", chapter: 7, "each dangerous call answers EPERM; an unknown one ENOSYS",
        hints: [
            "`probe syscall NAME` prints the errno a call got. Which answer comes from the filter, which from the kernel? The profile's default action answers every call no rule names.",
            "The builder is made with the profile's default action (ENOSYS for the default profile, so libcs fall back); named rules with their own action (EPERM for the dangerous calls). A rule whose action is the default adds nothing.",
            "`let filter = try SeccompBuilder(defaultAction: profile.defaultAction, source: profile.source)`, then `try filter.addRule(rule.action, syscall: name, arguments: arguments)` for each name of each rule in force.",
        ]
    ) { context in
        guard let probe = context.probe else { return .skipped(context.probeProblem ?? "no probe") }
        let script = (refusedProbeCalls + ["migrate_pages"]).map { "echo \($0) $(\(probe) syscall \($0))" }.joined(separator: "; ")
        let result = context.run(["sh", "-c", script])
        var answers: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.count == 2 { answers[String(words[0])] = String(words[1]) }
        }
        let wrong = refusedProbeCalls.filter { answers[$0] != "EPERM" }
        let unknown = answers["migrate_pages"] ?? "nothing"
        var saw = describe(result)
        if !answers.isEmpty {
            saw =
                (wrong.isEmpty ? "" : wrong.map { "\($0) \(answers[$0] ?? "nothing")" }.joined(separator: ", ") + "; ")
                + "migrate_pages \(unknown)"
            if unknown == "EPERM" && wrong.allSatisfy({ answers[$0] == "ENOSYS" }) {
                saw += " — EPERM and ENOSYS are swapped: the default action answers unknown calls (ENOSYS), the named rules EPERM"
            } else if unknown == "EPERM" {
                saw += " — an unknown call got EPERM: the filter's default action must be the profile's (ENOSYS), so a C library falls back"
            } else if unknown != "ENOSYS" {
                saw += " — an unknown call reached the kernel: the filter's default action lets calls through; it must be the profile's (ENOSYS)"
            } else if wrong == ["clone-newuser"] {
                saw +=
                    " — clone with CLONE_NEWUSER went through: the clone rules' argument comparisons did not reach the filter (a rule without its comparisons holds for every value)"
            } else if !wrong.isEmpty {
                saw += " — the named dangerous calls are not refused: were the profile's rules added to the filter?"
            }
        }
        return expect(
            result.status == 0 && wrong.isEmpty && unknown == "ENOSYS",
            "EPERM for \(refusedProbeCalls.joined(separator: ", ")); ENOSYS for migrate_pages, which the profile does not name", saw: saw)
    },

    Check(
        "docker-profile", chapter: 7, "a profile in Docker's format is obeyed: its errno, its conditions, its repeated argument",
        hints: [
            "--security-opt seccomp=FILE takes a profile in Docker's JSON. The check's profile allows everything by default, refuses mkdir with EACCES, keyctl for two values of its first argument, and migrate_pages only for a container with CAP_SYS_ADMIN.",
            "A rule may compare one argument several times, meaning any of the values: libseccomp reads the comparisons of one rule as all of them, and refuses two on one argument. Such a rule becomes one rule per comparison. And a rule with includes is in force only when rule.applies(capabilities:) says so.",
            "`let indices = rule.arguments.map(\\.index)`; `let groups = Set(indices).count < indices.count ? rule.arguments.map { [$0] } : [rule.arguments]`; add one rule per group.",
        ]
    ) { context in
        guard let probe = context.probe else { return .skipped(context.probeProblem ?? "no probe") }
        let profile = """
            {
              "defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                 "args": [{"index": 0, "value": 65534, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 65535, "op": "SCMP_CMP_EQ"}]},
                {"names": ["migrate_pages"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95, "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
              ]
            }
            """
        let path = context.workDirectory + "/docker-profile.json"
        try profile.write(toFile: path, atomically: true, encoding: .utf8)
        let result = context.run(
            ["sh", "-c", "mkdir /tmp/made 2>&1 || true; \(probe) syscall keyctl; \(probe) syscall migrate_pages"],
            options: ["--security-opt", "seccomp=" + path])
        let lines = result.stdout.split(separator: "\n").map(String.init)
        var saw = describe(result)
        if result.stderr.contains("keyctl") {
            saw +=
                " — two comparisons of one argument in one libseccomp rule: libseccomp refuses it; Docker means any of them, so add one rule per comparison"
        } else if lines.count == 3 && lines[2] == "EOPNOTSUPP" {
            saw +=
                " — the migrate_pages rule is only for a container with CAP_SYS_ADMIN (includes), and this one has not: rule.applies(capabilities:)"
        } else if lines.count == 3 && !lines[0].contains("Permission denied") {
            saw += " — mkdir was not refused with the rule's errnoRet (13, EACCES)"
        }
        return expect(
            result.status == 0 && lines.count == 3 && lines[0].contains("Permission denied") && lines[1] == "EPERM" && lines[2] == "EINVAL",
            "mkdir refused with EACCES (Permission denied), keyctl(0xffff) with EPERM, migrate_pages to reach the kernel (EINVAL)", saw: saw)
    },

    Check(
        "escapes-refused", chapter: 7, "the escapes fail without --privileged, and work with it",
        hints: [
            "Run the lesson's first lab: each line is one escape, tried only up to proving access. Which line still works by default?",
            "open_by_handle_at and unshare are refused by the filter, the cgroup mount and the remount by the filter and the missing CAP_SYS_ADMIN, mknod of 1:11 by the devices cgroup: a line that works means one of those is missing.",
            "The filter is yours (compileSeccompFilter, its rules in force for the container's capabilities) and so is the capability drop (dropBoundingSet, setCapabilities); the device rules are the runtime's (Sources/Runtime/Devices.swift). `--security-opt seccomp=unconfined` and `--cap-add` tell which one is missing.",
        ]
    ) { context in
        guard let probe = context.probe else { return .skipped(context.probeProblem ?? "no probe") }
        // The cgroup escape mounts a hierarchy of the host's kind: v1's pids tree (on
        // v2-only kernels a v1 mount of a controller v2 holds is refused even to
        // --privileged), or the cgroup2 tree.
        let cgroupMount = HostCgroups.mode() == .v2 ? "mount -t cgroup2 none /dev/shm/v1" : "mount -t cgroup -o pids none /dev/shm/v1"
        let script = """
            echo "open-by-handle $(\(probe) open-by-handle /)"
            if mknod /dev/shm/kmsg c 1 11 2>/dev/null; then echo "mknod made"; rm -f /dev/shm/kmsg; else echo "mknod refused"; fi
            mkdir -p /dev/shm/v1
            if \(cgroupMount) 2>/dev/null; then echo "cgroup-mount mounted"; umount /dev/shm/v1; else echo "cgroup-mount refused"; fi
            rmdir /dev/shm/v1
            if unshare -U true 2>/dev/null; then echo "unshare worked"; else echo "unshare refused"; fi
            if mount -o remount,rw / 2>/dev/null; then echo "remount worked"; else echo "remount refused"; fi
            """
        let confined = context.run(["sh", "-c", script], options: ["--read-only"])
        let privileged = context.run(["sh", "-c", script], options: ["--read-only", "--privileged"])
        let refusedByDefault = ["open-by-handle EPERM", "mknod refused", "cgroup-mount refused", "unshare refused", "remount refused"]
        let workingPrivileged = ["open-by-handle opened", "mknod made", "cgroup-mount mounted", "unshare worked", "remount worked"]
        let confinedLines = confined.stdout.split(separator: "\n").map(String.init)
        let privilegedLines = privileged.stdout.split(separator: "\n").map(String.init)
        let escaped = confinedLines.filter { !refusedByDefault.contains($0) }
        let stuck = privilegedLines.filter { !workingPrivileged.contains($0) }
        return all(
            expect(
                confined.status == 0 && confinedLines == refusedByDefault, "by default: " + refusedByDefault.joined(separator: ", "),
                saw: escaped.isEmpty ? describe(confined) : "still possible: " + escaped.joined(separator: ", ") + " (\(describe(confined)))"),
            expect(
                privileged.status == 0 && privilegedLines == workingPrivileged, "with --privileged: " + workingPrivileged.joined(separator: ", "),
                saw: stuck.isEmpty ? describe(privileged) : "refused with --privileged: " + stuck.joined(separator: ", ")))
    },

    Check(
        "masked-paths", chapter: 7, "masked files read empty, /proc/sys is read-only",
        hints: [
            "/proc/keys and /proc/timer_list are the host kernel's; the runtime binds the container's /dev/null over them, and remounts /proc/sys read-only.",
            "The masks are the runtime's, after /proc is mounted (Sources/Runtime/MaskedPaths.swift); a run that fails before them names its step.",
            "A run of yours that stops earlier (at \"compile the seccomp filter\", say) fails here too: make the other checks pass first.",
        ]
    ) { context in
        let script = """
            for f in /proc/keys /proc/timer_list; do [ -e $f ] && echo "$f $(stat -c %t:%T $f) $(wc -c < $f)"; done
            awk '$5 == "/proc/sys" { print "/proc/sys", substr($6, 1, 2) }' /proc/self/mountinfo
            """
        let result = context.run(["sh", "-c", script])
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let masked = lines.filter { $0.hasPrefix("/proc/keys") || $0.hasPrefix("/proc/timer_list") }
        return expect(
            result.status == 0 && !masked.isEmpty && masked.allSatisfy { $0.hasSuffix(" 1:3 0") } && lines.contains("/proc/sys ro"),
            "/proc/keys and /proc/timer_list the null device (1:3), 0 bytes; /proc/sys mounted ro", saw: describe(result))
    },

    Check(
        "ordinary-workload", chapter: 7, "an ordinary workload still works: a shell, files, a pipe, a background job",
        hints: [
            "A filter that refuses what ordinary programs call breaks them in odd places. Run the workload with --security-opt seccomp=unconfined: if it works there, the filter is the cause.",
            "fork and threads are clone without namespace flags: the profile allows clone only with an argument comparison. A rule's comparisons must reach libseccomp with the rule.",
            "`try filter.addRule(rule.action, syscall: name, arguments: arguments)` with the rule's own arguments (one rule per comparison when one argument is compared twice).",
        ]
    ) { context in
        let script =
            "cd /tmp && echo b > f && echo a >> f && sort f | tr -d '\\n'; echo; tar cf t.tar f && tar tf t.tar; sleep 0.1 & wait $!; echo done"
        let result = context.run(["sh", "-c", script])
        return expect(
            result.status == 0 && result.stdout == "ab\nf\ndone\n", "`sort`, `tar`, a pipe and a background job to work: \"ab\", \"f\", \"done\"",
            saw: describe(result))
    },
]
