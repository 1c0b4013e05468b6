import CSeccomp
import Glibc
import Syscalls

// Chapter 7 — a small Swift face for libseccomp, for the exercise: a filter is made
// with a default action, given architectures and rules by name, then exported as the
// classic-BPF program seccomp(2) loads. libseccomp does what is easy to get wrong by
// hand: the architecture check first, the name to number of each architecture, the
// argument comparisons as jumps (64-bit values in two 32-bit halves), a binary tree of
// call numbers.

/// A filter being built (libseccomp's `scmp_filter_ctx`); released when dropped.
public final class SeccompBuilder {
    private let context: scmp_filter_ctx
    /// Where the profile came from ("the default profile", a file's path), for errors.
    public let source: String

    /// A filter whose calls no rule names get `defaultAction`.
    public init(defaultAction: SeccompAction, source: String) throws(ContainerError) {
        self.source = source
        guard let context = seccomp_init(defaultAction.raw) else {
            throw ContainerError(step: "compile the seccomp filter", reason: "\(source): seccomp_init failed (is the default action valid?)")
        }
        self.context = context
        // Optimisation level 2: a binary tree of syscall numbers instead of a list, so a
        // call is found in ~9 comparisons rather than up to ~350, on every syscall.
        _ = seccomp_attr_set(context, SCMP_FLTATR_CTL_OPTIMIZE, 2)
    }

    deinit { seccomp_release(context) }

    private func failure(_ reason: String) -> ContainerError {
        ContainerError(step: "compile the seccomp filter", reason: "\(source): \(reason)")
    }

    /// Adds an architecture by libseccomp's name (SCMP_ARCH_X86_64, SCMP_ARCH_X86, …):
    /// the filter then also covers calls made in its numbering. The native one is there
    /// from the start.
    public func addArchitecture(_ name: String) throws(ContainerError) {
        guard let token = seccompArchitectures[name] else {
            throw failure("unknown architecture \(name) — known: \(seccompArchitectures.keys.sorted().joined(separator: ", "))")
        }
        let result = seccomp_arch_add(context, token)
        if result < 0 && result != -EEXIST { throw failure("seccomp_arch_add(\(name)): \(Errno.describe(-result))") }
    }

    /// Calls named `syscall` get `action` when every comparison in `arguments` holds
    /// (none: always). libseccomp refuses two comparisons of the same argument in one
    /// rule (EINVAL). A name newer than this libseccomp (Docker's profile has some) is
    /// skipped, so the call gets the default action; another unknown name is an error.
    public func addRule(_ action: SeccompAction, syscall name: String, arguments: [SeccompArgument] = []) throws(ContainerError) {
        let number = seccomp_syscall_resolve_name(name)
        if number == __NR_SCMP_ERROR {
            if syscallsNewerThanLibseccomp.contains(name) || source == "the default profile" { return }
            throw failure("unknown syscall \(ContainerSpec.quoted(name)) — check its spelling against syscalls(2)")
        }
        var comparisons: [scmp_arg_cmp] = []
        for argument in arguments {
            guard let op = SeccompArgument.operators[argument.op] else { throw failure("unknown operator \(argument.op) for \(name)") }
            comparisons.append(scmp_arg_cmp(arg: argument.index, op: op, datum_a: argument.value, datum_b: argument.valueTwo))
        }
        let result = comparisons.withUnsafeBufferPointer { buffer in
            seccomp_rule_add_array(context, action.raw, number, UInt32(buffer.count), buffer.baseAddress)
        }
        // A call with no number on this architecture (chown32 on x86_64) has a negative
        // pseudo-number: nothing to filter here.
        if result < 0 && number < 0 { return }
        if result < 0 {
            let repeated = Set(arguments.map(\.index)).count < arguments.count
            throw failure(
                "\(name): libseccomp says \(Errno.describe(-result))"
                    + (repeated ? " — two comparisons of one argument in one rule: libseccomp needs one rule per comparison" : ""))
        }
    }

    /// The classic-BPF program: 8 bytes an instruction, as seccomp(2) takes it.
    public func program() throws(ContainerError) -> [UInt8] {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw failure("pipe: \(Errno.describe(errno))") }
        defer { close(ends[0]) }
        // seccomp_export_bpf writes to a descriptor. A filter is at most 4096
        // instructions (32 KiB): it fits the pipe's 64 KiB before anyone reads.
        let result = seccomp_export_bpf(context, ends[1])
        close(ends[1])
        if result < 0 { throw failure("seccomp_export_bpf: \(Errno.describe(-result))") }
        var program: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(ends[0], $0.baseAddress, $0.count) }
            if count <= 0 { break }
            program += buffer[0..<count]
        }
        return program
    }
}
