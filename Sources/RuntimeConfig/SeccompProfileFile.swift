import FoundationEssentials
import Glibc
import RunOptions
import Runtime
import Syscalls

// Chapter 7 — `--security-opt seccomp=FILE`: a seccomp profile in Docker's JSON (the
// OCI runtime spec's `linux.seccomp`, with Docker's `archMap`, `includes` and
// `excludes`). Here, beside the config file, for the same reason: JSON goes through
// Foundation's decoder, and only a run that names a profile file pays for it.
// Errors name the place: the line and column for text that is not JSON, the field's
// path (`syscalls[3].args[0].op`) for a profile that is not right.

/// A profile file as Docker writes one (moby's profiles/seccomp). Keys it does not
/// know (`comment`, OCI's `flags`) are ignored, as Docker ignores them.
struct SeccompProfileFile: Codable {
    var defaultAction: String
    var defaultErrnoRet: WholeNumber<UInt32>?
    var architectures: [String]?
    /// Docker's: for each machine, the architectures it also runs (x86 and x32 on
    /// amd64). The native entry's list replaces `architectures`.
    var archMap: [ArchitectureMap]?
    var syscalls: [Syscall]?

    struct ArchitectureMap: Codable {
        var architecture: String
        var subArchitectures: [String]?
    }

    struct Syscall: Codable {
        var names: [String]?
        /// Docker's first format: one syscall per rule.
        var name: String?
        var action: String
        var errnoRet: WholeNumber<UInt32>?
        var args: [Argument]?
        var includes: Filter?
        var excludes: Filter?
    }

    /// One comparison of an argument. The values are 64-bit: the decoder reads them as
    /// integers, digit by digit (a Double would round a mask such as 0xffffffffffffff00).
    struct Argument: Codable {
        var index: WholeNumber<UInt32>
        var value: WholeNumber<UInt64>?
        var valueTwo: WholeNumber<UInt64>?
        var op: String
    }

    /// Docker's conditions on a rule: the container's capabilities, Go's name for the
    /// machine (amd64), the running kernel's version ("4.8").
    struct Filter: Codable {
        var caps: [String]?
        var arches: [String]?
        var minKernel: String?
    }
}

/// A JSON number that must be a whole `Value`. FoundationEssentials' decoder refuses
/// -1, 1.5 or 2^64 for a UInt64 with only "The given data was not valid JSON." and no
/// path (swift-foundation issues 274 and 1604); read through this, the error names
/// the field and the range.
struct WholeNumber<Value: FixedWidthInteger & Codable>: Codable {
    var value: Value

    init(_ value: Value) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        do {
            value = try container.decode(Value.self)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "expected a whole number from \(Value.min) to \(Value.max)"))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// Reads the profile files `request`'s `--security-opt seccomp=FILE` options name into
/// `seccompProfiles`, which `spec` uses: it refuses a file it finds unread, so no
/// container runs without the filter it was given. Other requests come back as they
/// are, with no JSON read.
public func resolvingSecurityFiles(_ request: RunRequest) throws(ContainerError) -> RunRequest {
    var request = request
    for option in request.securityOpt {
        guard let path = RunRequest.seccompProfilePath(option), request.seccompProfiles[path] == nil else { continue }
        request.seccompProfiles[path] = try readSeccompProfile(path)
    }
    return request
}

/// Reads and checks a seccomp profile file. Bad input — not JSON, a field of the wrong
/// kind, an unknown action, syscall, operator, architecture or capability — is an
/// error naming the file and the place.
public func readSeccompProfile(_ path: String) throws(ContainerError) -> SeccompProfile {
    func invalid(_ reason: String) -> ContainerError {
        ContainerError(step: "read the seccomp profile", reason: "\(path): \(reason)")
    }
    let bytes: [UInt8]
    do {
        // Docker's own profile is some 15 to 20 KiB; `seccomp=/dev/zero` must end here.
        bytes = try readFile(path, limit: 16 << 20)
    } catch {
        throw invalid(
            "\(Errno.describe(error.errno))\(error.errno == EFBIG ? " (more than 16 MiB)" : "") — give --security-opt seccomp= a JSON profile (Docker's format), or unconfined"
        )
    }
    if let problem = jsonSyntaxError(bytes) { throw invalid("not valid JSON: \(problem)") }
    let file: SeccompProfileFile
    do {
        file = try JSONDecoder().decode(SeccompProfileFile.self, from: Data(bytes))
    } catch let error as DecodingError {
        throw invalid(describe(error))
    } catch {
        throw invalid("not valid JSON: \(error)")
    }
    return try file.profile(source: path, invalid: invalid)
}

