import Syscalls

// Chapter 4 — the limits a user asks for, in Docker's flag names and units, parsed
// and checked in step 1 so that bad input never leaves a cgroup behind.

/// What a container may use: `--memory`, `--pids-limit`, `--cpus`. Nil means no limit.
public struct ResourceLimits: Sendable, Equatable {
    /// `--memory`: bytes of memory (and, so the limit is real, of memory plus swap).
    public var memoryBytes: UInt64?
    /// `--pids-limit`: how many processes (threads included) the container may have.
    public var pids: Int?
    /// `--cpus`: a share of the CPUs, as Docker counts it: 0.5 is half of one CPU.
    public var cpus: Double?

    public init(memoryBytes: UInt64? = nil, pids: Int? = nil, cpus: Double? = nil) {
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.cpus = cpus
    }

    /// Parses the flags' text. Throws a `ContainerError` for step 1 ("check the
    /// request") that names the flag, repeats the value and says what would do.
    public init(memory: String?, pidsLimit: String?, cpus: String?) throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError {
            ContainerError(step: "check the request", reason: reason)
        }
        if let memory {
            do { memoryBytes = try parseMemorySize(memory) } catch { throw invalid("--memory \(memory): \(error.reason)") }
        }
        if let pidsLimit {
            do { pids = try parsePidsLimit(pidsLimit) } catch { throw invalid("--pids-limit \(pidsLimit): \(error.reason)") }
        }
        if let cpus {
            do { self.cpus = try parseCPUs(cpus) } catch { throw invalid("--cpus \(cpus): \(error.reason)") }
        }
    }

    /// No limit at all.
    public var isEmpty: Bool { memoryBytes == nil && pids == nil && cpus == nil }

    /// The CFS period: the quota below is CPU time per this many microseconds.
    /// Docker's (and the kernel's) default: 100 ms.
    public static let cpuPeriodMicroseconds = 100_000

    /// `--cpus` as CFS bandwidth: the CPU time, in microseconds, the container's
    /// processes may use together in each period. 0.5 CPU is 50000 per 100000.
    public var cpuQuotaMicroseconds: Int? {
        cpus.map { Int(($0 * Double(ResourceLimits.cpuPeriodMicroseconds)).rounded()) }
    }

    /// Step 1's check, for limits made in code rather than parsed from flags.
    public func validate() throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError {
            ContainerError(step: "check the request", reason: reason)
        }
        if let memoryBytes, memoryBytes < minimumMemoryBytes {
            throw invalid("--memory \(memoryBytes) bytes: \(LimitParseError.tooLittleMemory.reason)")
        }
        if let memoryBytes, memoryBytes > maximumMemoryBytes {
            throw invalid("--memory \(memoryBytes) bytes: \(LimitParseError.tooMuchMemory.reason)")
        }
        if let pids, pids < 1 || pids > maximumPids {
            throw invalid("--pids-limit \(pids): must be from 1 to \(maximumPids)")
        }
        if let cpus, !(cpus >= minimumCPUs && cpus <= Double(onlineCPUCount())) {
            throw invalid("--cpus \(cpus): \(LimitParseError.cpuRange.reason)")
        }
    }
}

/// Why a limit's text was refused; the flag's name is added by the caller.
public struct LimitParseError: Error, Equatable, Sendable {
    public let reason: String

    static let notASize = LimitParseError(reason: "not a size — give a number with an optional unit b, k, m or g (e.g. 64m, 1.5g)")
    static let tooLittleMemory = LimitParseError(
        reason: "too little: the minimum is 6m, as Docker's — below it the container cannot even start (leave the flag out for no limit)")
    static let tooMuchMemory = LimitParseError(
        reason:
            "more than 4 PiB (4194304g), more memory than any Linux machine can address — check the unit: m is MiB, g is GiB (leave the flag out for no limit)"
    )
    static let cpuRange = LimitParseError(
        reason: "must be from 0.01 to \(onlineCPUCount()), the CPUs this host has (e.g. 0.5 for half a CPU; leave the flag out for no limit)")
}

