import CSeccomp
import Glibc
import Syscalls

// Chapter 7 — seccomp profiles in Docker's (and the OCI runtime spec's) JSON.
//
// Read only for `--security-opt seccomp=FILE`, so it is off the plain `scratch run`'s
// path; still, it is a page of JSON reading of our own rather than Foundation, which
// the runtime's static binary does not carry. Errors name the place: the line and
// column for bad JSON, the field's path (`syscalls[3].action`) for a bad profile.

/// A JSON value, objects with their keys in order.
indirect enum JSONValue {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number's text: arguments are 64-bit and must not pass through a Double.
    case number(String)
    case bool(Bool)
    case null

    subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members.last { $0.key == key }?.value }
        return nil
    }
}

struct JSONReader {
    let bytes: [UInt8]
    var position = 0

    struct Failure: Error {
        let message: String
        let offset: Int
    }

    static func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
        var reader = JSONReader(bytes: bytes)
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        if reader.position < bytes.count { throw Failure(message: "unexpected text after the value", offset: reader.position) }
        return value
    }

    mutating func skipSpace() {
        while position < bytes.count, [0x20, 0x0a, 0x0d, 0x09].contains(bytes[position]) { position += 1 }
    }

    mutating func value(depth: Int) throws(Failure) -> JSONValue {
        skipSpace()
        guard depth < 64 else { throw Failure(message: "nested too deep", offset: position) }
        guard position < bytes.count else { throw Failure(message: "the file ends where a value should be", offset: position) }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            position += 1
            var members: [(key: String, value: JSONValue)] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                    throw Failure(message: "expected a quoted key", offset: position)
                }
                let key = try string()
                skipSpace()
                try expect(":")
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                if try endOrComma("}") { return .object(members) }
            }
        case UInt8(ascii: "["):
            position += 1
            var elements: [JSONValue] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                elements.append(try value(depth: depth + 1))
                skipSpace()
                if try endOrComma("]") { return .array(elements) }
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            try word("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try word("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try word("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = position
            while position < bytes.count, "+-.eE0123456789".utf8.contains(bytes[position]) { position += 1 }
            return .number(String(decoding: bytes[start..<position], as: UTF8.self))
        default:
            throw Failure(message: "unexpected character '\(Character(Unicode.Scalar(bytes[position])))'", offset: position)
        }
    }

    mutating func endOrComma(_ end: Character) throws(Failure) -> Bool {
        guard position < bytes.count else { throw Failure(message: "the file ends before '\(end)'", offset: position) }
        if bytes[position] == UInt8(ascii: ",") {
            position += 1
            return false
        }
        if bytes[position] == end.asciiValue {
            position += 1
            return true
        }
        throw Failure(message: "expected ',' or '\(end)'", offset: position)
    }

    mutating func expect(_ character: Character) throws(Failure) {
        guard position < bytes.count, bytes[position] == character.asciiValue else {
            throw Failure(message: "expected '\(character)'", offset: position)
        }
        position += 1
    }

    mutating func word(_ text: String) throws(Failure) {
        let expected = Array(text.utf8)
        guard bytes.count - position >= expected.count, Array(bytes[position..<position + expected.count]) == expected else {
            throw Failure(message: "expected \(text)", offset: position)
        }
        position += expected.count
    }

    mutating func string() throws(Failure) -> String {
        let start = position
        position += 1
        var result: [UInt8] = []
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: result, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard position < bytes.count else { break }
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "n"): result.append(0x0a)
                case UInt8(ascii: "t"): result.append(0x09)
                case UInt8(ascii: "r"): result.append(0x0d)
                case UInt8(ascii: "b"): result.append(0x08)
                case UInt8(ascii: "f"): result.append(0x0c)
                case UInt8(ascii: "u"):
                    guard bytes.count - position >= 4,
                        let code = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16)
                    else { throw Failure(message: "bad \\u escape", offset: position) }
                    position += 4
                    result += Array(String(Character(Unicode.Scalar(code) ?? "?")).utf8)
                default: result.append(escaped)
                }
            case 0..<0x20:
                throw Failure(message: "a control character inside a string", offset: position - 1)
            default:
                result.append(byte)
            }
        }
        throw Failure(message: "a string that never ends", offset: start)
    }
}

