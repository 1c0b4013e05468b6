import Glibc
import Runtime
import Syscalls

// Chapter 10 — the OCI runtime's command line, as runc's (its flags are what Podman,
// containerd-shim and the runtime-tools validation suite pass):
//
//   scratch [--root DIR] [--log FILE] [--log-format text|json] COMMAND ...
//     create [--bundle DIR] [--pid-file F] [--console-socket S] ID
//     start ID | state ID | kill [--all] ID [SIGNAL] | delete [--force] ID
//     run --bundle DIR [-d] [--pid-file F] ID
//     exec [-p process.json] [-d] [--pid-file F] [--cwd D] [--env K=V] [--user U:G] ID [CMD ...]
//     ps [--format table|json] ID | list [--format table|json] [-q] | features
//
// Read by hand, as scratch's plain `run` is: ArgumentParser's reflection would cost
// more than the whole of `start`. Errors are scratch's sentences (the step, the call,
// the path, errno in words), with runc's exit code: 1 where scratch's own commands
// say 125, since the callers of an OCI runtime were written against runc.

/// The flags that come before the command.
public struct OCIGlobals: Sendable {
    public var root = defaultOCIRoot()
    public var log: String?
    public var logJSON = false
    /// True when any was given: `scratch --root X run ...` is then an OCI `run`.
    public var given = false

    public init() {}
}

/// The commands that only the OCI interface has.
public let ociOnlyCommands: Set<String> = ["create", "start", "state", "delete", "list", "features"]

/// Reads the global flags at the front of `arguments`. nil when none is there.
public func ociGlobals(_ arguments: inout ArraySlice<String>) throws(ContainerError) -> OCIGlobals? {
    var globals = OCIGlobals()
    while let word = arguments.first, word.hasPrefix("--") {
        let (name, inline) = splitFlag(word)
        func value() throws(ContainerError) -> String {
            if let inline { return inline }
            arguments.removeFirst()
            guard let next = arguments.first else { throw usage("\(name) needs a value") }
            return next
        }
        switch name {
        case "--root": globals.root = try value()
        case "--log": globals.log = try value()
        case "--log-format":
            let format = try value()
            guard format == "text" || format == "json" else { throw usage("--log-format \(format): text or json") }
            globals.logJSON = format == "json"
        case "--systemd-cgroup":
            throw ContainerError(
                step: "check the request",
                reason:
                    "--systemd-cgroup: scratch makes its cgroups itself (cgroupfs), never through systemd — drop the flag (Podman: --cgroup-manager cgroupfs; containerd: SystemdCgroup = false)"
            )
        case "--debug": break
        case "--rootless", "--criu":
            _ = try value()
        default:
            guard globals.given else { return nil }
            throw usage("unknown global flag \(name)")
        }
        globals.given = true
        arguments.removeFirst()
    }
    return globals.given ? globals : nil
}

func splitFlag(_ word: String) -> (String, String?) {
    guard let equals = word.firstIndex(of: "=") else { return (word, nil) }
    return (String(word[..<equals]), String(word[word.index(after: equals)...]))
}

func usage(_ reason: String) -> ContainerError {
    ContainerError(step: "read the command line", reason: reason + " (`scratch --help` lists the commands)")
}

/// Whether `command ARGS` is the OCI form of a command `scratch` also has in its own
/// form (`run`, `exec`, `kill`, `ps`): see `scratch --help`.
public func isOCIForm(_ command: String, _ rest: ArraySlice<String>, globals: OCIGlobals?) -> Bool {
    // `scratch create --help` and the like: ArgumentParser's help.
    if globals == nil && rest.contains(where: { $0 == "--help" || $0 == "-h" }) { return false }
    if globals != nil || ociOnlyCommands.contains(command) { return true }
    switch command {
    case "run":
        // A bundle run names its bundle: `run --bundle DIR ID` or `run -b DIR ID`.
        return rest.contains { $0 == "--bundle" || $0 == "-b" || $0.hasPrefix("--bundle=") }
    case "kill", "exec", "ps":
        // The id of a container made by `create` (scratch's own live in /run/scratch).
        // (`scratch ps -a` is scratch's own: all its containers, stopped ones too.)
        let flags: Set<String> =
            switch command {
            case "exec": ["-p", "--process", "-d", "--detach", "--pid-file"]
            case "kill": ["--all", "-a"]
            default: ["--format", "-f"]
            }
        if rest.contains(where: { flags.contains(splitFlag($0).0) }) { return true }
        guard let id = rest.first(where: { !$0.hasPrefix("-") }), ociIDProblem(id) == nil else { return false }
        return fileKind(defaultOCIRoot() + "/" + id + "/state") != nil
    default:
        return false
    }
}

