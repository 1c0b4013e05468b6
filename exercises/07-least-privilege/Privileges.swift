import Glibc
// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import struct Runtime.CapabilitySet
import struct Runtime.NotDoneYet
import protocol Runtime.PrivilegeSteps
import class Runtime.SeccompBuilder
import struct Runtime.SeccompProfile
import Syscalls

// Chapter 7 — Least privilege: capabilities, no_new_privs, seccomp.
//
// Read first: `./workbook read 7`, sections "Capabilities", "Seccomp and BPF in a
// page" and "Your turn".
// Check your work: `./workbook check 7`. Stuck? `./workbook hint 7`.
//
// The runtime calls these in this order: `compileSeccompFilter` in the parent,
// before anything exists; `dropBoundingSet` in the child at the end of its setup,
// while it is still fully root; then --user's setuid; then `setCapabilities`; then
// it sets no_new_privs and loads your filter, last, just before the exec.
//
// Building blocks (Sources/Syscalls/Capabilities.swift): `dropFromBoundingSet(_:)`,
// `capabilitySets()`, `setCapabilitySets(effective:permitted:inheritable:)`,
// `clearAmbientCapabilities()`; sets are UInt64 masks (`CapabilitySet(bits:)`,
// `.bits`, `.contains(_:)`). And Sources/Runtime/SeccompBuilder.swift:
// `SeccompBuilder(defaultAction:source:)`, `addArchitecture(_:)`,
// `addRule(_:syscall:arguments:)`, `program()`.

/// Your chapter 7, called through the `PrivilegeSteps` protocol.
public struct YourPrivileges: PrivilegeSteps {
    public init() {}

    /// Cut the bounding set to `keep`: every capability this kernel has that `keep`
    /// lacks is dropped, one prctl each. The kernel's list may be longer than any
    /// table of names; it tells you where it ends.
    public func dropBoundingSet(keeping keep: CapabilitySet) throws {
        // TODO: walk the capability numbers from 0.
        throw NotDoneYet(chapter: 7, file: "exercises/07-least-privilege/Privileges.swift")
    }

    /// Effective and permitted = `keep`, as far as this process still has it;
    /// inheritable and ambient empty. Runs after --user: a user's permitted set may
    /// already be empty, and capset can only lower it.
    public func setCapabilities(_ keep: CapabilitySet) throws {
        // TODO: read the sets, then write them.
        throw NotDoneYet(chapter: 7, file: "exercises/07-least-privilege/Privileges.swift")
    }

    /// The BPF program for `profile`, for a container with `capabilities`.
    ///
    /// - Calls no rule names get `profile.defaultAction`; add `profile.architectures`.
    /// - A rule is in force only when `rule.applies(capabilities:)` says so (Docker's
    ///   includes and excludes); a rule whose action is the default adds nothing.
    /// - Each of a rule's `names` gets the rule's `action` when its `arguments` hold.
    ///   Two comparisons of the same argument in one rule mean "any of them" in
    ///   Docker's format, and libseccomp refuses them in one rule.
    public func compileSeccompFilter(_ profile: SeccompProfile, capabilities: CapabilitySet) throws -> [UInt8] {
        // TODO: a SeccompBuilder, its architectures, its rules, its program.
        throw NotDoneYet(chapter: 7, file: "exercises/07-least-privilege/Privileges.swift")
    }
}
