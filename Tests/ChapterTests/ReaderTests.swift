import Checks
import Foundation
import Testing

@testable import Workbook

/// The full-screen reader, driven in a real terminal: a tmux server of the test's own
/// (`tmux -L reader-PID-N`), keys sent with send-keys, the screen read with
/// capture-pane. Every wait polls the screen until what it expects is there, with a
/// generous limit: a loaded 2-core machine makes everything slower, never different.
extension ContainerTests {
    @Suite struct ReaderTests {
        @Test func aLearnerReadsChecksAndRunsASnippetAt80x24() throws {
            let work = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: work) }
            let progress = work + "/progress.json"
            let terminal = try Terminal(width: 80, height: 24, command: ["workbook"], environment: ["WORKBOOK_PROGRESS": progress])
            defer { terminal.close() }

            // Opens on the first chapter not passed: chapter 0, its list and its lesson.
            try terminal.expect("Chapter 0 — A container is a process")
            try terminal.expect("What you will be able to explain")
            try terminal.expect(" 4 ")
            #expect(terminal.screen().split(separator: "\n").allSatisfy { columns(of: String($0)) <= 80 })

            // A digit opens that chapter.
            terminal.keys("3")
            try terminal.expect("workbook · Chapter 3 — A root of its own")

            // Search: the status line says which match; . goes on to the next.
            terminal.keys("/")
            terminal.type("pivot_root")
            terminal.keys("Enter")
            try terminal.expect("\"pivot_root\": match 1 of")
            terminal.keys(".")
            try terminal.expect("\"pivot_root\": match 2 of")
            // n and p move by section: the title line's percentage moves on.
            terminal.keys("n")
            try terminal.expect { !$0.contains("match 2 of") }

            // The next hint, counted as `workbook hint 3` counts it.
            terminal.keys("h")
            try terminal.expect("hint 1 of")
            try terminal.expect("Hint 1")
            #expect(try String(contentsOfFile: progress, encoding: .utf8).contains("\"3\" : 1"))

            // The checks run in the background: the screen shows results while the
            // reader still answers keys.
            terminal.keys("c")
            try terminal.expect("checks · chapter 3")
            try terminal.expect(seconds: 300) { $0.contains("✗ ") || $0.contains("✓ ") }
            terminal.keys("j")
            try terminal.expect(seconds: 600) { $0.contains("finished in") && $0.contains("all passed") }
            // The verdict is in the list: on the untouched stubs chapter 0 is "in
            // progress" now; in a checkout whose exercise 0 is done, passed.
            try terminal.expect { $0.contains(" 0 … ") || $0.contains(" 0 ✓ ") }

            // A snippet: chapter 0's first runs the reference at chapter 2's stage.
            terminal.keys("Escape", "0")
            try terminal.expect("workbook · Chapter 0")
            terminal.keys("/")
            terminal.type("my PID is")
            terminal.keys("Enter")
            try terminal.expect("◀ r runs this")
            terminal.keys("r")
            try terminal.expect("snippet · chapter 0, line")
            try terminal.expect(seconds: 120) { $0.contains("✓ what the lesson shows") || $0.contains("not what the lesson shows") }
            try terminal.expect("my PID is 1")
            try terminal.expect("✓ what the lesson shows")

            // The x-ray runs `workbook xray --once` beside the reader and shows what it
            // printed, whether or not a container is running.
            terminal.keys("x")
            try terminal.expect("x-ray ·")
            try terminal.expect(seconds: 60) { $0.contains("x-ray · x looks again") }

            // Help lists the keys.
            terminal.keys("?")
            try terminal.expect("the next, the previous section (heading)")

            // Wider: the chapter list shows the titles.
            terminal.resize(width: 120, height: 40)
            try terminal.expect("Hostnames: the UTS name")
            #expect(terminal.screen().split(separator: "\n").count >= 39)

