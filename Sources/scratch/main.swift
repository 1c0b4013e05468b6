import ArgumentParser
import Glibc
import RunOptions
import Runtime
import RuntimeConfig
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

            scratch is also an OCI runtime, driven as runc is (chapter 10): \
            scratch [--root DIR] [--log FILE] [--log-format text|json] create|start|state|kill|delete|list|features|ps|exec ... \
            (state root /run/scratch-oci; --systemd-cgroup is refused). `run`, `exec`, `kill` \
            and `ps` have both forms: `scratch run --bundle DIR ID` (or -b, or any global flag \
            before `run`) runs the bundle DIR as container ID; without --bundle, `scratch run` \
            runs an image or a rootfs. `exec`, `kill` and `ps ID` act on a bundle's container \
            when ID names one in the OCI state root (or with a global flag, or an OCI-only \
            flag: exec -p/-d/--pid-file, kill --all, ps --format).
            """,
        subcommands: [
            Run.self, Ps.self, Exec.self, Kill.self, Rm.self, Gc.self, SeccompProfileCommand.self, CommitHelp.self, ImageHelp.self,
            VolumeCommand.self, RootfsCommand.self, Spec.self, OCIHelp.Create.self, OCIHelp.Start.self, OCIHelp.State.self,
            OCIHelp.Delete.self, OCIHelp.List.self, OCIHelp.Features.self,
        ]
    )
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a new container.",
        usage: "scratch run [OPTIONS] [IMAGE --] COMMAND [ARG...]",
        discussion: """
            Examples:
              scratch run -- sh -c 'hostname; ps'
              scratch run --hostname box -- hostname
              scratch run --init -- sh -c 'sleep 1 & exec sleep 2'
              scratch run --rm -- cat /etc/os-release
              scratch run --rm myimage:1 -- sh      (after `scratch image import`)
              scratch run --rm -e GREETING=hi -u nobody -w /tmp -- sh -c 'echo $GREETING; id; pwd'
              scratch spec && scratch rootfs build rootfs && scratch run --config config.json
              scratch run --rm -v /srv/site:/site:ro -v cache:/cache --tmpfs /run -- sh

            Without --rootfs, the container runs on the busybox image: its layer below,
            read-only and shared, and a layer of the container's own above (overlayfs).
            Its writes go to its own layer, so no run changes what the next one sees.
            Without --rm that layer stays after the container ends (`scratch ps -a`)
            until `scratch rm ID`. --rootfs DIR uses DIR as it is, as runc does: no
            overlay, and the container's writes stay in DIR.

            `scratch run --bundle DIR ID` (or -b DIR) is the OCI form instead: it runs
            the bundle DIR's config.json as container ID, as `runc run` does (-d to
            detach). Without --bundle, run is always this image or rootfs form.

            -v HOST:CTR binds a host path (it must exist), -v NAME:CTR a named volume
            (`scratch volume ls`), --tmpfs CTR a fresh tmpfs; `:ro` makes one
            read-only. Targets are resolved inside the container's root.
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
        // Chapter 8: no root needed — a caller who is not root runs rootless, in a
        // user namespace of their own (UserNamespace.swift).
        // Before anything is made on the host (the default rootfs, on a first run): an
        // interrupt from here on waits for the wait loop, which cleans up.
        try takeOverSignals()
        // --config: the file underneath, the flags over it; --security-opt
        // seccomp=FILE: the profile read (both RuntimeConfig; neither reads JSON
        // when no file is named).
        let spec = try resolvingSecurityFiles(applyingConfigFile(to: request)).spec(stage: .complete, programName: "scratch")
        Glibc.exit(runContainer(spec, stage: .complete))
    } catch {
        writeToStandardErrorLine("scratch: \(error)")
        Glibc.exit((error as? ContainerError)?.exitCode ?? ExitCode.runtimeFailed)
    }
}

struct Spec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a starting OCI config.json for `scratch run --config` (as `runc spec` does).",
        discussion: """
            The config runs busybox's sh on a read-only rootfs beside it, with a hostname and \
            memory, pids and cpu limits. Make the rootfs with `scratch rootfs build rootfs`, \
            then `scratch run --config config.json`; flags given to run override the file.
            """)

    @Option(name: .shortAndLong, help: ArgumentHelp("The directory to write config.json in.", valueName: "dir"))
    var bundle = "."

    func run() {
        exitOnError { _ = try writeSpec(bundle: bundle) }
    }
}

struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List running containers (from the state directory, /run/scratch).")

    @Flag(name: .shortAndLong, help: "Print container ids only.") var quiet = false
    @Flag(name: .shortAndLong, help: "Show stopped containers too (kept because they ran without --rm).") var all = false

    func run() {
        let listed = (recordedContainers().filter(\.alive) + (all ? stoppedContainers() : [])).compactMap(\.state)
        if quiet {
            for state in listed { print(state.id) }
            return
        }
        let now = secondsSinceEpoch()
        var rows = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]]
        for state in listed {
            let command = "\"" + String(state.command.joined(separator: " ").prefix(20)) + "\""
            let image = state.image ?? (state.rootfs == defaultRootfsPath() ? "busybox" : state.rootfs)
            let age = describeDuration(now - state.created)
            let status = state.exitCode.map { "Exited (\($0))" } ?? "Up " + age
            rows.append([state.id, image, command, age + " ago", status, "", state.hostname])
        }
        printTable(rows)
    }
}

struct Rm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove stopped containers and their layers (`scratch ps -a` lists them).")

    @Argument(help: "Container ids, or the start of them.") var ids: [String]

    func run() {
        // Chapter 8: no root needed — each user has a state directory of their own,
        // so a user finds only their own containers. (A rootless container's files of
        // subordinate ids are not yet removable this way: that needs the user
        // namespace, as `podman unshare` gives.)
        var failed = false
        for id in ids {
            do {
                print(try removeStoppedContainer(id))
            } catch {
                writeToStandardErrorLine("scratch: \(error)")
                failed = true
            }
        }
        if failed { Glibc.exit(ExitCode.runtimeFailed) }
    }
}

/// Listed for --help only: chapter 10's OCI commands are read by hand
/// (RuntimeConfig/OCICommands.swift) before this parser.
enum OCIHelp {
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "OCI: create [--bundle DIR] [--pid-file F] ID — make the container; it waits on its exec fifo for `start`.")
        @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    }
    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "OCI: start ID — let a created container run its process.")
        @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    }
    struct State: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "OCI: state ID — the container's state as JSON (creating, created, running, stopped).")
        @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    }
    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "OCI: delete [--force] ID — remove a stopped (or created) container; --force kills a running one first.")
        @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    }
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "OCI: list [--format table|json] [-q] — the containers in the state root.")
        @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    }
    struct Features: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "OCI: features — what this runtime supports, as JSON.")
        @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    }
}

/// Listed for --help only: `scratch image ...` runs scratch-image before this parser.
struct ImageHelp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract:
            "Import, export, list and remove images: image import FILE|DIR [NAME:TAG], image export NAME:TAG DIR|FILE.tar, image ls, image rm NAME:TAG."
    )
    @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

/// Listed for --help only: `scratch commit ...` runs scratch-image before this parser.
struct CommitHelp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commit", abstract: "Make a container's layer into a new image: commit ID NAME:TAG.")
    @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command inside a running container.",
        usage: "scratch exec ID -- COMMAND [ARG...]")

    @Argument(help: "The container's id, or the start of it (`scratch ps`).") var id: String
    @Argument(parsing: .captureForPassthrough, help: "The command to run and its arguments.") var command: [String] = []

    func run() {
        exitOnError {
            // Chapter 8: no root needed — a rootless container's user namespace is
            // joined first, and the caller, its owner, is root in it.
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
            // Chapter 8: no root needed — a user's state directory lists only
            // their own containers, and the kernel checks the signal anyway.
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

/// `scratch seccomp-profile`: the default seccomp profile in Docker's JSON format, as
/// it applies to a container with the capabilities the flags give (chapter 7) — what
/// `--security-opt seccomp=FILE` reads, and what crun is given in tools/bench/least-privilege.
struct SeccompProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seccomp-profile",
        abstract: "Print the default seccomp profile in Docker's JSON format (for the default capabilities, or as --cap-add/--cap-drop change them).")

    @Option(name: .customLong("cap-add"), help: ArgumentHelp("As for `run`.", valueName: "cap")) var capAdd: [String] = []
    @Option(name: .customLong("cap-drop"), help: ArgumentHelp("As for `run`.", valueName: "cap")) var capDrop: [String] = []

    func run() throws {
        let capabilities = try requestedCapabilities(adding: capAdd, dropping: capDrop)
        print(try seccompProfileJSON(defaultSeccompProfile(), capabilities: capabilities), terminator: "")
    }
}