/// Reads a Docker or OCI seccomp profile from `path`. Bad input — not JSON, a field of
/// the wrong kind, an unknown action, operator or capability — is an error naming the
/// file and the place; unknown syscall names are found when it is compiled.
public func readSeccompProfile(_ path: String) throws(ContainerError) -> SeccompProfile {
    func failure(_ reason: String) -> ContainerError {
        ContainerError(step: "read the seccomp profile", reason: "\(path): \(reason)")
    }
    let bytes: [UInt8]
    do {
        bytes = try readFile(path)
    } catch {
        throw failure("\(error.errnoDescription) — give --security-opt seccomp= a JSON profile (Docker's format), or unconfined")
    }
    let root: JSONValue
    do {
        root = try JSONReader.parse(bytes)
    } catch {
        let before = bytes[0..<min(error.offset, bytes.count)]
        let line = before.filter { $0 == 0x0a }.count + 1
        let column = before.count - (before.lastIndex(of: 0x0a).map { $0 + 1 } ?? 0) + 1
        throw failure("not valid JSON at line \(line), column \(column): \(error.message)")
    }
    guard case .object = root else { throw failure("the profile must be a JSON object") }

    func string(_ value: JSONValue?, _ place: String) throws(ContainerError) -> String? {
        guard let value else { return nil }
        if case .null = value { return nil }
        guard case .string(let text) = value else { throw failure("\(place) must be a string") }
        return text
    }
    func strings(_ value: JSONValue?, _ place: String) throws(ContainerError) -> [String] {
        guard let value else { return [] }
        if case .null = value { return [] }
        guard case .array(let elements) = value else { throw failure("\(place) must be an array of strings") }
        var result: [String] = []
        for (index, element) in elements.enumerated() {
            guard case .string(let text) = element else { throw failure("\(place)[\(index)] must be a string") }
            result.append(text)
        }
        return result
    }
    func unsigned(_ value: JSONValue?, _ place: String) throws(ContainerError) -> UInt64? {
        guard let value else { return nil }
        if case .null = value { return nil }
        guard case .number(let text) = value, let number = UInt64(text) else {
            throw failure("\(place) must be a whole number from 0 to 2^64-1")
        }
        return number
    }
    func action(_ object: JSONValue, _ place: String) throws(ContainerError) -> SeccompAction {
        let name = try string(object["action"] ?? object["defaultAction"], place) ?? ""
        let errnoPlace = object["errnoRet"] != nil ? "errnoRet" : "defaultErrnoRet"
        let errnoRet = try unsigned(object["errnoRet"] ?? object["defaultErrnoRet"], errnoPlace).map { Int32(truncatingIfNeeded: $0) }
        guard let action = SeccompAction.named(name, errnoRet: errnoRet) else {
            throw failure("\(place): unknown action \(ContainerSpec.quoted(name)) — known: \(SeccompAction.knownNames.joined(separator: ", "))")
        }
        return action
    }
    func capabilities(_ names: [String], _ place: String) throws(ContainerError) -> [Int] {
        var result: [Int] = []
        for name in names {
            guard let number = capabilityNumber(name) else { throw failure("\(place): unknown capability \(ContainerSpec.quoted(name))") }
            result.append(number)
        }
        return result
    }

    let defaultAction = try action(root, "defaultAction")
    // OCI's "architectures", or Docker's "archMap": the native architecture and the
    // ones it also runs (x86 and x32 on amd64).
    var architectures = try strings(root["architectures"], "architectures")
    if case .array(let map)? = root["archMap"] {
        let native = nativeGoArchitecture == "amd64" ? "SCMP_ARCH_X86_64" : nativeGoArchitecture == "arm64" ? "SCMP_ARCH_AARCH64" : ""
        for (index, entry) in map.enumerated() where try string(entry["architecture"], "archMap[\(index)].architecture") == native {
            architectures = [native] + (try strings(entry["subArchitectures"], "archMap[\(index)].subArchitectures"))
        }
    }
    for (index, arch) in architectures.enumerated() where seccompArchitectures[arch] == nil {
        // Another machine's architecture (Docker's lists many): nothing to add here.
        if arch.hasPrefix("SCMP_ARCH_") { continue }
        throw failure("architectures[\(index)]: unknown architecture \(ContainerSpec.quoted(arch))")
    }
    architectures = architectures.filter { seccompArchitectures[$0] != nil }

    var rules: [SeccompRule] = []
    var syscalls: [JSONValue] = []
    if let value = root["syscalls"] {
        if case .array(let elements) = value {
            syscalls = elements
        } else if case .null = value {
        } else {
            throw failure("syscalls must be an array")
        }
    }
    for (index, entry) in syscalls.enumerated() {
        let place = "syscalls[\(index)]"
        guard case .object = entry else { throw failure("\(place) must be an object") }
        var names = try strings(entry["names"], "\(place).names")
        if let single = try string(entry["name"], "\(place).name") { names.append(single) }
        if names.isEmpty { throw failure("\(place) names no syscall") }
        // Names libseccomp does not know: a typo, unless it is a call newer than this
        // libseccomp (then the call gets the default action, as an unknown one should).
        for (nameIndex, name) in names.enumerated()
        where seccomp_syscall_resolve_name(name) == __NR_SCMP_ERROR && !syscallsNewerThanLibseccomp.contains(name) {
            throw failure("\(place).names[\(nameIndex)]: unknown syscall \(ContainerSpec.quoted(name)) — check its spelling against syscalls(2)")
        }
        var rule = SeccompRule(names: names, action: try action(entry, "\(place).action"))
        if let value = entry["args"] {
            var elements: [JSONValue] = []
            if case .array(let list) = value {
                elements = list
            } else if case .null = value {
            } else {
                throw failure("\(place).args must be an array")
            }
            for (argIndex, argument) in elements.enumerated() {
                let argPlace = "\(place).args[\(argIndex)]"
                guard let position = try unsigned(argument["index"], "\(argPlace).index"), position < 6 else {
                    throw failure("\(argPlace).index must be 0 to 5 (a syscall has six arguments)")
                }
                let op = try string(argument["op"], "\(argPlace).op") ?? ""
                guard SeccompArgument.operators[op] != nil else {
                    throw failure(
                        "\(argPlace).op: unknown operator \(ContainerSpec.quoted(op)) — known: \(SeccompArgument.operators.keys.sorted().joined(separator: ", "))"
                    )
                }
                rule.arguments.append(
                    SeccompArgument(
                        index: UInt32(position), value: try unsigned(argument["value"], "\(argPlace).value") ?? 0,
                        valueTwo: try unsigned(argument["valueTwo"], "\(argPlace).valueTwo") ?? 0, op: op))
            }
        }
        for (key, isInclude) in [("includes", true), ("excludes", false)] {
            guard let filter = entry[key] else { continue }
            let caps = try capabilities(try strings(filter["caps"], "\(place).\(key).caps"), "\(place).\(key).caps")
            let arches = try strings(filter["arches"], "\(place).\(key).arches")
            let kernel = try string(filter["minKernel"], "\(place).\(key).minKernel")
            if isInclude {
                rule.includeCapabilities = caps
                rule.includeArchitectures = arches
                if let kernel {
                    let parts = kernel.split(separator: ".").compactMap { Int($0) }
                    guard parts.count >= 2 else {
                        throw failure("\(place).includes.minKernel: \(ContainerSpec.quoted(kernel)) is not a version like 4.8")
                    }
                    rule.minimumKernel = (parts[0], parts[1])
                }
            } else {
                rule.excludeCapabilities = caps
                rule.excludeArchitectures = arches
            }
        }
        rules.append(rule)
    }
    return SeccompProfile(defaultAction: defaultAction, architectures: architectures, rules: rules, source: path)
}