/// Docker's minimum for `--memory`: 6 MiB.
let minimumMemoryBytes: UInt64 = 6 << 20
/// The largest `--memory` taken: 4 PiB, 2^52 bytes. No Linux machine can hold more:
/// x86-64 addresses at most 2^52 bytes of physical memory (MAX_PHYSMEM_BITS, with
/// 5-level paging; 2^46 without), and arm64 the same. The kernel itself would take
/// up to about 8 EiB (LONG_MAX rounded to pages) and silently treat it as no limit,
/// so a value past this is a slip — `8000000000g` for `8000000000` bytes, a `g` for
/// an `m` — that deserves an error, not a limit that limits nothing.
let maximumMemoryBytes: UInt64 = 1 << 52
/// The kernel's PID_MAX_LIMIT: pids.max takes no more.
let maximumPids = 4_194_304
/// The kernel refuses a CFS quota under 1 ms: 1000 µs of 100000 is 0.01 CPU.
let minimumCPUs = 0.01

/// Parses a size in Docker's units: a number, then b, k, m or g (binary: k is 1024),
/// in either case, optionally followed by "b" or "ib" (`64m`, `64mb`, `64MiB`).
/// No unit means bytes. A fraction is allowed (`1.5g`).
public func parseMemorySize(_ text: String) throws(LimitParseError) -> UInt64 {
    let lowered = text.lowercased()
    let number = lowered.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
    var unit = lowered.dropFirst(number.count)
    if lowered.hasPrefix("-") {
        throw LimitParseError(reason: "a size cannot be negative — give a positive size such as 64m")
    }
    if unit.hasSuffix("ib") && unit.count == 3 { unit = unit.dropLast(2) } else if unit.hasSuffix("b") && unit.count == 2 { unit = unit.dropLast() }
    let multipliers: [Substring: Double] = ["": 1, "b": 1, "k": 1024, "m": 1_048_576, "g": 1_073_741_824]
    guard !number.isEmpty, let value = Double(number), let multiplier = multipliers[unit] else {
        throw .notASize
    }
    let bytes = value * multiplier
    if bytes == 0 {
        throw LimitParseError(
            reason: "a limit of 0 would leave the container no memory at all — give a size such as 64m (leave the flag out for no limit)")
    }
    // Compared as a Double first: a value past UInt64's range (or "inf" spelled in
    // digits) would trap in the conversion below.
    guard bytes <= Double(maximumMemoryBytes) else { throw .tooMuchMemory }
    let whole = UInt64(bytes.rounded(.down))
    if whole < minimumMemoryBytes { throw .tooLittleMemory }
    return whole
}

/// Parses `--pids-limit`: a whole number of processes, at least 1.
public func parsePidsLimit(_ text: String) throws(LimitParseError) -> Int {
    guard let value = Int(text) else {
        if !text.isEmpty && text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            throw LimitParseError(reason: "must be at most \(maximumPids), the kernel's limit on process ids")
        }
        throw LimitParseError(reason: "not a whole number — give how many processes the container may have, e.g. 100")
    }
    if value < 1 {
        throw LimitParseError(reason: "must be at least 1: the command itself is a process (leave the flag out for no limit)")
    }
    if value > maximumPids {
        throw LimitParseError(reason: "must be at most \(maximumPids), the kernel's limit on process ids")
    }
    return value
}

/// Parses `--cpus`: a share of the host's CPUs, from 0.01 to how many there are.
public func parseCPUs(_ text: String) throws(LimitParseError) -> Double {
    // Double(_:) also takes "nan", "inf" and hexadecimal; a share of CPUs is plain decimal.
    guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let value = Double(text) else {
        if text.hasPrefix("-") { throw LimitParseError(reason: "a share of CPUs cannot be negative — e.g. 0.5 for half a CPU") }
        throw LimitParseError(reason: "not a number — give a share of the CPUs, e.g. 0.5 for half a CPU or 2 for two")
    }
    guard value >= minimumCPUs && value <= Double(onlineCPUCount()) else {
        throw .cpuRange
    }
    return value
}

/// A size as a person reads it, in the unit `--memory` takes: 33554432 → "32m".
public func describeBytes(_ bytes: UInt64) -> String {
    if bytes % (1 << 30) == 0 { return "\(bytes >> 30)g" }
    if bytes % (1 << 20) == 0 { return "\(bytes >> 20)m" }
    if bytes % (1 << 10) == 0 { return "\(bytes >> 10)k" }
    return "\(bytes) bytes"
}
