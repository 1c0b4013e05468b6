import Glibc
import Syscalls

// Chapter 9 — CNI, the Container Network Interface: `--network cni:NAME`.
//
// CNI splits the work of a container's network in two. The runtime makes the network
// namespace and says when; small programs, the plugins, do the rest: `bridge` makes a
// bridge and a veth pair and moves one end into the namespace, `host-local` hands out
// an address, `portmap` publishes ports, `loopback` brings `lo` up. The contract
// between the two is tiny, which is why Kubernetes, Podman and CRI-O all speak it:
//
//   - a plugin is an executable, found by its `type` in the directories of CNI_PATH;
//   - the runtime sets CNI_COMMAND (ADD, DEL, ...), CNI_CONTAINERID, CNI_NETNS (a path
//     to the namespace), CNI_IFNAME (the interface to make in it) and CNI_PATH, and
//     writes the plugin's network configuration (JSON) to its standard input;
//   - the plugin answers with a result (JSON: interfaces, addresses, routes, DNS) on its
//     standard output and exit status 0, or with an error object and another status;
//   - a network *list* runs its plugins in order on ADD, each given the previous one's
//     result as `prevResult` (chaining), and in reverse order on DEL;
//   - DEL must be called whatever happened, and must succeed even when what it would
//     remove is already gone.
//
// The JSON lives in RuntimeConfig (Foundation's decoder; `CNINetworkList` below is what
// it hands over), so the runtime's own path reads none and spawns nothing unless CNI
// was asked for. What DEL needs is written to the state directory *before* the first
// ADD: a runtime killed half-way leaves it for `scratch gc`, which runs DEL from it with
// no JSON at all (the configurations are stored ready to be fed to the plugins).

/// A network configuration list (`/etc/cni/net.d/*.conflist`), read and checked: its
/// plugins found, each one's configuration ready to be written to its standard input.
public protocol CNINetworkList: Sendable {
    /// The list's `name`: what `--network cni:NAME` names.
    var name: String { get }
    /// The directories searched for plugins, as given to them (CNI_PATH, `:`-separated).
    var pluginPath: String { get }
    /// The plugins in list order: each one's `type` and the executable found for it.
    var plugins: [(type: String, executable: String)] { get }
    /// What plugin `index` reads on its standard input: its object from the list with
    /// the list's `name` and `cniVersion`, and `prevResult` when one is given.
    func networkConfiguration(plugin index: Int, previousResult: [UInt8]?) throws -> [UInt8]
    /// The error a failed plugin printed, in words (its `msg`, then its `details`);
    /// nil when its output is no CNI error object.
    func errorMessage(_ output: [UInt8]) -> String?
}

extension NetworkMode {
    /// `-p` with `cni:NAME`: handed to the list's portmap plugin (RuntimeConfig checks
    /// that it has one).
    var publishesThroughCNI: Bool {
        if case .cni = self { return true }
        return false
    }
}

extension ContainerSpec {
    /// `--network cni:NAME` needs root: the plugins make links and addresses in the
    /// host's network namespace (CAP_NET_ADMIN there).
    func validateCNINetwork() throws(ContainerError) {
        guard case .cni(let name) = network, getuid() != 0 else { return }
        throw ContainerError(
            step: "check the request",
            reason: "--network cni:\(name) needs root: the plugins need CAP_NET_ADMIN in the host's network namespace — run as root")
    }

    /// The list of `--network cni:NAME`, which RuntimeConfig reads before the story
    /// starts (`scratch run` does; a learner's stage has no CNI).
    func readCNINetwork() throws(ContainerError) -> (any CNINetworkList)? {
        guard case .cni(let name) = network else { return nil }
        guard let cniNetwork else {
            throw ContainerError(
                step: "check the request", reason: "--network cni:\(name): the network list was not read — run it with `scratch run`")
        }
        return cniNetwork
    }
}

/// The interface CNI plugins make in the container's namespace (Docker's and Kubernetes'
/// name too).
public let cniInterfaceName = "eth0"

/// A network attached by ADD: what DEL needs while the runtime lives. It holds the
/// container's network namespace open, so that DEL still finds it — and removes the
/// container's interfaces itself — after the container's last process has exited.
public final class CNIAttachment {
    let directory: String
    let namespace: Int32

    init(directory: String, namespace: Int32) {
        self.directory = directory
        self.namespace = namespace
    }

    /// DEL, every plugin in reverse order; then the namespace is let go. Problems are
    /// written to standard error: DEL runs on the way out, where the run's own exit
    /// status must stand.
    public func detach(programName: String) {
        // /proc/OUR-PID/fd/N: a path to the namespace that stays valid while we hold it.
        // (Not /proc/CHILD/ns/net: once the child is reaped its pid may be anyone's.)
        for problem in runCNIDelete(recordIn: directory, namespacePath: "/proc/\(getpid())/fd/\(namespace)") {
            writeToStandardError("\(programName): \(problem)\n")
        }
        closeDescriptor(namespace)
    }
}

