import Foundation
import Testing
import Workbook

/// The snippet harness, proven on fixtures: the parser finds what the convention says,
/// the matcher accepts what it should and names the first line it cannot, and the runner
/// catches a wrong output, a hang, a failure, a leftover process and a mount left behind.
/// None of this needs root: without it the runner's namespace is a user namespace.
@Suite struct LessonSnippetMatchTests {
    // MARK: - Parser

    @Test func snippetsCarryTheirOutputAndTimeLimit() {
        let markdown = """
            # Chapter 9
            ```sh
            # timeout: 5
            echo one
            ```

            ```output
            one
            ```
            Text.
            ```sh
            echo two
            ```
            ```console
            $ not run
            ```
            """
        let parsed = LessonSnippets(markdown: markdown)
        #expect(parsed.problems.isEmpty)
        #expect(
            parsed.snippets == [
                LessonSnippet(code: "# timeout: 5\necho one", line: 2, timeout: 5, expectedOutput: "one"),
                LessonSnippet(code: "echo two", line: 11),
            ])
        #expect(parsed.snippets.map(\.timeLimit) == [5, LessonSnippet.defaultTimeLimit])
        #expect(Lesson.shellSnippets(in: markdown) == ["# timeout: 5\necho one", "echo two"])
    }

    @Test func anOutputBlockAfterProseIsAProblemNotAnExpectation() {
        let markdown = """
            ```sh
            echo one
            ```
            It prints:
            ```output
            one
            ```
            """
        let parsed = LessonSnippets(markdown: markdown)
        #expect(parsed.snippets.first?.expectedOutput == nil)
        #expect(parsed.problems.count == 1)
        #expect(parsed.problems.first?.contains("line 5") == true)
    }

    @Test func aBlockInAListLosesItsIndentation() {
        let markdown = """
            - Try:
              ```sh
              cat <<EOF
              indented
              EOF
              ```
              ```output
              indented
              ```
            """
        let snippet = LessonSnippets(markdown: markdown).snippets.first
        #expect(snippet?.code == "cat <<EOF\nindented\nEOF")
        #expect(snippet?.expectedOutput == "indented")
    }

    @Test func aBashBlockIsAProblem() {
        let parsed = LessonSnippets(markdown: "```bash\necho lost\n```\n")
        #expect(parsed.snippets.isEmpty)
        #expect(parsed.problems.first?.contains("```bash block is neither run") == true)
    }

    @Test func aMalformedTimeoutIsAProblem() {
        let parsed = LessonSnippets(markdown: "```sh\n# timeout: 5s\nsleep 1\n```\n")
        #expect(parsed.snippets.first?.timeout == nil)
        #expect(parsed.problems.first?.contains("# timeout: N") == true)
        #expect(LessonSnippets(markdown: "```sh\n#timeout:7\n```\n").snippets.first?.timeout == 7)
    }

    /// The chapters themselves, read without running anything: what the runs cannot see.
    @Test("chapters have snippets to run, and no output block or timeout line is lost")
    func theChaptersParse() {
        let chapters = ContainerTests.LessonSnippetTests.chapters
        #expect(chapters.reduce(0) { $0 + $1.snippets.snippets.count } >= 4)
        for chapter in chapters {
            for problem in chapter.snippets.problems { Issue.record("\(chapter.file), \(problem)") }
        }
    }

    // MARK: - Matcher

    @Test(arguments: [
        ("plain", "plain"),
        ("trailing spaces   ", "trailing spaces"),
        ("container <id> ran", "container 0123456789ab ran"),
        ("PID <n>, parent <n>", "PID 1, parent 0"),
        ("offset <n>", "offset -42"),
        ("<n>0", "100"),
        ("took <...> ms", "took 3.2 ms"),
        ("took <...>ms", "took ms"),
        ("<...>", ""),
        ("a <...> b <...> c", "a x b y b z c"),
    ])
    func linesThatMatch(pattern: String, line: String) {
        #expect(SnippetOutput.lineMatches(pattern, line), "\(pattern) should match \(line)")
    }

    @Test(arguments: [
        ("plain", "plain."),
        ("container <id> ran", "container 0123456789a ran"),
        ("container <id> ran", "container 0123456789abc ran"),
        ("container <id> ran", "container 0123456789xy ran"),
        ("PID <n>", "PID "),
        ("PID <n>", "PID x"),
        ("took <...> ms", "took 3.2 s"),
        ("  indented", "indented"),
    ])
    func linesThatDoNotMatch(pattern: String, line: String) {
        #expect(!SnippetOutput.lineMatches(pattern, line), "\(pattern) should not match \(line)")
    }

    @Test func ellipsisLinesStandForAnyNumberOfLines() {
        #expect(SnippetOutput.mismatch(expected: "a\n...\nz", actual: "a\nz\n") == nil)
        #expect(SnippetOutput.mismatch(expected: "a\n...\nz", actual: "a\nb\nc\nz\n") == nil)
        #expect(SnippetOutput.mismatch(expected: "...\nlast", actual: "x\nlast\ny\nlast") == nil)
        #expect(SnippetOutput.mismatch(expected: "...", actual: "") == nil)
        #expect(SnippetOutput.mismatch(expected: "a\n...", actual: "a\nb\nc") == nil)
        #expect(SnippetOutput.mismatch(expected: "a\n...\nz", actual: "a\nb\nc") != nil)
    }

    @Test func trailingBlankLinesAndSpacesAreIgnored() {
        #expect(SnippetOutput.mismatch(expected: "one\ntwo", actual: "one  \ntwo\n\n") == nil)
        #expect(SnippetOutput.mismatch(expected: "one\n\ntwo", actual: "one\ntwo\n") != nil)
    }

    @Test func theFirstDifferingLineIsNamed() {
        let differs = SnippetOutput.mismatch(expected: "PID <n>\nhostname: box\ndone", actual: "PID 7\nhostname: debian\ndone\n")
        #expect(differs == .init(expectedLine: 2, actualLine: 2, expected: "hostname: box", actual: "hostname: debian"))

        let ended = SnippetOutput.mismatch(expected: "one\ntwo", actual: "one\n")
        #expect(ended == .init(expectedLine: 2, actualLine: nil, expected: "two", actual: nil))
        #expect(ended?.description.contains("ended before expected line 2") == true)

        let longer = SnippetOutput.mismatch(expected: "one", actual: "one\nextra\n")
        #expect(longer == .init(expectedLine: nil, actualLine: 2, expected: nil, actual: "extra"))

        let afterEllipsis = SnippetOutput.mismatch(expected: "start\n...\nend", actual: "start\nmiddle\nfinish")
        #expect(afterEllipsis?.expected == "end")
    }

    // MARK: - Mount tables

    @Test func mountTablesCompareWhatAMountIsNotItsIds() {
        let before = """
            22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
            23 22 0:5 / /proc rw,nosuid - proc proc rw
            """
        // The same mounts with other ids and another peer group number: no change.
        let renumbered = """
            40 39 8:1 / / rw,relatime shared:7 - ext4 /dev/sda1 rw
            41 40 0:5 / /proc rw,nosuid - proc proc rw
            """
        #expect(MountTable.change(from: before, to: renumbered) == ([], []))
        let leaked = renumbered + "\n50 40 0:60 / /tmp/spot rw shared:8 - tmpfs lab rw\n"
        let change = MountTable.change(from: before, to: leaked)
        #expect(change.appeared == ["/tmp/spot (root /, tmpfs from lab, rw, rw, shared)"])
        #expect(change.vanished.isEmpty)
        // A propagation change of / is a change of the table too.
        let privatized = before.replacingOccurrences(of: " shared:1", with: "")
        #expect(MountTable.change(from: before, to: privatized).appeared == ["/ (root /, ext4 from /dev/sda1, rw,relatime, rw, private)"])
    }

    // MARK: - The runner, on fixture snippets

    static func run(_ code: String, expecting expected: String? = nil, root: SnippetRunner.Root = .privateRoot) throws -> (
        SnippetRunner.Outcome, [SnippetRunner.Problem], String
    ) {
        let snippet = LessonSnippets(markdown: "```sh\n\(code)\n```\n" + (expected.map { "```output\n\($0)\n```\n" } ?? "")).snippets[0]
        let outcome = try SnippetRunner.run(snippet.code, timeLimit: snippet.timeLimit, root: root)
        let problems = SnippetRunner.problems(of: snippet, in: outcome)
        return (outcome, problems, SnippetRunner.report("fixture (\(root.rawValue))", line: 1, snippet, outcome, problems))
    }

    @Test("a snippet runs as the convention says: root of the repository, PATH, SCRATCH_HOME, stdin, merged output")
    func theSnippetsWorld() throws {
        let code = """
            test -f Package.swift && test -d chapters
            test "$(command -v scratch)" = "\(Support.scratch)" && test "$(command -v workbook)" = "\(Support.workbook)"
            test -d "$SCRATCH_HOME" && test -z "$(ls -A "$SCRATCH_HOME")"
            cat    # stdin is /dev/null: no wait
            echo to-stdout; echo to-stderr >&2
            """
        for root in SnippetRunner.Root.allCases {
            let (_, problems, report) = try Self.run(code, expecting: "to-stdout\nto-stderr", root: root)
            #expect(problems.isEmpty, Comment(rawValue: report))
        }
    }

    @Test("a snippet starts with no signal ignored or blocked, as in a reader's terminal (glibc's own 32 and 33 too)")
    func signalsStartClean() throws {
        let (_, problems, report) = try Self.run(
            "grep -E '^Sig(Blk|Ign)' /proc/self/status", expecting: "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000")
        #expect(problems.isEmpty, Comment(rawValue: report))
    }

    @Test("bash -euo pipefail: a failing command in the middle fails the snippet")
    func aFailureInTheMiddleFails() throws {
        let (outcome, problems, _) = try Self.run("false | cat\necho not reached")
        #expect(problems == [.failed(status: 1)])
        #expect(outcome.output.isEmpty)
    }

    @Test("a wrong expected output is caught, and the report shows both sides and the line")
    func aWrongOutputIsCaught() throws {
        let (_, problems, report) = try Self.run("echo 'PID 1'; echo 'hostname: debian'", expecting: "PID <n>\nhostname: box")
        #expect(problems == [.outputDiffers(.init(expectedLine: 2, actualLine: 2, expected: "hostname: box", actual: "hostname: debian"))])
        for part in [
            "--- snippet\necho 'PID 1'", "--- expected output\nPID <n>\nhostname: box", "PID 1\nhostname: debian", "expected: hostname: box",
        ] {
            #expect(report.contains(part), "the report lacks \(part):\n\(report)")
        }
    }

    @Test("a snippet that hangs is killed at its time limit, with everything it started")
    func aHangIsKilled() throws {
        let marker = "snippet-harness-hang-\(UUID().uuidString)"
        let started = Date()
        let (outcome, problems, _) = try Self.run("# timeout: 2\nsleep 600 &\nbash -c 'exec -a \(marker) sleep 600'\nwait")
        let took = Date().timeIntervalSince(started)
        #expect(problems == [.timedOut(seconds: 2)])
        #expect(outcome.timedOut && took < 6, "took \(took) s")
        let left = Support.run(["pgrep", "-f", marker])
        #expect(left.stdout.isEmpty, "still running: \(left.stdout)")
    }

    @Test(
        "a hang inside a container is killed at the time limit, runtime and container",
        .enabled(if: Support.isRoot, Support.rootReason))
    func aHangInAContainerIsKilled() throws {
        let seconds = Int.random(in: 900_000...999_999)  // a command line no one else runs
        let started = Date()
        let (outcome, problems, report) = try Self.run("# timeout: 2\nscratch run -- sleep \(seconds)")
        #expect(problems == [.timedOut(seconds: 2)], Comment(rawValue: report))
        #expect(outcome.timedOut && Date().timeIntervalSince(started) < 8)
        let left = Support.run(["pgrep", "-f", "sleep \(seconds)"])
        #expect(left.stdout.isEmpty, "still running: \(left.stdout)")
    }

    @Test("a snippet that leaves a process running is caught, and the process killed")
    func aLeftoverProcessIsCaught() throws {
        let marker = "snippet-harness-leftover-\(UUID().uuidString)"
        let (outcome, problems, _) = try Self.run("(exec -a \(marker) sleep 600) &\necho started")
        #expect(problems == [.leftProcesses])
        #expect(outcome.leftovers.count == 1 && outcome.leftovers.first?.contains(marker) == true, "\(outcome.leftovers)")
        #expect(Support.run(["pgrep", "-f", marker]).stdout.isEmpty)
    }

    @Test("a mount left in the snippet's namespace is caught, on either kind of /")
    func aLeftMountIsCaught() throws {
        let spot = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: spot) }
        for root in SnippetRunner.Root.allCases {
            let (outcome, problems, report) = try Self.run("mount -t tmpfs snippet-harness-leak '\(spot)'", root: root)
            #expect(problems == [.mountsChanged], Comment(rawValue: report))
            #expect(outcome.mountsAppeared.count == 1 && outcome.mountsAppeared.first?.hasPrefix("\(spot) ") == true, "\(outcome.mountsAppeared)")
            #expect(report.contains("--- mounts it left\n\(spot) "), Comment(rawValue: report))
        }
        // And it never reached this namespace.
        #expect(!((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").contains(" \(spot) "))
    }

    @Test("a lab that mounts in a namespace sharing the host's peer groups passes on a private / and is caught on a shared /")
    func aPropagationLeakIsCaughtOnASharedRoot() throws {
        let spot = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: spot) }
        // Chapter 3's old pitfall lab in a nutshell: `--propagation shared` keeps the peer
        // groups when `/` is shared already, so the "container"'s mount reaches the host.
        let code = "unshare --mount --propagation shared sh -c 'mount -t tmpfs snippet-harness-peer \"$1\"' sh '\(spot)'"
        let (_, privately, privateReport) = try Self.run(code, root: .privateRoot)
        #expect(privately.isEmpty, Comment(rawValue: privateReport))
        let (outcome, shared, sharedReport) = try Self.run(code, root: .sharedRoot)
        #expect(shared == [.mountsChanged], Comment(rawValue: sharedReport))
        #expect(outcome.mountsAppeared.first?.contains("snippet-harness-peer") == true, Comment(rawValue: sharedReport))
    }

    @Test("the mount check sees what the snippet does, not what others mount meanwhile")
    func otherMountsDoNotCount() throws {
        // A snippet that mounts and unmounts again leaves its namespace as it was.
        let spot = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: spot) }
        let (_, problems, report) = try Self.run(
            "mount -t tmpfs snippet-harness-tidy '\(spot)'\numount '\(spot)'\necho tidy", expecting: "tidy", root: .sharedRoot)
        #expect(problems.isEmpty, Comment(rawValue: report))
    }

    @Test("a top-level EXIT trap is caught; one in a subshell or bash -c is not")
    func aTopLevelExitTrapIsCaught() throws {
        let (_, problems, report) = try Self.run("spot=$(mktemp -d)\ntrap 'rmdir \"$spot\"' EXIT\necho made")
        #expect(problems == [.topLevelExitTrap("trap -- 'rmdir \"$spot\"' EXIT")], Comment(rawValue: report))
        let (_, contained, containedReport) = try Self.run(
            "( spot=$(mktemp -d); trap 'rmdir \"$spot\"' EXIT; echo made )\nbash -c 'trap \"echo bye\" EXIT; true'")
        #expect(contained.isEmpty, Comment(rawValue: containedReport))
    }

    @Test("the line the harness adds keeps the snippet's exit status")
    func theStatusIsTheSnippets() throws {
        // `&&` lists are exempt from set -e: the last one's failure is the snippet's status.
        let (outcome, problems, _) = try Self.run("true\ntest -d /no/such/dir && echo there")
        #expect(outcome.status == 1 && problems == [.failed(status: 1)])
        let (exited, _, _) = try Self.run("echo before\nexit 3")
        #expect(exited.status == 3 && exited.output == "before\n")
    }

    @Test func unboundedPgrepWaitsAndUnpinnedEchoesBreakTheConvention() {
        let waits = LessonSnippet(code: "scratch run -- sleep 1 &\nuntil pgrep -P \"$!\" > /dev/null; do sleep 0.1; done", line: 1)
        #expect(waits.conventionProblems.count == 1 && waits.conventionProblems[0].contains("line 2 waits on pgrep"))
        let bounded = LessonSnippet(code: "timeout 5 sh -c 'until pgrep -P \"$1\" > /dev/null; do sleep 0.1; done' sh \"$!\"", line: 1)
        #expect(bounded.conventionProblems.isEmpty)
        let hidden = LessonSnippet(code: "scratch run -- sh -c 'exit 3' || echo \"status $?\"", line: 1)
        #expect(hidden.conventionProblems.count == 1 && hidden.conventionProblems[0].contains("|| echo"))
        let pinned = LessonSnippet(code: hidden.code, line: 1, expectedOutput: "status 3")
        #expect(pinned.conventionProblems.isEmpty)
    }
}
