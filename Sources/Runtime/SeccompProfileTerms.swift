import CSeccomp
import Glibc

// Chapter 7 — the words of a seccomp profile file, for the module that reads and writes
// the file (RuntimeConfig, `SeccompProfileFile.swift`). The JSON stays there, with
// Foundation's coders; what its words mean (an action's name, an operator, a syscall
// or architecture libseccomp knows) stays here, beside the compiler that uses them.
// The initializers are spelled apart from the structs' own memberwise ones, which
// are internal to this module.

extension SeccompAction {
    /// From Docker's name (`SCMP_ACT_ERRNO`) and the `errnoRet` beside it (EPERM when
    /// there is none); nil for a name this runtime does not know.
    public init?(dockerName: String, errnoRet: Int32?) {
        guard let action = Self.named(dockerName, errnoRet: errnoRet) else { return nil }
        self = action
    }

    /// Every name `init(dockerName:errnoRet:)` takes, for an error that lists them.
    public static var dockerNames: [String] { knownNames }

    /// Docker's name for the action, and the errnoRet that goes beside it.
    public var dockerSpelling: (name: String, errnoRet: Int32?) { dockerName }
}

extension SeccompArgument {
    public init(index: UInt32, op: String, value: UInt64, valueTwo: UInt64) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.op = op
    }

    /// The comparisons a profile may name (SCMP_CMP_EQ, …), sorted.
    public static var operatorNames: [String] { operators.keys.sorted() }
}

extension SeccompRule {
    public init(syscalls names: [String], action: SeccompAction) {
        self.names = names
        self.action = action
    }

    /// Whether the rule is part of the filter of a container with `capabilities`, on
    /// this machine and kernel (Docker's `includes` and `excludes`).
    public func applies(to capabilities: CapabilitySet) -> Bool { applies(capabilities: capabilities) }
}

extension SeccompProfile {
    public init(source: String, defaultAction: SeccompAction, architectures: [String], rules: [SeccompRule]) {
        self.source = source
        self.defaultAction = defaultAction
        self.architectures = architectures
        self.rules = rules
    }
}

/// Whether a profile may name `name`: libseccomp knows it, or it is newer than this
/// libseccomp (then the call keeps the default action, as an unknown call should).
/// Any other name is a typo in the profile.
public func seccompKnowsSyscall(_ name: String) -> Bool {
    seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR || syscallsNewerThanLibseccomp.contains(name)
}

/// Whether the filter can cover `architecture` (libseccomp's name, SCMP_ARCH_X86_64).
public func seccompKnowsArchitecture(_ architecture: String) -> Bool { seccompArchitectures[architecture] != nil }

/// This machine's architecture in libseccomp's words, as Docker's `archMap` keys it;
/// nil on a machine the table does not know.
public var nativeSeccompArchitecture: String? {
    switch nativeGoArchitecture {
    case "amd64": return "SCMP_ARCH_X86_64"
    case "arm64": return "SCMP_ARCH_AARCH64"
    default: return nil
    }
}
