import CLinux
import Glibc
import Syscalls

// Chapter 7 — capabilities and no_new_privs.
//
// Root's power is split into about forty capabilities (capabilities(7)): CAP_SYS_ADMIN
// to mount, CAP_NET_ADMIN to configure networks, CAP_SYS_MODULE to load kernel code,
// CAP_DAC_READ_SEARCH to open any file by handle (the 2014 "shocker" breakout). A
// process has five sets of them:
// - bounding: the most it can ever get back, through execve of a file with file
//   capabilities or a setuid-root binary. Dropped bits never return, not even to root.
// - permitted: what it may turn on; effective: what is on now, what the kernel checks.
// - inheritable and ambient: what passes through execve to the next program.
// A container keeps Docker's 14 (below), in the bounding, permitted and effective sets;
// the inheritable and ambient sets stay empty, as Docker and runc leave them since
// CVE-2022-24769 (a non-empty inheritable set let a program with inheritable file
// capabilities gain them at execve, past what the user was meant to have).

/// A set of capabilities, one bit per number (CAP_CHOWN is bit 0).
public struct CapabilitySet: Sendable, Equatable, CustomStringConvertible {
    public var bits: UInt64

    public init(bits: UInt64) { self.bits = bits }

    public init(_ numbers: [Int]) {
        bits = 0
        for number in numbers { bits |= 1 << UInt64(number) }
    }

    public func contains(_ number: Int) -> Bool { number < 64 && bits & (1 << UInt64(number)) != 0 }
    public mutating func insert(_ number: Int) { bits |= 1 << UInt64(number) }
    public mutating func remove(_ number: Int) { bits &= ~(1 << UInt64(number)) }

    /// The numbers in the set, lowest first.
    public var numbers: [Int] { (0..<64).filter(contains) }

    /// "CAP_CHOWN, CAP_KILL" (numbers this table does not know as "cap_41").
    public var description: String {
        bits == 0 ? "none" : numbers.map(capabilityName).joined(separator: ", ")
    }

    /// Docker's default set (moby's `oci/caps/defaults.go`): what a container keeps
    /// unless told otherwise. Enough to be root in one's own files (chown, override
    /// permissions, setuid to a user), nothing that reaches the kernel's shared state.
    public static let dockerDefault = CapabilitySet(
        [
            "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "NET_BIND_SERVICE", "NET_RAW",
            "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP",
        ].compactMap { capabilityNumber("CAP_" + $0) })

    /// Every capability this table knows (CAP_CHOWN … CAP_CHECKPOINT_RESTORE).
    public static let all = CapabilitySet(Array(capabilityNames.indices))
}

/// capabilities(7)'s names, by number (linux/capability.h).
let capabilityNames = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]

public func capabilityName(_ number: Int) -> String {
    number < capabilityNames.count ? capabilityNames[number] : "cap_\(number)"
}

/// A capability's number from Docker's spelling: any case, CAP_ optional
/// ("sys_admin", "CAP_SYS_ADMIN"). nil for a name the table does not know.
public func capabilityNumber(_ name: String) -> Int? {
    let upper = name.uppercased()
    let full = upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
    return capabilityNames.firstIndex(of: full)
}

/// The set `--cap-add` and `--cap-drop` ask for, as Docker computes it: ALL in
/// --cap-add starts from every capability, ALL in --cap-drop from none; then the named
/// drops come off and the named adds go on.
public func requestedCapabilities(adding: [String], dropping: [String]) throws(ContainerError) -> CapabilitySet {
    func numbers(_ names: [String], flag: String) throws(ContainerError) -> [Int] {
        var result: [Int] = []
        for name in names where name.uppercased() != "ALL" {
            guard let number = capabilityNumber(name) else {
                throw ContainerError(
                    step: "check the request",
                    reason:
                        "\(flag) \(ContainerSpec.quoted(name)): no such capability — capabilities(7) lists them (CAP_ is optional, any case: --cap-add sys_admin), or ALL"
                )
            }
            result.append(number)
        }
        return result
    }
    let added = try numbers(adding, flag: "--cap-add")
    let dropped = try numbers(dropping, flag: "--cap-drop")
    var set: CapabilitySet
    if adding.contains(where: { $0.uppercased() == "ALL" }) {
        set = .all
    } else if dropping.contains(where: { $0.uppercased() == "ALL" }) {
        set = CapabilitySet(bits: 0)
    } else {
        set = .dockerDefault
    }
    for number in dropped { set.remove(number) }
    for number in added { set.insert(number) }
    return set
}

