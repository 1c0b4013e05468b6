import RunOptions
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
    ]

    /// Command lines the hand reader leaves to ArgumentParser.
    static let unusual: [[String]] = [
        [],
        ["--help"],
        ["--memory=64m", "--", "true"],
        ["--memory"],
        ["--hostname", "--init", "--", "true"],
        ["--init", "--init", "--", "true"],
        ["-m", "1m", "--memory", "2m", "--", "true"],
        ["--bogus", "--", "true"],
        ["--init"],
        ["true"],
        ["--hostname", "box", "hostname", "--init"],
    ]

    @Test("the hand reader agrees with ArgumentParser", arguments: plain)
    func agrees(_ arguments: [String]) throws {
        let fast = try #require(RunRequest(plainArguments: arguments), "\(arguments) should take the fast path")
        let parsed = try RunOptions.parse(arguments).request
        #expect(fast == parsed, "\(arguments): by hand \(fast), ArgumentParser \(parsed)")
    }

    @Test("anything unusual is left to ArgumentParser", arguments: unusual)
    func leftToArgumentParser(_ arguments: [String]) {
        #expect(RunRequest(plainArguments: arguments) == nil, "\(arguments) should go to ArgumentParser")
    }
}
