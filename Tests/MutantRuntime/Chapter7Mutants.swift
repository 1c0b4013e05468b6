import Glibc
import Runtime
import Syscalls

// Chapter 7 — least privilege. Each is the reference with one mistake.

/// The reference's filter, with `transform` applied to each rule's action and
/// arguments, and `defaultAction` for the filter's own.
private func compile(
    _ profile: SeccompProfile, capabilities: CapabilitySet, defaultAction: SeccompAction? = nil, applyConditions: Bool = true,
    skip: (SeccompRule) -> Bool = { _ in false }, action: (SeccompAction) -> SeccompAction = { $0 },
    groups: (SeccompRule) -> [[SeccompArgument]] = { rule in
        let indices = rule.arguments.map(\.index)
        return Set(indices).count < indices.count ? rule.arguments.map { [$0] } : [rule.arguments]
    }
) throws -> [UInt8] {
    let filter = try SeccompBuilder(defaultAction: defaultAction ?? profile.defaultAction, source: profile.source)
    for architecture in profile.architectures { try filter.addArchitecture(architecture) }
    for rule in profile.rules where (!applyConditions || rule.applies(capabilities: capabilities)) && !skip(rule) {
        guard action(rule.action) != (defaultAction ?? profile.defaultAction) else { continue }
        for name in rule.names {
            for arguments in groups(rule) { try filter.addRule(action(rule.action), syscall: name, arguments: arguments) }
        }
    }
    return try filter.program()
}

/// The reference's capability steps, for the seccomp mutants.
private protocol ReferenceCapabilities: PrivilegeSteps {}
extension ReferenceCapabilities {
    func dropBoundingSet(keeping keep: CapabilitySet) throws { try Reference().dropBoundingSet(keeping: keep) }
    func setCapabilities(_ keep: CapabilitySet) throws { try Reference().setCapabilities(keep) }
}

/// The reference's filter, for the capability mutants.
private protocol ReferenceFilter: PrivilegeSteps {}
extension ReferenceFilter {
    func compileSeccompFilter(_ profile: SeccompProfile, capabilities: CapabilitySet) throws -> [UInt8] {
        try Reference().compileSeccompFilter(profile, capabilities: capabilities)
    }
}

/// The bounding set left whole: a setuid-root binary gets every capability back.
struct Ch7BoundingSetNotCut: ReferenceFilter {
    func dropBoundingSet(keeping keep: CapabilitySet) throws {}
    func setCapabilities(_ keep: CapabilitySet) throws { try Reference().setCapabilities(keep) }
}

/// `return` at the first capability to keep, where `continue` was meant: CAP_CHOWN
/// (0) is kept, so nothing is dropped.
struct Ch7BoundingStopsAtKept: ReferenceFilter {
    func dropBoundingSet(keeping keep: CapabilitySet) throws {
        for number in 0..<64 {
            if keep.contains(number) { return }
            guard try dropFromBoundingSet(number) else { return }
        }
    }
    func setCapabilities(_ keep: CapabilitySet) throws { try Reference().setCapabilities(keep) }
}

/// Only the effective set lowered: the permitted set stays whole, so the process can
/// raise any capability again. Hidden after an execve as root (which recomputes
/// permitted from the bounding set); PID 1 under --init shows it.
struct Ch7EffectiveOnly: ReferenceFilter {
    func dropBoundingSet(keeping keep: CapabilitySet) throws { try Reference().dropBoundingSet(keeping: keep) }
    func setCapabilities(_ keep: CapabilitySet) throws {
        let sets = try capabilitySets()
        try clearAmbientCapabilities()
        try setCapabilitySets(effective: keep.bits & sets.permitted, permitted: sets.permitted, inheritable: 0)
    }
}

/// The inheritable set given the container's set too (CVE-2022-24769).
struct Ch7InheritableKept: ReferenceFilter {
    func dropBoundingSet(keeping keep: CapabilitySet) throws { try Reference().dropBoundingSet(keeping: keep) }
    func setCapabilities(_ keep: CapabilitySet) throws {
        let wanted = keep.bits & (try capabilitySets()).permitted
        try clearAmbientCapabilities()
        try setCapabilitySets(effective: wanted, permitted: wanted, inheritable: wanted)
    }
}

/// The container's set asked for as it is: after --user's setuid the permitted set
/// is empty, and capset refuses to raise it (EPERM).
struct Ch7PermittedNotIntersected: ReferenceFilter {
    func dropBoundingSet(keeping keep: CapabilitySet) throws { try Reference().dropBoundingSet(keeping: keep) }
    func setCapabilities(_ keep: CapabilitySet) throws {
        try clearAmbientCapabilities()
        try setCapabilitySets(effective: keep.bits, permitted: keep.bits, inheritable: 0)
    }
}

/// Allow by default, refuse what the profile names: every call it does not know
/// reaches the kernel.
struct Ch7DefaultActionAllow: ReferenceCapabilities {
    func compileSeccompFilter(_ profile: SeccompProfile, capabilities: CapabilitySet) throws -> [UInt8] {
        try compile(profile, capabilities: capabilities, defaultAction: .allow)
    }
}

/// EPERM for what the profile does not know, ENOSYS for what it refuses.
struct Ch7EpermAndEnosysSwapped: ReferenceCapabilities {
    func compileSeccompFilter(_ profile: SeccompProfile, capabilities: CapabilitySet) throws -> [UInt8] {
        func swap(_ action: SeccompAction) -> SeccompAction {
            switch action {
            case .errno(EPERM): return .errno(ENOSYS)
            case .errno(ENOSYS): return .errno(EPERM)
            default: return action
            }
        }
        return try compile(profile, capabilities: capabilities, defaultAction: swap(profile.defaultAction), action: swap)
    }
}

/// Every rule added whatever the container's capabilities: the rules that lift a
/// refusal for CAP_SYS_ADMIN are skipped as "conditional", the refusals kept.
struct Ch7CapabilityConditionsIgnored: ReferenceCapabilities {
    func compileSeccompFilter(_ profile: SeccompProfile, capabilities: CapabilitySet) throws -> [UInt8] {
        try compile(profile, capabilities: capabilities, applyConditions: false, skip: { !$0.includeCapabilities.isEmpty })
    }
}

/// A rule's comparisons always in one libseccomp rule: two of one argument are refused.
struct Ch7RepeatedArgumentInOneRule: ReferenceCapabilities {
    func compileSeccompFilter(_ profile: SeccompProfile, capabilities: CapabilitySet) throws -> [UInt8] {
        try compile(profile, capabilities: capabilities, groups: { [$0.arguments] })
    }
}

/// The rules added without their comparisons: clone and personality rules that hold
/// for some values hold for all, or clash.
struct Ch7ArgumentsDropped: ReferenceCapabilities {
    func compileSeccompFilter(_ profile: SeccompProfile, capabilities: CapabilitySet) throws -> [UInt8] {
        try compile(profile, capabilities: capabilities, groups: { _ in [[]] })
    }
}