extension SeccompProfileFile {
    /// The file as a profile, each name checked.
    func profile(source: String, invalid: (String) -> ContainerError) throws(ContainerError) -> SeccompProfile {
        func action(_ name: String, errnoRet: WholeNumber<UInt32>?, _ place: String) throws(ContainerError) -> SeccompAction {
            guard let action = SeccompAction(dockerName: name, errnoRet: errnoRet.map { Int32(truncatingIfNeeded: $0.value) }) else {
                throw invalid(
                    "\(place): unknown action \(ContainerSpec.quoted(name)) — known: \(SeccompAction.dockerNames.joined(separator: ", "))")
            }
            return action
        }
        func capabilities(_ names: [String]?, _ place: String) throws(ContainerError) -> [Int] {
            var numbers: [Int] = []
            for (index, name) in (names ?? []).enumerated() {
                guard let number = capabilityNumber(name) else {
                    throw invalid("\(place)[\(index)]: unknown capability \(ContainerSpec.quoted(name)) — capabilities(7) lists them")
                }
                numbers.append(number)
            }
            return numbers
        }

        let defaultAction = try action(self.defaultAction, errnoRet: defaultErrnoRet, "defaultAction")
        var architectures = (architectures ?? []).enumerated().map { (place: "architectures[\($0.offset)]", name: $0.element) }
        if let native = nativeSeccompArchitecture {
            for (index, entry) in (archMap ?? []).enumerated() where entry.architecture == native {
                architectures =
                    [(place: "archMap[\(index)].architecture", name: native)]
                    + (entry.subArchitectures ?? []).enumerated().map {
                        (place: "archMap[\(index)].subArchitectures[\($0.offset)]", name: $0.element)
                    }
            }
        }
        for (place, name) in architectures where !seccompKnowsArchitecture(name) && !name.hasPrefix("SCMP_ARCH_") {
            throw invalid("\(place): unknown architecture \(ContainerSpec.quoted(name)) — libseccomp's names: SCMP_ARCH_X86_64, …")
        }

        var rules: [SeccompRule] = []
        for (index, entry) in (syscalls ?? []).enumerated() {
            let place = "syscalls[\(index)]"
            var names = (entry.names ?? []).enumerated().map { (place: "\(place).names[\($0.offset)]", name: $0.element) }
            if let single = entry.name { names.append((place: "\(place).name", name: single)) }
            if names.isEmpty { throw invalid("\(place): names no syscall — give \"names\": [\"…\"]") }
            for (namePlace, name) in names where !seccompKnowsSyscall(name) {
                throw invalid("\(namePlace): unknown syscall \(ContainerSpec.quoted(name)) — check its spelling against syscalls(2)")
            }
            var rule = SeccompRule(syscalls: names.map(\.name), action: try action(entry.action, errnoRet: entry.errnoRet, "\(place).action"))
            for (argIndex, argument) in (entry.args ?? []).enumerated() {
                let argPlace = "\(place).args[\(argIndex)]"
                guard argument.index.value < 6 else {
                    throw invalid("\(argPlace).index: \(argument.index.value) — a syscall has six arguments, 0 to 5")
                }
                guard SeccompArgument.operatorNames.contains(argument.op) else {
                    throw invalid(
                        "\(argPlace).op: unknown operator \(ContainerSpec.quoted(argument.op)) — known: \(SeccompArgument.operatorNames.joined(separator: ", "))"
                    )
                }
                rule.arguments.append(
                    SeccompArgument(
                        index: argument.index.value, op: argument.op, value: argument.value?.value ?? 0, valueTwo: argument.valueTwo?.value ?? 0))
            }
            if let includes = entry.includes {
                rule.includeCapabilities = try capabilities(includes.caps, "\(place).includes.caps")
                rule.includeArchitectures = includes.arches ?? []
                if let kernel = includes.minKernel {
                    let parts = kernel.split(separator: ".").compactMap { Int($0) }
                    guard parts.count >= 2 else {
                        throw invalid("\(place).includes.minKernel: \(ContainerSpec.quoted(kernel)) is not a version like 4.8")
                    }
                    rule.minimumKernel = (parts[0], parts[1])
                }
            }
            if let excludes = entry.excludes {
                rule.excludeCapabilities = try capabilities(excludes.caps, "\(place).excludes.caps")
                rule.excludeArchitectures = excludes.arches ?? []
                if excludes.minKernel != nil {
                    throw invalid("\(place).excludes.minKernel: not supported by scratch — give the rule's kernel version in includes")
                }
            }
            rules.append(rule)
        }
        // Another machine's architectures (Docker's profiles list many) add nothing here.
        return SeccompProfile(
            source: source, defaultAction: defaultAction, architectures: architectures.map(\.name).filter(seccompKnowsArchitecture),
            rules: rules)
    }

    /// `profile` as it applies to a container with `capabilities`: only the rules that
    /// apply and do something other than the default, `includes`/`excludes` resolved.
    init(_ profile: SeccompProfile, capabilities: CapabilitySet) {
        let (name, errnoRet) = profile.defaultAction.dockerSpelling
        defaultAction = name
        defaultErrnoRet = errnoRet.map { WholeNumber(UInt32(truncatingIfNeeded: $0)) }
        architectures = profile.architectures.isEmpty ? ["SCMP_ARCH_X86_64"] : profile.architectures
        syscalls = profile.rules.filter { $0.applies(to: capabilities) && $0.action != profile.defaultAction }.map { rule in
            let (name, errnoRet) = rule.action.dockerSpelling
            return Syscall(
                names: rule.names, action: name, errnoRet: errnoRet.map { WholeNumber(UInt32(truncatingIfNeeded: $0)) },
                args: rule.arguments.isEmpty
                    ? nil
                    : rule.arguments.map {
                        Argument(index: WholeNumber($0.index), value: WholeNumber($0.value), valueTwo: WholeNumber($0.valueTwo), op: $0.op)
                    })
        }
    }
}

/// `profile` in Docker's JSON format, as it applies to a container with `capabilities`:
/// what `scratch seccomp-profile` prints, what `--security-opt seccomp=FILE` reads back,
/// and what crun is given in tools/bench/least-privilege.
public func seccompProfileJSON(_ profile: SeccompProfile, capabilities: CapabilitySet) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try encoder.encode(SeccompProfileFile(profile, capabilities: capabilities))
    return String(decoding: data, as: UTF8.self) + "\n"
}