struct Gc: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove what runtimes that died left behind: state, cgroups, container layers, half-built rootfses and layers.")

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

/// Chapter 6's named volumes (Runtime/Volumes.swift): `$SCRATCH_HOME/volumes/NAME`.
struct VolumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Create, list and remove named volumes (used as -v NAME:/path).",
        subcommands: [Create.self, Ls.self, Rm.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a named volume (a run makes one on first use, too).")
        @Argument(help: "The volume's name: letters, digits, '_', '.', '-'.") var name: String

        func run() {
            exitOnError {
                try requireRoot("scratch volume create")
                try createNamedVolume(name)
                print(name)
            }
        }
    }

    struct Ls: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List named volumes.")
        @Flag(name: .shortAndLong, help: "Print names only.") var quiet = false

        func run() {
            let names = namedVolumes()
            if quiet {
                for name in names { print(name) }
                return
            }
            printTable([["DRIVER", "VOLUME NAME"]] + names.map { ["local", $0] })
        }
    }

    struct Rm: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove named volumes and their content (refused while a container, running or stopped, uses one).")
        @Argument(help: "The volumes' names.") var names: [String]

        func run() {
            exitOnError { try requireRoot("scratch volume rm") }
            var failed = false
            for name in names {
                do {
                    try removeNamedVolume(name)
                    print(name)
                } catch {
                    writeToStandardErrorLine("scratch: \(error)")
                    failed = true
                }
            }
            if failed { Glibc.exit(ExitCode.runtimeFailed) }
        }
    }
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

        @Argument(help: "Where to build it (default: the cache directory, where the default busybox image is built too).")
        var directory: String?

        func run() throws {
            do {
                if let directory {
                    try buildBusyboxRootfs(at: directory)
                    print(directory)
                } else {
                    print(try ensureDefaultRootfs(announceAs: nil))
                    // And the default image `scratch run` uses from chapter 5 on, so a
                    // first run after this announces no build of its own.
                    _ = try ensureDefaultImage(announceAs: nil)
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
var arguments = CommandLine.arguments.dropFirst()
// Chapter 10: the OCI runtime's command line (runc's), read by hand before anything
// else: global flags (--root, --log, --log-format), then create, start, state, kill,
// delete, list, features, ps ID, exec, and run with a bundle (RuntimeConfig/OCICommands).
do {
    let globals = try ociGlobals(&arguments)
    if let command = arguments.first, isOCIForm(command, arguments.dropFirst(), globals: globals) {
        runOCICommand(
            command, arguments.dropFirst(), globals: globals ?? OCIGlobals(), steps: .reference, stage: .complete, programName: "scratch")
    }
    if globals != nil {
        throw ContainerError(
            step: "read the command line", reason: "\(arguments.first ?? "(no command)") is not an OCI runtime command — `scratch --help` lists them")
    }
} catch {
    writeToStandardErrorLine("scratch: \(error)")
    Glibc.exit(ExitCode.runtimeFailed)
}
if arguments.first == "run", let request = RunRequest(plainArguments: arguments.dropFirst()) {
    runAndExit(request)
}
// `scratch image ...` and `scratch commit ...` are scratch-image, beside this executable
// (as git runs git-foo): images need libarchive, libcrypto and Foundation, and the
// runtime does not carry them. `commit` is passed on as the helper's first word.
if arguments.first == "image" || arguments.first == "commit" {
    let helper = parentDirectory(of: (try? symlinkTarget("/proc/self/exe")) ?? "") + "/scratch-image"
    let passed = arguments.first == "image" ? Array(arguments.dropFirst()) : Array(arguments)
    var argv: [UnsafeMutablePointer<CChar>?] = ([helper] + passed).map { strdup($0) } + [nil]
    execv(helper, &argv)
    writeToStandardErrorLine(
        "scratch: \(arguments.first ?? "image"): cannot run \(helper): \(String(cString: strerror(errno))) — build it: swift build --product scratch-image"
    )
    Glibc.exit(ExitCode.runtimeFailed)
}
var command = parseOrExit(Scratch.self)
do {
    try command.run()
} catch {
    Scratch.exit(withError: error)
}