            // q quits cleanly and keeps the place: back where it was.
            terminal.keys("q")
            try terminal.expect("reader exited 0")
            let places = try String(contentsOfFile: work + "/.workbook-reader.json", encoding: .utf8)
            #expect(places.contains("\"chapter\":0"), "\(places)")
            terminal.restart()
            try terminal.expect("workbook · Chapter 0")
            try terminal.expect("my PID is 1")
            terminal.keys("q")
            try terminal.expect("reader exited 0")
        }

        @Test func xShowsTheRunningContainer() throws {
            let work = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: work) }
            // A container of our own, with a command no other test runs: `x` shows the
            // newest running container, its processes and its namespaces.
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Support.scratch)
            process.arguments = ["run", "--rm", "--", "sh", "-c", "exec sleep 71"]
            process.environment = ["SCRATCH_HOME": work + "/scratch-home", "PATH": "/usr/bin:/bin"]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            defer {
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                }
            }
            var started = false
            for _ in 0..<100 where !started {
                Thread.sleep(forTimeInterval: 0.1)
                started = Support.run([Support.scratch, "ps"]).stdout.contains("sleep 71")
            }
            try #require(started, "the container did not start")
            let environment = ["WORKBOOK_PROGRESS": work + "/progress.json", "NO_COLOR": "1"]
            let terminal = try Terminal(width: 100, height: 40, command: ["workbook", "read", "2"], environment: environment)
            defer { terminal.close() }
            try terminal.expect("workbook · Chapter 2")
            terminal.keys("x")
            try terminal.expect(seconds: 60) { $0.contains("sleep 71") && $0.contains("different: its own") }
            terminal.keys("Escape", "q")
            try terminal.expect("reader exited 0")
        }

        @Test func readOnATerminalOpensTheChapterAndPlainStaysPlain() throws {
            let work = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: work) }
            let environment = ["WORKBOOK_PROGRESS": work + "/progress.json", "NO_COLOR": "1"]
            let terminal = try Terminal(width: 80, height: 24, command: ["workbook", "read", "4"], environment: environment)
            defer { terminal.close() }
            try terminal.expect("workbook · Chapter 4 — Limits: cgroups")
            // NO_COLOR: bold, underline and reverse video, but no colour (SGR 30–38).
            let styled = terminal.tmux(["capture-pane", "-p", "-e", "-t", "reader"]).stdout
            #expect(styled.contains("\u{1B}["), "capture-pane -e shows no attribute at all")
            #expect(styled.range(of: "[\\[;]3[0-8][m;]", options: .regularExpression) == nil, "a colour despite NO_COLOR:\n\(styled)")
            terminal.keys("]")
            try terminal.expect("workbook · Chapter 5 — Layers")
            terminal.keys("[", "Escape", "q")
            try terminal.expect("reader exited 0")
            let plain = Support.run(["workbook", "read", "4", "--plain"], environment: environment)
            #expect(plain.status == 0)
            #expect(!plain.stdout.contains("\u{1B}"))
            #expect(plain.stdout.contains("Chapter 4 — Limits: cgroups"))
        }
    }
}

/// The reader's text model, without a terminal.
@Suite struct ReaderTextTests {
    @Test func sgrBecomesSpans() {
        let line = ReaderLine(sgr: "a \u{1B}[1mbold \u{1B}[36mcode\u{1B}[0m\u{1B}[1m\u{1B}[0m end\u{1B}[K")
        #expect(line.text == "a bold code end")
        #expect(line.spans.map(\.text) == ["a ", "bold ", "code", " end"])
        #expect(line.spans[1].style.bold && line.spans[2].style.color == .cyan && line.spans[2].style.bold)
        #expect(line.spans[3].style == .plain)
    }

    @Test func fittingCutsAndMarks() {
        let line = ReaderLine("╭─ sh — run it, a long line")
        let fitted = line.fitted(to: 10)
        #expect(fitted.text == "╭─ sh — r›")
        #expect(ReaderLine("ab").fitted(to: 4).text == "ab  ")
        let marked = ReaderLine("pivot and PIVOT").marking(ReaderDocument.ranges(of: "pivot", in: "pivot and PIVOT"))
        #expect(marked.spans.map(\.text) == ["pivot", " and ", "PIVOT"])
        #expect(marked.spans[0].style.reverse && !marked.spans[1].style.reverse)
    }

