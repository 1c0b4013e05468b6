import ArgumentParser
import RunOptions
import Runtime
import Testing

/// scratch's fast path reads `run`'s flags by hand; ArgumentParser reads everything
/// else. The two must never disagree: every command line the hand reader accepts must
/// come out of ArgumentParser the same, and the plain ones must take the fast path.
@Suite struct RunOptionsTests {
    /// Command lines as scripts and people write them.
    static let plain: [[String]] = [
        ["--", "true"],
        ["--", "sh", "-c", "echo --memory 5m"],
        ["--rootfs", "/tmp/r", "--memory", "64m", "--pids-limit", "64", "--", "/bin/true"],
        ["-m", "32m", "--cpus", "0.5", "--", "probe", "alloc", "16"],
        ["--hostname", "box", "--init", "--read-only", "--", "sh", "-c", "hostname"],
        ["--unsafe-chroot", "--rootfs", "r", "--", "/bin/probe", "chroot-escape"],
        ["--memory", "-5m", "--", "true"],
        ["--pids-limit", "0", "--", "true"],
        ["--cpus", "abc", "--", "true"],
        ["--init", "--", "--", "x"],
        ["--", "--init"],
        ["--", ""],
        ["--"],
        // Docker's reading: the first word that is not a flag starts the command.
        ["sh", "-c", "echo hi"],
        ["true"],
        ["--hostname", "box", "hostname", "--init"],
        ["--init", "sh", "-c", "exit 3", "--", "--memory", "1"],
        ["-m", "64m", "--pids-limit", "64", "echo", "--help"],
        ["echo", "--"],
        ["", "x"],
        // A hostname or a limit that looks like a flag reaches our checks.
        ["--hostname", "-x", "--", "true"],
        ["--hostname", "--init", "--", "true"],
        ["--hostname", "a\nb", "true"],
        ["--rm", "--", "true"],
        ["--rm", "--init", "sh"],
        // IMAGE -- COMMAND; after a leading "--" everything is the command.
        ["--rm", "test:four", "--", "ls", "/"],
        ["test:four", "--"],
        ["--", "test:four", "--", "ls"],
        // Chapter 7: --privileged is plain; the others are left to ArgumentParser.
        ["--privileged", "--rm", "--", "true"],
        ["--privileged", "sh"],
        // Chapter 8: --userns is plain too.
        ["--userns", "--rm", "--", "id"],
        ["--userns-map", "single", "--rm", "--", "id"],
    ]

    /// Command lines the hand reader leaves to ArgumentParser.
    static let unusual: [[String]] = [
        [],
        ["--help"],
        ["--memory=64m", "--", "true"],
        ["--memory"],
        ["--hostname"],
        ["--rootfs", "--", "true"],
        ["--init", "--init", "--", "true"],
        ["-m", "1m", "--memory", "2m", "--", "true"],
        ["--bogus", "--", "true"],
        ["--init"],
        ["--hostname", "box"],
        ["-", "x"],
        ["-x", "true"],
        ["--rm", "--rm", "true"],
        ["--cap-add", "SYS_ADMIN", "--", "true"],
        ["--security-opt", "seccomp=unconfined", "true"],
        ["--privileged", "--privileged", "true"],
    ]

    @Test("the hand reader agrees with ArgumentParser", arguments: plain)
    func agrees(_ arguments: [String]) throws {
        let fast = try #require(RunRequest(plainArguments: arguments), "\(arguments) should take the fast path")
        let parsed = try RunOptions.parse(arguments).request
        #expect(fast == parsed, "\(arguments): by hand \(fast), ArgumentParser \(parsed)")
    }

    @Test("a command needs no --: the first plain word starts it, and the rest is its own")
    func commandWithoutDashes() throws {
        let request = try #require(RunRequest(plainArguments: ["--init", "sh", "-c", "echo hi", "--memory", "5m"]))
        #expect(request.command == ["sh", "-c", "echo hi", "--memory", "5m"])
        #expect(request.useInit && request.memory == nil)
        #expect(try RunOptions.parse(["sh", "-c", "echo hi"]).request.command == ["sh", "-c", "echo hi"])
        #expect(try RunOptions.parse(["--", "--", "x"]).request.command == ["--", "x"])
    }

