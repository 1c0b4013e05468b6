import FoundationEssentials
import Glibc
import Runtime
import Syscalls

// Chapter 9 — `--network cni:NAME`: the CNI network list NAME, read from
// /etc/cni/net.d (or $CNI_CONF_DIR), its plugins found in /usr/lib/cni (or the
// directories of $CNI_PATH). The runtime runs them (Runtime/CNI.swift); this file is
// the JSON: the list, each plugin's configuration with `prevResult` chained in, and a
// failed plugin's error object. A plugin's object is passed on as it came — a runtime
// must not drop what it does not know (`ipam`, `capabilities`, a plugin's own keys).

/// Where CNI configurations live unless $CNI_CONF_DIR says otherwise (libcni's and
/// Podman's default).
public let defaultCNIConfigurationDirectory = "/etc/cni/net.d"
/// Where Debian's containernetworking-plugins installs the plugins.
public let defaultCNIPluginPath = "/usr/lib/cni"

/// `--network cni:NAME`: reads and checks the list before anything is made, so a name
/// no list has, a plugin not installed, or a file that is not JSON is bad input (exit
/// 125, nothing left). Without `cni:` it reads nothing.
public func resolvingCNINetwork(_ spec: ContainerSpec, environment: [String: String] = currentEnvironment()) throws -> ContainerSpec {
    guard case .cni(let name) = spec.network else { return spec }
    var spec = spec
    var list = try readCNINetworkList(
        named: name, in: environment["CNI_CONF_DIR"] ?? defaultCNIConfigurationDirectory,
        pluginPath: environment["CNI_PATH"] ?? defaultCNIPluginPath)
    // -p: for the plugins that declare the capability (portmap), as libcni hands it.
    if !spec.publishedPorts.isEmpty {
        guard list.acceptsPortMappings else {
            throw ContainerError(
                step: "read the CNI network \(name)",
                reason:
                    "-p: no plugin of the list \(name) publishes ports — add {\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}} to its plugins, or drop -p"
            )
        }
        list.portMappings = spec.publishedPorts
    }
    spec.cniNetwork = list
    return spec
}

/// The process's environment, as a dictionary.
public func currentEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var entry = environ
    while let pointer = entry.pointee {
        let text = String(cString: pointer)
        if let equals = text.firstIndex(of: "=") { result[String(text[..<equals])] = String(text[text.index(after: equals)...]) }
        entry += 1
    }
    return result
}

/// The list named `name` among `directory`'s `*.conflist` files (and single-plugin
/// `*.conf`/`*.json` files, as libcni reads them), the first in name order.
public func readCNINetworkList(named name: String, in directory: String, pluginPath: String) throws(ContainerError) -> CNIConfiguredList {
    let step = "read the CNI network \(name)"
    let files: [String]
    do {
        files = try listDirectory(directory).sorted()
    } catch {
        throw ContainerError(
            step: step,
            reason: "\(directory): \(error) — write the network's list there (a .conflist), or name another directory with CNI_CONF_DIR")
    }
    var names: [String] = []
    for file in files where file.hasSuffix(".conflist") || file.hasSuffix(".conf") || file.hasSuffix(".json") {
        let path = directory + "/" + file
        guard let bytes = try? readFile(path) else { continue }
        guard jsonSyntaxError(bytes) == nil, case .object(var object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)),
            case .string(let listName)? = object["name"]
        else { continue }
        names.append(listName)
        guard listName == name else { continue }
        // A single plugin's file is a list of one.
        if !file.hasSuffix(".conflist") {
            var plugin = object
            plugin["name"] = nil
            plugin["cniVersion"] = nil
            object["plugins"] = .array([.object(plugin)])
        }
        return try CNIConfiguredList(object, name: name, path: path, pluginPath: pluginPath)
    }
    throw ContainerError(
        step: step,
        reason:
            "no network list named \(name) in \(directory)"
            + (names.isEmpty ? " (it holds none)" : " (it holds \(names.sorted().joined(separator: ", ")))")
            + " — write one (a .conflist whose \"name\" is \(name)), or name another directory with CNI_CONF_DIR")
}