    /// Every chapter's snippets are found where the renderer drew them, at 72 and 118
    /// columns, and a place survives a change of width.
    @Test func everySnippetIsOnItsFrame() throws {
        for chapter in ChapterCatalog.all where chapter.isAvailable(in: Support.repository) {
            let body = try Lesson.load(chapter, from: Support.repository).body
            let expected = LessonSnippets(markdown: body).snippets
            for width in [72, 118] {
                let document = ReaderDocument(markdown: body, width: width)
                #expect(document.snippets.map(\.snippet) == expected, "chapter \(chapter.number) at \(width)")
                for snippet in document.snippets {
                    #expect(document.lines[snippet.lines.lowerBound].text.hasSuffix("╭─ sh — run it"))
                    #expect(document.lines[snippet.lines.upperBound].text.hasSuffix("╰─"))
                }
                #expect(document.headings.first?.level == 1)
            }
            let narrow = ReaderDocument(markdown: body, width: 72)
            let wide = ReaderDocument(markdown: body, width: 118)
            let heading = narrow.headings[narrow.headings.count / 2]
            let anchor = narrow.anchor(of: heading.line)
            #expect(wide.lines[wide.line(of: anchor)].text == narrow.lines[heading.line].text)
        }
    }
}

/// One tmux server of the test's own, with one window running `command` in the
/// repository, then a line saying how it ended. `close()` kills the server (also when
/// the test failed: callers defer it).
final class Terminal {
    static let counter = Counter()
    let socket: String
    let shellCommand: String

    init(width: Int, height: Int, command: [String], environment: [String: String]) throws {
        socket = "reader-\(getpid())-\(Self.counter.next())"
        var variables = environment
        variables["PATH"] = Support.binDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        variables["LANG"] = "C.UTF-8"
        // The checks' work directories go under this test run's own TMPDIR.
        variables["TMPDIR"] = Support.privateTemporaryDirectory
        variables[Freshness.marker] = "1"
        let assignments = variables.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.quoted($0.value))" }.joined(separator: " ")
        let invocation = command.map(Self.quoted).joined(separator: " ")
        shellCommand =
            "cd \(Self.quoted(Support.repository.root)) && env \(assignments) \(invocation); echo \"reader exited $?\"; exec sleep 3600"
        let started = tmux(["new-session", "-d", "-s", "reader", "-x", String(width), "-y", String(height), shellCommand])
        try #require(started.status == 0, "tmux new-session: \(started.stderr)")
    }

    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// tmux is started by posix_spawn and waited for by waitpid, not through Foundation's
    /// Process: Process learns of an exit through a descriptor the child inherits, and
    /// the server tmux forks off keeps it, so `new-session` never "ended". The clean
    /// attributes give the server (and the reader under it) the signal state a shell
    /// gives: the test runner's blocked signals would make SIGTERM do nothing there.
    @discardableResult
    func tmux(_ arguments: [String]) -> Support.Output {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("reader-tmux-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var environment = ProcessInfo.processInfo.environment
        environment["LANG"] = "C.UTF-8"
        let argv = (["/usr/bin/env", "tmux", "-L", socket] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = withCleanSpawnAttributes { attributes in posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, argv, envp) }
        guard result == 0 else { return Support.Output(status: -1, stdout: "", stderr: "posix_spawn tmux: \(result)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return Support.Output(status: (status >> 8) & 0xFF, stdout: text, stderr: text)
    }

    /// Keys by tmux's names ("Enter", "Escape", "j").
    func keys(_ names: String...) {
        for name in names { tmux(["send-keys", "-t", "reader", name]) }
    }

    /// Text, character by character as typed.
    func type(_ text: String) { tmux(["send-keys", "-t", "reader", "-l", text]) }

    func screen() -> String { tmux(["capture-pane", "-p", "-t", "reader"]).stdout }

    func resize(width: Int, height: Int) {
        tmux(["resize-window", "-t", "reader", "-x", String(width), "-y", String(height)])
    }

    /// The command again, in the same window.
    func restart() { tmux(["respawn-pane", "-k", "-t", "reader", shellCommand]) }

    func expect(_ text: String, seconds: Double = 30, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try expect(seconds: seconds, sourceLocation: sourceLocation) { $0.contains(text) }
    }

    /// Polls the screen until `condition` holds; fails with the last screen when it never does.
    func expect(seconds: Double = 30, sourceLocation: SourceLocation = #_sourceLocation, _ condition: (String) -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        var last = ""
        while Date() < deadline {
            last = screen()
            if condition(last) { return }
            usleep(100_000)
        }
        Issue.record("not on the screen within \(Int(seconds)) s; the screen:\n\(last)", sourceLocation: sourceLocation)
        throw CancellationError()
    }

    func close() {
        tmux(["kill-server"])
        let directory = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
        try? FileManager.default.removeItem(atPath: "\(directory)/tmux-\(getuid())/\(socket)")
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value
        }
    }
}