    @Test(
        "an unknown flag is still an error, not a command called --bogus",
        arguments: [["--bogus", "--", "true"], ["-x", "true"], ["--device", "/dev/sda", "sh"]])
    func unknownFlags(_ arguments: [String]) {
        #expect(RunRequest(plainArguments: arguments) == nil)
        let error = #expect(throws: (any Error).self) { try RunOptions.parse(arguments) }
        let message = error.map { RunOptions.message(for: $0) } ?? ""
        #expect(message.contains("Unknown option '\(arguments[0])'"), "\(message)")
    }

    @Test("--hostname -x reaches the hostname check, which says what is wrong")
    func hostnameThatLooksLikeAFlag() throws {
        let request = try RunOptions.parse(["--hostname", "-x", "--", "true"]).request
        #expect(request.hostname == "-x")
        let error = #expect(throws: ContainerError.self) { try request.spec(stage: .complete, programName: "scratch") }
        #expect(error?.reason.contains("cannot start with '-'") == true, "\(String(describing: error))")
        #expect(error?.exitCode == 125)
    }

    @Test("anything unusual is left to ArgumentParser", arguments: unusual)
    func leftToArgumentParser(_ arguments: [String]) {
        #expect(RunRequest(plainArguments: arguments) == nil, "\(arguments) should go to ArgumentParser")
    }
}

/// `workbook run N [flags] -- command`: a positional argument before the flags (the
/// chapter), and flags of the workbook's own among them, must not turn the flags into
/// the command.
@Suite struct RunOptionsAfterAPositionalTests {
    struct WorkbookRun: ParsableCommand {
        @Argument var chapter: Int
        @Flag var reference = false
        @OptionGroup var options: LearnerRunOptions
    }

    @Test func flagsAfterAPositionalAreFlags() throws {
        let parsed = try WorkbookRun.parse(["1", "--hostname", "box", "--reference", "--init", "-m", "64m", "--", "hostname", "--init"])
        #expect(parsed.chapter == 1 && parsed.reference)
        #expect(parsed.options.request.hostname == "box" && parsed.options.request.useInit)
        #expect(parsed.options.request.memory == "64m")
        #expect(parsed.options.request.command == ["hostname", "--init"])
        let plain = try WorkbookRun.parse(["1", "--", "sh", "-c", "echo hi"])
        #expect(plain.options.request.command == ["sh", "-c", "echo hi"])
        #expect(throws: (any Error).self) { try WorkbookRun.parse(["1", "--bogus", "--", "true"]) }
        #expect(throws: (any Error).self) { try WorkbookRun.parse(["1", "--hostname"]) }
    }

    /// The command lines the checks start containers with, and a few more.
    static let learnerLines: [[String]] = [
        ["--rootfs", "/r", "--", "sh", "-c", "echo $$"],
        ["--rootfs", "/r", "--init", "--", "sh", "-c", "exit 5"],
        ["--rootfs", "/r", "--memory", "32m", "--pids-limit", "20", "--cpus", "0.2", "--", "true"],
        ["--rm", "--", "test:four", "--", "ls", "/"],
        ["--", "test:four", "--"],
        ["--", "a", "b"],
        ["--hostname", "box", "--", "hostname"],
    ]

    @Test("workbook run's hand reader agrees with ArgumentParser", arguments: learnerLines)
    func learnerReaderAgrees(_ arguments: [String]) throws {
        let fast = try #require(RunRequest(plainLearnerArguments: arguments), "\(arguments) should take the fast path")
        let parsed = try WorkbookRun.parse(["2"] + arguments).options.request
        #expect(fast == parsed, "\(arguments): by hand \(fast), ArgumentParser \(parsed)")
    }

    @Test(
        "workbook run's hand reader leaves to ArgumentParser a command without --, or starting with a dash",
        arguments: [
            ["--", "--", "x"], ["--", "-x"], ["--help"], ["--bogus", "--", "true"], ["--rm", "test:four", "--", "ls"], ["sh", "-c", "x"],
            ["--hostname", "--", "true"],
        ])
    func learnerReaderLeaves(_ arguments: [String]) {
        #expect(RunRequest(plainLearnerArguments: arguments) == nil)
    }
}
