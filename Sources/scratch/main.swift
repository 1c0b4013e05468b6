import ArgumentParser
import Glibc
import RunOptions
import Runtime

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
        subcommands: [Run.self, RootfsCommand.self]
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
        let spec = try request.spec(stage: .complete, programName: "scratch")
        Glibc.exit(runContainer(spec, stage: .complete))
    } catch {
        writeToStandardErrorLine("scratch: \(error)")
        Glibc.exit((error as? ContainerError)?.exitCode ?? ExitCode.runtimeFailed)
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