/// Runs one OCI command and exits.
public func runOCICommand(
    _ command: String, _ arguments: ArraySlice<String>, globals: OCIGlobals, steps: Steps, stage: Stage, programName: String
) -> Never {
    do {
        let code = try ociCommand(command, arguments, globals: globals, steps: steps, stage: stage, programName: programName)
        exit(code)
    } catch {
        let message = "\(programName): \(error)"
        writeToStandardError(message + "\n")
        if let log = globals.log { appendLog(log, message: message, json: globals.logJSON) }
        exit(error.exitCode == ExitCode.runtimeFailed ? 1 : error.exitCode)
    }
}

/// runc's log: one line per message, JSON when asked (containerd reads the last error
/// from it).
func appendLog(_ path: String, message: String, json: Bool) {
    let line =
        json
        ? "{\"level\":\"error\",\"msg\":\(jsonString(message)),\"time\":\(jsonString(ociTimestamp()))}\n"
        : "time=\"\(ociTimestamp())\" level=error msg=\(jsonString(message))\n"
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    defer { close(fd) }
    try? writeAll(fd, Array(line.utf8))
}

func ociTimestamp() -> String {
    var seconds = time(nil)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}

/// The words of one command: flags (with the names that take a value) and positionals.
struct OCIArguments {
    var flags: [String: String] = [:]
    var switches: Set<String> = []
    var repeated: [String: [String]] = [:]
    var positionals: [String] = []

    init(
        _ words: ArraySlice<String>, values: Set<String>, switches known: Set<String>, repeatable: Set<String> = [],
        stopAtFirstPositional: Bool = false
    )
        throws(ContainerError)
    {
        var rest = words
        while let word = rest.popFirst() {
            if word == "--" {
                positionals += rest
                break
            }
            if word.hasPrefix("-") && word.count > 1 && !(stopAtFirstPositional && !positionals.isEmpty) {
                let (name, inline) = splitFlag(word)
                if values.contains(name) || repeatable.contains(name) {
                    guard let value = inline ?? rest.popFirst() else { throw usage("\(name) needs a value") }
                    if repeatable.contains(name) { repeated[name, default: []].append(value) } else { flags[name] = value }
                } else if known.contains(name) {
                    switches.insert(name)
                } else {
                    throw usage("unknown flag \(name)")
                }
            } else {
                positionals.append(word)
            }
        }
    }

    func value(_ names: String...) -> String? { names.lazy.compactMap { flags[$0] }.first }
    func has(_ names: String...) -> Bool { names.contains { switches.contains($0) } }

    func id(_ command: String) throws(ContainerError) -> String {
        guard let id = positionals.first else { throw usage("\(command) needs the container's id: scratch \(command) ID") }
        return id
    }
}