// MARK: the child's steps

extension Reference: PrivilegeSteps {
    /// Drops every capability not in `keep` from the bounding set (prctl PR_CAPBSET_DROP),
    /// up to the last one this kernel has.
    ///
    /// Each drop needs CAP_SETPCAP in the effective set: this runs while the child is
    /// still full root, before any user change (which would empty the effective set).
    public func dropBoundingSet(keeping keep: CapabilitySet) throws {
        // The kernel says EINVAL past its last capability: that ends the loop. A
        // kernel newer than the names table loses its new capabilities too, unless
        // kept by number. (Dropping one already gone is no error.)
        for number in 0..<64 where !keep.contains(number) {
            guard try dropFromBoundingSet(number) else { return }
        }
    }

    /// Sets the effective and permitted sets to `keep` (what of it this process still
    /// has), empties the inheritable and ambient sets.
    ///
    /// For root that is the set itself. After a change to a non-root user (setuid
    /// without PR_SET_KEEPCAPS clears the permitted and effective sets) the permitted
    /// set is empty: capset may only lower it, and the user stays without
    /// capabilities, as in Docker; the bounding set still holds the cut, so a
    /// setuid-root binary cannot gain more than `keep` either.
    public func setCapabilities(_ keep: CapabilitySet) throws {
        let wanted = keep.bits & (try capabilitySets()).permitted
        try clearAmbientCapabilities()
        try setCapabilitySets(effective: wanted, permitted: wanted, inheritable: 0)
    }
}

/// Chapter 10: a bundle's capability sets, each as its config lists it, after chapter
/// 7's `setCapabilities` (which sets effective and permitted alike and empties the
/// inheritable and ambient sets, CVE-2022-24769): runc honours every list. Only what
/// the process holds can be kept — capset refuses more — so a capability the bounding
/// set lost stays out. The kernel raises an ambient capability only when permitted and
/// inheritable hold it: inheritable first.
func setBundleCapabilities(effective: UInt64?, permitted: UInt64?, inheritable: UInt64, ambient: UInt64) throws(SyscallError) {
    let sets = try capabilitySets()
    let held = sets.permitted | sets.inheritable
    let newPermitted = permitted.map { $0 & sets.permitted } ?? sets.permitted
    let newEffective = (effective ?? sets.effective) & newPermitted
    let newInheritable = (inheritable | ambient) & held
    try setCapabilitySets(effective: newEffective, permitted: newPermitted, inheritable: newInheritable)
    for number in 0..<64 where ambient & newPermitted & newInheritable & (1 << UInt64(number)) != 0 {
        try raiseAmbientCapability(number)
    }
}

/// prctl(PR_SET_NO_NEW_PRIVS): from here on execve never grants privileges — a setuid
/// binary runs with the caller's ids, file capabilities are ignored — and the flag
/// passes to every child. It also lets an unprivileged process load a seccomp filter.
public func setNoNewPrivileges() throws(SyscallError) {
    if cl_set_no_new_privs() == -1 { throw SyscallError("prctl(PR_SET_NO_NEW_PRIVS)") }
}

/// What chapter 7 does to the container's process, decided and compiled in the parent
/// (step 1: a bad profile fails before anything exists) and carried into the child by
/// clone's copy of memory.
public struct Confinement: Sendable {
    public var capabilities: CapabilitySet
    public var noNewPrivileges: Bool
    /// nil with `seccomp=unconfined`.
    public var seccomp: SeccompFilter?
}

/// The confinement `spec` asks for at `stage`: nil before chapter 7 and with
/// --privileged, which turn all of it off.
public func plannedConfinement(_ spec: ContainerSpec, stage: Stage, steps: Steps = .reference) throws(ContainerError) -> Confinement? {
    guard spec.isConfined(stage: stage) else { return nil }
    var filter: SeccompFilter?
    switch spec.seccomp {
    case .unconfined: filter = nil
    case .defaultProfile: filter = try seccompFilter(for: defaultSeccompProfile(), capabilities: spec.capabilities, steps: steps)
    case .profile(let profile): filter = try seccompFilter(for: profile, capabilities: spec.capabilities, steps: steps)
    }
    return Confinement(capabilities: spec.capabilities, noNewPrivileges: spec.noNewPrivileges, seccomp: filter)
}
