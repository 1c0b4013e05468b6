import ArgumentParser
import Glibc
import RunOptions
import Runtime
import Syscalls

// scratch: the finished runtime, a learner's work done right. Its start is the same
// story (Runtime/Parent.swift, Runtime/Child.swift) with every chapter in.

struct Scratch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scratch",
        abstract: "A small, real container runtime, built chapter by chapter.",
        discussion: """
            Exit codes follow Docker's: the command's own status; 128+N when it died \
            of signal N; 125 when scratch itself failed; 126 when the command cannot \
            be executed; 127 when it is not found.
            """,
        subcommands: [Run.self, Ps.self, Exec.self, Kill.self, Gc.self, RootfsCommand.self]
    )
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a new container.",
        usage: "scratch run [OPTIONS] -- COMMAND [ARG...]",
        discussion: """
            Examples:
              scratch run -- sh -c 'hostname; ps'
              scratch run --hostname box -- hostname
              scratch run --init -- sh -c 'sleep 1 & exec sleep 2'
            """
    )

    @OptionGroup var options: RunOptions

    mutating func run() throws {
        runAndExit(options.request)
    }
}

/// `scratch run`: the container's whole life, then exit with its status.
func runAndExit(_ request: RunRequest) -> Never {
    do {
        try requireRoot("scratch")
        // Before anything is made on the host (the default rootfs, on a first run): an
        // interrupt from here on waits for the wait loop, which cleans up.
        try takeOverSignals()
        let spec = try request.spec(stage: .complete, programName: "scratch")
        Glibc.exit(runContainer(spec, stage: .complete))
    } catch {
        writeToStandardErrorLine("scratch: \(error)")
        Glibc.exit((error as? ContainerError)?.exitCode ?? ExitCode.runtimeFailed)
    }
}

struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List running containers (from the state directory, /run/scratch).")

    @Flag(name: .shortAndLong, help: "Print container ids only.") var quiet = false

    func run() {
        let running = recordedContainers().filter(\.alive).compactMap(\.state)
        if quiet {
            for state in running { print(state.id) }
            return
        }
        let now = secondsSinceEpoch()
        var rows = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]]
        for state in running {
            let command = "\"" + String(state.command.joined(separator: " ").prefix(20)) + "\""
            let image = state.rootfs == defaultRootfsPath() ? "busybox" : state.rootfs
            let age = describeDuration(now - state.created)
            rows.append([state.id, image, command, age + " ago", "Up " + age, "", state.hostname])
        }
        printTable(rows)
    }
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command inside a running container.",
        usage: "scratch exec ID -- COMMAND [ARG...]")

    @Argument(help: "The container's id, or the start of it (`scratch ps`).") var id: String
    @Argument(parsing: .captureForPassthrough, help: "The command to run and its arguments.") var command: [String] = []

    func run() {
        exitOnError {
            try requireRoot("scratch exec")
            let state = try runningContainer(id)
            let arguments = command.first == "--" ? Array(command.dropFirst()) : command
            Glibc.exit(execInContainer(state, command: arguments, programName: "scratch"))
        }
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a signal to a running container's first process (SIGKILL by default, as Docker).")

    @Argument(help: "The container's id, or the start of it.") var id: String
    @Argument(help: "The signal: a name (TERM, SIGTERM) or a number.") var signal = "KILL"

    func run() {
        exitOnError {
            try requireRoot("scratch kill")
            guard let number = signalNumber(named: signal) else {
                throw ContainerError(step: "check the request", reason: "\(signal) is not a signal — give a name such as TERM or KILL, or a number")
            }
            let state = try runningContainer(id)
            guard let pid = state.pid else {
                throw ContainerError(step: "find the container", reason: "\(state.id) has no process yet: it is still starting")
            }
            try sendSignal(number, to: pid)
        }
    }
}

struct Gc: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove what runtimes that died left behind: state, cgroups, half-built rootfses.")

    func run() {
        exitOnError { try requireRoot("scratch gc") }
        let removed = collectGarbage()
        for path in removed { print("removed \(path)") }
        if removed.isEmpty { print("nothing to remove") }
    }
}

/// Runs `body`; an error is printed as scratch's and ends the program with 125.
func exitOnError(_ body: () throws -> Void) {
    do {
        try body()
    } catch {
        writeToStandardErrorLine("scratch: \(error)")
        Glibc.exit(ExitCode.runtimeFailed)
    }
}

/// "5 seconds", "3 minutes", as `docker ps` says it.
func describeDuration(_ seconds: Int) -> String {
    switch seconds {
    case ..<60: return "\(max(seconds, 0)) second\(seconds == 1 ? "" : "s")"
    case ..<3600: return "\(seconds / 60) minute\(seconds / 60 == 1 ? "" : "s")"
    case ..<86400: return "\(seconds / 3600) hour\(seconds / 3600 == 1 ? "" : "s")"
    default: return "\(seconds / 86400) day\(seconds / 86400 == 1 ? "" : "s")"
    }
}

/// Columns padded to their widest cell, three spaces apart.
func printTable(_ rows: [[String]]) {
    guard let header = rows.first else { return }
    let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
        let cells = row.indices.map { $0 == row.count - 1 ? row[$0] : row[$0].padding(to: widths[$0]) }
        var line = cells.joined(separator: "   ")
        while line.last == " " { line.removeLast() }
        print(line)
    }
}

extension String {
    func padding(to width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}

struct RootfsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rootfs",
        abstract: "Build or locate the default busybox rootfs.",
        subcommands: [Build.self, Path.self]
    )

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a busybox rootfs from Debian's busybox-static, offline.")

        @Argument(help: "Where to build it (default: the cache directory that `scratch run` uses).")
        var directory: String?

        func run() throws {
            do {
                if let directory {
                    try buildBusyboxRootfs(at: directory)
                    print(directory)
                } else {
                    print(try ensureDefaultRootfs(announceAs: nil))
                }
            } catch {
                writeToStandardErrorLine("scratch: \(error)")
                Glibc.exit(ExitCode.runtimeFailed)
            }
        }
    }

    struct Path: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print where the default rootfs lives.")
        func run() { print(defaultRootfsPath()) }
    }
}

func writeToStandardErrorLine(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { buffer in _ = write(2, buffer.baseAddress, buffer.count) }
}

// The fast path: a plain `scratch run` command line is read by hand, and ArgumentParser
// (about 3 ms of reflection in a release build) is not started at all. Everything
// else — other subcommands, --help, errors — goes through ArgumentParser.
let arguments = CommandLine.arguments.dropFirst()
if arguments.first == "run", let request = RunRequest(plainArguments: arguments.dropFirst()) {
    runAndExit(request)
}
var command = parseOrExit(Scratch.self)
do {
    try command.run()
} catch {
    Scratch.exit(withError: error)
}