/// A network list, read and checked: what Runtime's `attachCNINetwork` runs.
public struct CNIConfiguredList: CNINetworkList {
    public let name: String
    public let pluginPath: String
    public let plugins: [(type: String, executable: String)]
    let cniVersion: String
    let objects: [[String: JSONValue]]
    /// `-p`, given as `runtimeConfig.portMappings` to the plugins whose `capabilities`
    /// say `portMappings` (CNI's CONVENTIONS: capability arguments).
    var portMappings: [PublishedPort] = []

    /// Whether a plugin of the list takes `portMappings` (portmap does).
    var acceptsPortMappings: Bool { objects.contains(where: Self.takesPortMappings) }

    static func takesPortMappings(_ object: [String: JSONValue]) -> Bool {
        guard case .object(let capabilities)? = object["capabilities"] else { return false }
        return capabilities["portMappings"] == .bool(true)
    }

    init(_ list: [String: JSONValue], name: String, path: String, pluginPath: String) throws(ContainerError) {
        func invalid(_ reason: String) -> ContainerError { ContainerError(step: "read the CNI network \(name)", reason: "\(path): \(reason)") }
        guard case .string(let version)? = list["cniVersion"] else {
            throw invalid("\"cniVersion\" is missing: say which version of the spec it follows, as \"1.0.0\"")
        }
        guard case .array(let entries)? = list["plugins"], !entries.isEmpty else {
            throw invalid("\"plugins\" must be a list of at least one plugin")
        }
        var objects: [[String: JSONValue]] = []
        var plugins: [(type: String, executable: String)] = []
        let directories = pluginPath.split(separator: ":").map(String.init)
        for (index, entry) in entries.enumerated() {
            guard case .object(let object) = entry, case .string(let type)? = object["type"], !type.isEmpty, !type.contains("/") else {
                throw invalid("plugins[\(index)] needs a \"type\": the plugin's executable name, as \"bridge\"")
            }
            guard let executable = directories.map({ $0 + "/" + type }).first(where: { access($0, X_OK) == 0 }) else {
                throw invalid(
                    "plugins[\(index)]: no plugin \(type) in CNI_PATH (\(pluginPath)) — install it (Debian: containernetworking-plugins), or name its directory with CNI_PATH"
                )
            }
            objects.append(object)
            plugins.append((type, executable))
        }
        self.name = name
        self.pluginPath = pluginPath
        self.plugins = plugins
        self.cniVersion = version
        self.objects = objects
    }

    public func networkConfiguration(plugin index: Int, previousResult: [UInt8]?) throws -> [UInt8] {
        var object = objects[index]
        object["name"] = .string(name)
        object["cniVersion"] = .string(cniVersion)
        object["prevResult"] = nil
        if !portMappings.isEmpty && Self.takesPortMappings(object) {
            let mappings = portMappings.map { port -> JSONValue in
                var mapping: [String: JSONValue] = [
                    "hostPort": .integer(Int64(port.hostPort)), "containerPort": .integer(Int64(port.containerPort)),
                    "protocol": .string(port.transport.rawValue),
                ]
                if let address = port.hostAddress { mapping["hostIP"] = .string("\(address)") }
                return .object(mapping)
            }
            object["runtimeConfig"] = .object(["portMappings": .array(mappings)])
        }
        if let previousResult {
            do {
                object["prevResult"] = try JSONDecoder().decode(JSONValue.self, from: Data(previousResult))
            } catch {
                throw ContainerError(
                    step: "attach the CNI network \(name)",
                    reason:
                        "plugin \(plugins[max(index - 1, 0)].type) answered ADD with something that is not JSON: \(String(decoding: previousResult.prefix(200), as: UTF8.self))"
                )
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(JSONValue.object(object)))
    }

    public func errorMessage(_ output: [UInt8]) -> String? {
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(output)),
            case .string(let message)? = object["msg"]
        else { return nil }
        var words = message
        if case .string(let details)? = object["details"], !details.isEmpty { words += " (\(details))" }
        if case .integer(let code)? = object["code"] { words += " [CNI error \(code)]" }
        return words
    }
}

/// Any JSON value, kept as it came (integers stay integers), for the objects the
/// runtime passes on without knowing their keys.
enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