/// ADD: runs the list's plugins in order for container `pid`, each with the previous
/// one's result. The DEL record is written into the state directory first (`cni/`), so
/// every way out — a plugin's error, an interrupt, the runtime killed — can undo what
/// the plugins made. On a plugin's error the plugins are DEL'd before this throws.
public func attachCNINetwork(
    _ list: any CNINetworkList, containerID: String, pid: pid_t, stateDirectory: String, programName: String
) throws -> CNIAttachment {
    let record = stateDirectory + "/cni"
    let step = "attach the CNI network \(list.name)"
    func failed(_ reason: String) -> ContainerError { ContainerError(step: step, reason: reason) }
    let namespacePath = "/proc/\(pid)/ns/net"
    let fd = open(namespacePath, O_RDONLY | O_CLOEXEC)
    guard fd != -1 else { throw failed("\(SyscallError("open", path: namespacePath))") }
    let attachment = CNIAttachment(directory: record, namespace: fd)
    do {
        try makeDirectory(record, mode: 0o700)
        // Without prevResult for now: ADD may fail half-way, and DEL must run anyway.
        try writeCNIDeleteRecord(list, containerID: containerID, directory: record, result: nil)
        var result: [UInt8]?
        for (index, plugin) in list.plugins.enumerated() {
            let input = try list.networkConfiguration(plugin: index, previousResult: result)
            let environment = cniEnvironment(command: "ADD", containerID: containerID, namespace: namespacePath, pluginPath: list.pluginPath)
            let answer = try runProgram([plugin.executable], environment: environment, input: input)
            guard case .exited(0) = answer.status else {
                let message = list.errorMessage(answer.output) ?? describeOutput(answer.output)
                throw failed("plugin \(plugin.type) (ADD) failed (\(answer.status)): \(message)")
            }
            result = answer.output
        }
        // Each plugin's DEL gets the list's final result, as libcni gives it.
        try writeCNIDeleteRecord(list, containerID: containerID, directory: record, result: result)
    } catch {
        attachment.detach(programName: programName)
        throw error
    }
    return attachment
}

/// The environment of a plugin: the CNI variables, and a PATH for the tools some
/// plugins run (iptables, for `ipMasq` and `portmap`).
func cniEnvironment(command: String, containerID: String, namespace: String, pluginPath: String) -> [String] {
    [
        "CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(containerID)", "CNI_NETNS=\(namespace)", "CNI_IFNAME=\(cniInterfaceName)",
        "CNI_PATH=\(pluginPath)", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]
}

/// `cni/` in the state directory: `plugins` (one line per plugin, list order: the
/// executable), `env` (CNI_CONTAINERID and CNI_PATH), and `N.json`, plugin N's DEL
/// configuration. Written again once ADD is done, with the result as prevResult.
func writeCNIDeleteRecord(_ list: any CNINetworkList, containerID: String, directory: String, result: [UInt8]?) throws {
    for index in list.plugins.indices {
        try writeFile(directory + "/\(index).json", list.networkConfiguration(plugin: index, previousResult: result), mode: 0o600)
    }
    try writeFile(directory + "/env", Array("CNI_CONTAINERID=\(containerID)\nCNI_PATH=\(list.pluginPath)\n".utf8), mode: 0o600)
    try writeFile(directory + "/plugins", Array(list.plugins.map { $0.executable + "\n" }.joined().utf8), mode: 0o600)
}

/// DEL from the record in `directory`, the plugins in reverse order; every plugin is
/// run even when one fails (each removes its own part). `namespacePath` is "" when the
/// namespace is gone (a runtime killed, its container with it): plugins must then still
/// free what lives outside it — the address, the port rules. Removes the record and
/// returns the problems met, in words.
func runCNIDelete(recordIn directory: String, namespacePath: String) -> [String] {
    defer { removeCNIRecord(directory) }
    guard let pluginsText = readControlFile(directory + "/plugins") else { return [] }
    var settings: [String: String] = [:]
    for line in (readControlFile(directory + "/env") ?? "").split(separator: "\n") {
        guard let equals = line.firstIndex(of: "=") else { continue }
        settings[String(line[..<equals])] = String(line[line.index(after: equals)...])
    }
    let environment = cniEnvironment(
        command: "DEL", containerID: settings["CNI_CONTAINERID"] ?? "", namespace: namespacePath, pluginPath: settings["CNI_PATH"] ?? "")
    var problems: [String] = []
    for (index, executable) in pluginsText.split(separator: "\n").map(String.init).enumerated().reversed() {
        // Written before the first ADD: a missing file means this plugin never ran.
        guard let input = try? readFile(directory + "/\(index).json") else { continue }
        do {
            let answer = try runProgram([executable], environment: environment, input: input)
            if case .exited(0) = answer.status { continue }
            problems.append("detach the CNI network: plugin \(executable) (DEL) failed (\(answer.status)): \(describeOutput(answer.output))")
        } catch {
            problems.append("detach the CNI network: plugin \(executable) (DEL): \(error)")
        }
    }
    return problems
}

/// For `scratch gc` and a run's start: DEL for a container whose runtime died.
func releaseLeftoverCNINetwork(stateDirectory: String) -> [String] {
    let record = stateDirectory + "/cni"
    guard fileKind(record) != nil else { return [] }
    for problem in runCNIDelete(recordIn: record, namespacePath: "") {
        writeToStandardError("scratch: \(problem)\n")
    }
    return [record]
}

func removeCNIRecord(_ directory: String) {
    guard let names = try? listDirectory(directory) else { return }
    for name in names { try? removeFile(directory + "/" + name) }
    _ = try? removeDirectory(directory)
}

/// A plugin's output that is no CNI error object, shown as it came (short).
func describeOutput(_ output: [UInt8]) -> String {
    let text = String(decoding: output.prefix(600), as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " ")
    return text.isEmpty ? "it printed nothing (its own messages, if any, are above)" : text
}