extension SeccompProfile {
    /// The profile in Docker's JSON format (what crun reads from config.json's
    /// linux.seccomp, once `includes`/`excludes` are resolved for `capabilities`).
    public func json(capabilities: CapabilitySet, ociStyle: Bool = false) -> String {
        func quote(_ text: String) -> String { "\"" + text + "\"" }
        func action(_ action: SeccompAction, prefix: String) -> String {
            let (name, errnoRet) = action.dockerName
            let key = prefix.isEmpty ? "action" : "defaultAction"
            let errnoKey = prefix.isEmpty ? "errnoRet" : "defaultErrnoRet"
            return "\(quote(key)): \(quote(name))" + (errnoRet.map { ", \(quote(errnoKey)): \($0)" } ?? "")
        }
        var lines: [String] = []
        for rule in rules where rule.applies(capabilities: capabilities) && rule.action != defaultAction {
            let names = rule.names.map(quote).joined(separator: ", ")
            var text = "{\"names\": [\(names)], \(action(rule.action, prefix: ""))"
            if !rule.arguments.isEmpty {
                let args = rule.arguments.map {
                    "{\"index\": \($0.index), \"value\": \($0.value), \"valueTwo\": \($0.valueTwo), \"op\": \(quote($0.op))}"
                }
                text += ", \"args\": [\(args.joined(separator: ", "))]"
            }
            lines.append(text + "}")
        }
        let arches = (architectures.isEmpty ? ["SCMP_ARCH_X86_64"] : architectures).map(quote).joined(separator: ", ")
        return "{\(action(defaultAction, prefix: "default")), \"architectures\": [\(arches)],\n\"syscalls\": [\n"
            + lines.joined(separator: ",\n") + "\n]}\n"
    }
}