func ociCommand(
    _ command: String, _ words: ArraySlice<String>, globals: OCIGlobals, steps: Steps, stage: Stage, programName: String
) throws(ContainerError) -> Int32 {
    let root = globals.root
    switch command {
    case "create", "run":
        let arguments = try OCIArguments(
            words, values: ["--bundle", "-b", "--pid-file", "--console-socket", "--preserve-fds"],
            switches: ["--detach", "-d", "--no-pivot", "--no-new-keyring", "--no-subreaper", "--keep"])
        let id = try arguments.id(command)
        if arguments.positionals.count > 1 { throw usage("\(command) takes one id; the command to run is the config's process.args") }
        if let fds = arguments.value("--preserve-fds"), fds != "0" {
            throw usage("--preserve-fds \(fds): passing descriptors into the container is not supported by scratch yet")
        }
        var spec = try loadBundle(
            arguments.value("--bundle", "-b") ?? ".", id: id, root: root, consoleSocket: arguments.value("--console-socket"), stage: stage,
            programName: programName)
        spec.oci?.pidFile = arguments.value("--pid-file").map(absoluteBundlePath)
        let pid = try createContainer(spec, stage: stage, steps: steps)
        if command == "create" { return 0 }
        try startOCIContainer(id, root: root, steps: steps)
        if arguments.has("--detach", "-d") { return 0 }
        // `run` in the foreground: we are still its parent. Wait, then delete.
        let status = waitForwarding(pid)
        try? deleteOCIContainer(id, root: root, force: true, steps: steps)
        return status
    case "start":
        let arguments = try OCIArguments(words, values: [], switches: [])
        try startOCIContainer(try arguments.id(command), root: root, steps: steps)
        return 0
    case "state":
        let arguments = try OCIArguments(words, values: [], switches: [])
        let record = try ociRecord(try arguments.id(command), root: root)
        print(ociStateJSON(record, status: try ociStatus(record, steps: steps)), terminator: "")
        return 0
    case "kill":
        let arguments = try OCIArguments(words, values: [], switches: ["--all", "-a"])
        let id = try arguments.id(command)
        // runc's default is SIGTERM (scratch's own `kill` sends SIGKILL, as Docker's).
        let name = arguments.positionals.count > 1 ? arguments.positionals[1] : "TERM"
        guard let signal = signalNumber(named: name) else {
            throw usage("\(name) is not a signal — give a name (TERM, SIGKILL) or a number")
        }
        try killOCIContainer(id, root: root, signal: signal, all: arguments.has("--all", "-a"), steps: steps)
        return 0
    case "delete":
        let arguments = try OCIArguments(words, values: [], switches: ["--force", "-f"])
        try deleteOCIContainer(try arguments.id(command), root: root, force: arguments.has("--force", "-f"), steps: steps)
        return 0
    case "ps":
        let arguments = try OCIArguments(words, values: ["--format", "-f"], switches: [])
        let pids = try ociProcesses(try arguments.id(command), root: root)
        if arguments.value("--format", "-f") == "json" {
            print("[" + pids.map(String.init).joined(separator: ",") + "]")
        } else {
            print("PID")
            for pid in pids { print(pid) }
        }
        return 0
    case "list":
        let arguments = try OCIArguments(words, values: ["--format", "-f"], switches: ["--quiet", "-q"])
        let records = ociRecords(root: root)
        if arguments.has("--quiet", "-q") {
            for record in records { print(record.id) }
        } else if arguments.value("--format", "-f") == "json" {
            var items: [String] = []
            for record in records {
                let status = try ociStatus(record, steps: steps)
                items.append(
                    "{\"ociVersion\":\"\(ociVersion)\",\"id\":\(jsonString(record.id)),\"pid\":\(status == .stopped ? 0 : record.container.pid ?? 0),\"status\":\"\(status.rawValue)\",\"bundle\":\(jsonString(record.bundle)),\"rootfs\":\(jsonString(record.container.rootfs)),\"created\":\"\(record.createdText)\",\"owner\":\"root\"}"
                )
            }
            print("[" + items.joined(separator: ",") + "]")
        } else {
            var rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
            for record in records {
                let status = try ociStatus(record, steps: steps)
                rows.append([
                    record.id, status == .stopped ? "0" : "\(record.container.pid ?? 0)", status.rawValue, record.bundle,
                    record.createdText, getuid() == 0 ? "root" : "\(getuid())",
                ])
            }
            let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                var line = ""
                for (column, cell) in row.enumerated() {
                    line += column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count + 3)
                }
                print(line)
            }
        }
        return 0
    case "exec":
        return try ociExec(words, root: root, steps: steps, programName: programName)
    case "features":
        print(ociFeaturesJSON, terminator: "")
        return 0
    default:
        throw usage("unknown command \(command)")
    }
}

/// `run` in the foreground: wait for the container's first process (our child),
/// passing on the signals a user sends the runtime, and exit as it did.
func waitForwarding(_ pid: pid_t) -> Int32 {
    let signals = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]
    var set = sigset_t()
    sigemptyset(&set)
    for signal in signals { sigaddset(&set, signal) }
    while true {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { return WaitStatus(raw: status).dockerExitCode }
        if result == -1 && errno != EINTR { return ExitCode.runtimeFailed }
        var timeout = timespec(tv_sec: 0, tv_nsec: 20_000_000)
        let signal = sigtimedwait(&set, nil, &timeout)
        if signal > 0 { _ = kill(pid, signal) }
    }
}

extension WaitStatus {
    var dockerExitCode: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let signal): return ExitCode.signalBase + signal
        }
    }
}

/// `features` (runtime-spec's features.md): what this runtime understands.
let ociFeaturesJSON = """
    {
      "ociVersionMin": "1.0.0",
      "ociVersionMax": "\(ociVersion)",
      "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
      "potentiallyUnsafeConfigAnnotations": [],
      "mountOptions": [\(ociMountOptions.map { "\"\($0)\"" }.joined(separator: ", "))],
      "linux": {
        "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "uts"],
        "capabilities": [\(capabilityNamesJSON())],
        "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
        "seccomp": {"enabled": true},
        "apparmor": {"enabled": false},
        "selinux": {"enabled": false}
      },
      "annotations": {"org.opencontainers.runtime-spec.features": "scratch"}
    }

    """

func capabilityNamesJSON() -> String {
    (0..<64).compactMap { number -> String? in
        let name = capabilityName(number)
        return name.hasPrefix("CAP_") ? "\"\(name)\"" : nil
    }.joined(separator: ", ")
}

/// `exec`: a second process in a created or running container (Runtime/Exec.swift's
/// joining of its namespaces and cgroup), from the command line or a process.json.
func ociExec(_ words: ArraySlice<String>, root: String, steps: Steps, programName: String) throws(ContainerError) -> Int32 {
    let arguments = try OCIArguments(
        words, values: ["--process", "-p", "--pid-file", "--cwd", "--user", "-u", "--console-socket", "--preserve-fds"],
        switches: ["--detach", "-d", "--tty", "-t", "--no-new-privs"], repeatable: ["--env", "-e", "--additional-gids", "-g", "--cap", "-c"],
        stopAtFirstPositional: true)
    let id = try arguments.id("exec")
    let record = try ociRecord(id, root: root)
    let status = try ociStatus(record, steps: steps)
    guard status == .created || status == .running else {
        throw ContainerError(step: "exec in the container", reason: "cannot exec in a \(status.rawValue) container")
    }
    var state = record.container
    var command = Array(arguments.positionals.dropFirst())
    var terminal = arguments.has("--tty", "-t")
    if let path = arguments.value("--process", "-p") {
        let process = try loadProcessFile(path)
        command = process.args
        state.environment = process.env
        state.workingDirectory = process.cwd
        state.user = process.user
        terminal = terminal || process.terminal
    }
    // A terminal as `create` gives one: a pty of the container's, its master sent over
    // the console socket; neither without the other, as runc.
    let socketPath = arguments.value("--console-socket")
    if terminal != (socketPath != nil) {
        throw ContainerError(
            step: "check the request",
            reason: terminal
                ? "--tty needs --console-socket PATH, where the pty's master is sent" : "--console-socket without --tty: no terminal to send")
    }
    let consoleSocket = try socketPath.map { path throws(ContainerError) in try connectConsoleSocket(path) }
    state.environment += arguments.repeated["--env", default: []] + arguments.repeated["-e", default: []]
    if let cwd = arguments.value("--cwd") { state.workingDirectory = cwd }
    if let user = arguments.value("--user", "-u") { state.user = user }
    guard !command.isEmpty else { throw usage("exec needs a command: scratch exec ID CMD [ARG...], or -p process.json") }
    // Recorded only for a container with no mount namespace of its own (HostMounts.swift).
    let chrooted = record.mountNamespace != nil
    if arguments.has("--detach", "-d") {
        // The pid file names the command itself, as runc's does: conmon and the shim
        // signal and reap that pid. The command's pid comes back over a pipe from the
        // process that forked it inside the container's PID namespace, and the pipe's
        // end of file once the command's execve is done (or a "!" if it failed).
        let report = try step("start the process") { try Pipe() }
        let child = try step("start the process") { try forkProcess() }
        if child == 0 {
            _ = setsid()
            closeDescriptor(report.readEnd.raw)
            exit(
                execInContainer(
                    state, command: command, programName: programName, consoleSocket: consoleSocket, chrooted: chrooted,
                    detachedReport: report.writeEnd.raw, stateDirectory: record.directory))
        }
        report.writeEnd.close()
        let said = (try? report.readEnd.readToEnd()) ?? []
        let status = try step("wait for the process to start") { try waitpid(child)?.status }
        let words = String(decoding: said, as: UTF8.self).split(separator: " ")
        guard case .exited(0)? = status, let first = words.first, let pid = pid_t(first), !words.contains("!") else {
            // What went wrong is on standard error already, in the process's own words.
            throw ContainerError(step: "start the process", reason: "it did not start")
        }
        if let pidFile = arguments.value("--pid-file") {
            try step("write the pid file") { try writeFile(pidFile, Array("\(pid)".utf8), mode: 0o644) }
        }
        return 0
    }
    return execInContainer(
        state, command: command, programName: programName, consoleSocket: consoleSocket, chrooted: chrooted, stateDirectory: record.directory)
}
