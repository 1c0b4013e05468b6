import Checks
import Foundation
import Runtime
import Testing
import Workbook

/// Every ```sh block a chapter tells the reader to run, run as the reader would, twice:
/// once on a private `/` and once on a shared `/` (a systemd host). Each run must
/// succeed within its time limit, print what the ```output block after it shows (if
/// one does), and leave the mount table of the namespace it ran in as it found it.
/// The convention the chapters follow is in `SnippetRunner` below.
extension ContainerTests {
    @Suite struct LessonSnippetTests {
        struct Case: CustomTestStringConvertible, Sendable {
            let file: String
            let index: Int
            let snippet: LessonSnippet
            let root: SnippetRunner.Root
            var name: String { "\(file) snippet \(index + 1)" }
            var testDescription: String { "\(name) (\(root.rawValue))" }
        }

        /// LESSON_SNIPPET_CHAPTERS=DIR reads the chapters from DIR instead (a rewrite in
        /// another checkout, tried against this one's runtime); the snippets still run from
        /// this repository's root.
        static let chapters: [(file: String, snippets: LessonSnippets)] = {
            let folder = ProcessInfo.processInfo.environment["LESSON_SNIPPET_CHAPTERS"] ?? Support.repository.path("chapters")
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".md") }.sorted()
            return files.map { file in
                (file, LessonSnippets(markdown: (try? String(contentsOfFile: folder + "/" + file, encoding: .utf8)) ?? ""))
            }
        }()

        static let cases: [Case] = chapters.flatMap { chapter in
            chapter.snippets.snippets.enumerated().flatMap { index, snippet in
                SnippetRunner.Root.allCases.map { Case(file: chapter.file, index: index, snippet: snippet, root: $0) }
            }
        }

        @Test("the snippet runs as written", arguments: cases)
        func snippetRuns(_ test: Case) throws {
            let outcome = try SnippetRunner.run(test.snippet.code, timeLimit: test.snippet.timeLimit, root: test.root)
            let problems = SnippetRunner.problems(of: test.snippet, in: outcome)
            #expect(
                problems.isEmpty,
                Comment(rawValue: SnippetRunner.report(test.testDescription, line: test.snippet.line, test.snippet, outcome, problems)))
        }
    }
}

/// Runs one lesson snippet the way the convention says, and judges the run.
///
/// The convention: a ```sh block runs from the repository's root with `bash -euo pipefail
/// -c`, the built `scratch` and `workbook` first on PATH, SCRATCH_HOME a fresh directory,
/// stdin /dev/null, stdout and stderr merged into one file, within its time limit (60 s,
/// or `# timeout: N` on its first line). A ```output block right after it is what it must
/// print (see `SnippetOutput`). It must leave the mount table as it found it, leave no
/// process running, and set no EXIT trap in the reader's own shell; it must not wait on
/// `pgrep` without a bound, nor hide a failure behind `|| echo` without an output block.
enum SnippetRunner {
    /// Both runs happen in a mount namespace of their own, made with private propagation
    /// so that nothing mounted in it can reach the host. The host's own table cannot be
    /// the yardstick: other test runs on this machine mount and unmount while a snippet
    /// runs, and a filter ("only paths this snippet could have made") would miss a leak
    /// onto a path it did not think of. A namespace holds only what the snippet did, and
    /// whatever it left there goes away with the namespace's last process.
    ///
    /// In the private run `/` stays private, as on this machine. In the shared run `/` is
    /// made rshared first, as systemd makes it: a snippet that clones a namespace with
    /// `--propagation shared` or `unchanged` then shares peer groups with the test's
    /// namespace, as it would with a learner's host, and what it mounts shows up there.
    enum Root: String, CaseIterable, Sendable {
        case privateRoot = "private /"
        case sharedRoot = "shared /"
    }

    struct Outcome {
        /// The snippet's exit status; nil when it did not end by itself.
        var status: Int32?
        var timedOut = false
        var seconds = 0.0
        var output = ""
        /// What the harness's own wrapper said (unshare or mount failing): not the snippet's.
        var harnessOutput = ""
        var mountsAppeared: [String] = []
        var mountsVanished: [String] = []
        /// Processes of the snippet still running after it ended (killed since).
        var leftovers: [String] = []
        /// The EXIT trap the snippet's own shell still had when it reached its end.
        var exitTrap = ""
    }

    enum Problem: Equatable, CustomStringConvertible {
        case harness(String)
        case timedOut(seconds: Int)
        case failed(status: Int32)
        case outputDiffers(SnippetOutput.Mismatch)
        case mountsChanged
        case leftProcesses
        case topLevelExitTrap(String)
        case convention(String)

        var description: String {
            switch self {
            case .harness(let what): return "the harness could not run it: \(what)"
            case .timedOut(let seconds):
                return "it did not finish within \(seconds) s (killed; set `# timeout: N` if it needs longer, bound its waits if it hangs)"
            case .failed(let status): return "it exited with status \(status)"
            case .outputDiffers(let mismatch): return "its output differs from the ```output block: \(mismatch)"
            case .mountsChanged: return "it changed the mount table of the namespace it ran in (a lab must undo what it mounts, in the same block)"
            case .leftProcesses: return "it left processes running after it ended (a lab must wait for, or kill, what it starts)"
            case .topLevelExitTrap(let trap):
                return "it sets an EXIT trap in the reader's own shell (`\(trap)`): pasted into an interactive shell it fires only "
                    + "when that shell exits; put the lab in `( … )` or `bash -c '…'` with its trap"
            case .convention(let what): return what
            }
        }
    }

    /// The wrapper that runs inside the namespace. The mount table is read just before and
    /// just after the snippet, by the namespace's own processes; the snippet's status goes
    /// to a file, so no status of the snippet can be mistaken for the wrapper's. A last line
    /// added to the snippet ($8) writes down the EXIT trap its shell holds when it reaches
    /// its end, and exits with the status the snippet had.
    static let wrapper = """
        cd "$1" || exit 1
        if [ "$(id -u)" = 0 ]; then ip link set lo up || exit 1; fi
        if [ "$2" = shared ]; then mount --make-rshared / || exit 1; fi
        cat /proc/self/mountinfo > "$3" || exit 1
        status=0
        bash -euo pipefail -c "$7"$'\\n'"$8" < /dev/null > "$5" 2>&1 || status=$?
        cat /proc/self/mountinfo > "$4" || exit 1
        echo "$status" > "$6"
        """

    static func run(_ code: String, timeLimit: Int, root: Root) throws -> Outcome {
        let work = try Support.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: work)
            // A lesson's `scratch run` without --rm keeps its container, stopped, as
            // Docker does; with its SCRATCH_HOME (and so its layer) gone, gc removes it.
            _ = collectGarbage()
        }
        let home = work + "/scratch-home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: false)
        let files = (
            before: work + "/mounts-before", after: work + "/mounts-after", output: work + "/output", status: work + "/status",
            trap: work + "/exit-trap"
        )
        // The path is ours (a UUID under the temporary directory): no quote inside it.
        let epilogue = "__snippet_status=$?; trap -p EXIT > '\(files.trap)'; exit \"$__snippet_status\""
        let harnessLog = work + "/harness"

        // As root the namespace is a plain mount namespace, with a network namespace of
        // its own (lo up, no uplink): chapter 9's bridge and NAT rules are made there,
        // never on the machine. Without root (the harness's own
        // unit tests on a learner's laptop) a user namespace makes the mount namespace
        // possible; real snippets need root and run only as root.
        let namespace =
            geteuid() == 0
            ? ["unshare", "--mount", "--net", "--propagation", "private"]
            : ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]
        let arguments =
            namespace + [
                "--", "bash", "-c", wrapper, "snippet-harness", Support.repository.root, root == .sharedRoot ? "shared" : "private",
                files.before, files.after, files.output, files.status, code, epilogue,
            ]
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = Support.binDirectory + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["SCRATCH_HOME"] = home
        environment["NO_COLOR"] = "1"

        var outcome = Outcome()
        let started = Date()
        let pid = try spawnSession(arguments, environment: environment, log: harnessLog)
        var waitStatus: Int32 = 0
        var ended = false
        let deadline = started.addingTimeInterval(Double(timeLimit))
        while Date() < deadline {
            let result = waitpid(pid, &waitStatus, WNOHANG)
            if result == pid || (result == -1 && errno != EINTR) {
                ended = true
                break
            }
            usleep(20_000)
        }
        if !ended {
            outcome.timedOut = true
            // The whole session, not just the wrapper: bash, its pipelines, the runtimes and
            // containers the snippet started, in whatever process group they moved to.
            killSession(pid)
            while waitpid(pid, &waitStatus, 0) == -1 && errno == EINTR {}
        } else {
            outcome.leftovers = sweepSession(pid)
        }
        outcome.seconds = Date().timeIntervalSince(started)

        // Lossy: a snippet that prints a stray byte still gets its output compared and shown.
        func read(_ path: String) -> String { String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
        outcome.output = read(files.output)
        outcome.harnessOutput = read(harnessLog)
        outcome.exitTrap = read(files.trap).trimmingCharacters(in: .whitespacesAndNewlines)
        let status = read(files.status).trimmingCharacters(in: .whitespacesAndNewlines)
        outcome.status = Int32(status)
        if outcome.status != nil {
            let change = MountTable.change(from: read(files.before), to: read(files.after))
            outcome.mountsAppeared = change.appeared
            outcome.mountsVanished = change.vanished
        } else if !outcome.timedOut, outcome.harnessOutput.isEmpty {
            outcome.harnessOutput = "the wrapper ended with wait status \(waitStatus) and wrote no status"
        }
        return outcome
    }

    static func problems(of snippet: LessonSnippet, in outcome: Outcome) -> [Problem] {
        var problems: [Problem] = []
        if outcome.timedOut {
            problems.append(.timedOut(seconds: snippet.timeLimit))
        } else if outcome.status == nil {
            problems.append(.harness(outcome.harnessOutput.trimmingCharacters(in: .whitespacesAndNewlines)))
        } else if let status = outcome.status, status != 0 {
            problems.append(.failed(status: status))
        }
        if let expected = snippet.expectedOutput, !outcome.timedOut,
            let mismatch = SnippetOutput.mismatch(expected: expected, actual: outcome.output)
        {
            problems.append(.outputDiffers(mismatch))
        }
        if !outcome.mountsAppeared.isEmpty || !outcome.mountsVanished.isEmpty { problems.append(.mountsChanged) }
        if !outcome.leftovers.isEmpty { problems.append(.leftProcesses) }
        if !outcome.exitTrap.isEmpty { problems.append(.topLevelExitTrap(outcome.exitTrap)) }
        problems += snippet.conventionProblems.map { .convention($0) }
        return problems
    }

    /// What a failing test prints: every problem, then the snippet, what it should have
    /// printed and what it printed, so the chapter can be fixed without running it again.
    static func report(_ name: String, line: Int, _ snippet: LessonSnippet, _ outcome: Outcome, _ problems: [Problem]) -> String {
        var text = "\(name), the ```sh block at line \(line):\n"
        text += problems.map { "  - " + $0.description }.joined(separator: "\n") + "\n"
        if !outcome.mountsAppeared.isEmpty { text += "--- mounts it left\n" + outcome.mountsAppeared.joined(separator: "\n") + "\n" }
        if !outcome.mountsVanished.isEmpty { text += "--- mounts it removed\n" + outcome.mountsVanished.joined(separator: "\n") + "\n" }
        if !outcome.leftovers.isEmpty { text += "--- processes it left (killed)\n" + outcome.leftovers.joined(separator: "\n") + "\n" }
        text += "--- snippet\n\(snippet.code)\n"
        if let expected = snippet.expectedOutput { text += "--- expected output\n\(expected)\n" }
        text += "--- actual output (\(String(format: "%.1f", outcome.seconds)) s)\n\(outcome.output)"
        if !outcome.output.hasSuffix("\n") { text += "\n" }
        if !outcome.harnessOutput.isEmpty { text += "--- harness\n\(outcome.harnessOutput)" }
        return text
    }

    // MARK: - Processes

    /// Starts `arguments` (found on PATH) as the leader of a new session, stdin /dev/null,
    /// stdout and stderr to `log`. A session, not only a process group: the snippet's
    /// scratch `--init` moves its command to a group of its own, but none of them leaves the
    /// session, so one sweep by session id finds everything to kill. posix_spawn(3): fork
    /// is not safe in a test process that runs threads.
    static func spawnSession(_ arguments: [String], environment: [String: String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Default signal dispositions and an empty mask (withCleanSpawnAttributes): a test
        // runner's ignored SIGPIPE or blocked signals would otherwise reach the snippet
        // through exec. In a session of its own, to be killed as a group.
        let setsid: Int32 = 0x80  // POSIX_SPAWN_SETSID, hidden by Glibc's module

        let argv = arguments.map { strdup($0) }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") }
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = withCleanSpawnAttributes(extraFlags: setsid) {
            posix_spawnp(&pid, arguments[0], &actions, &$0, argv + [nil], envp + [nil])
        }
        guard result == 0 else {
            throw SnippetHarnessError("posix_spawnp(\(arguments[0])): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// The live (not zombie) processes of session `sid`, as "PID args".
    static func sessionMembers(_ sid: pid_t) -> [(pid: pid_t, args: String)] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> (pid_t, String)? in
            guard let pid = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            // After "pid (comm)": state ppid pgrp session …; comm may hold spaces and ')'.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 3, fields[0] != "Z", fields[0] != "X", pid_t(fields[3]) == sid else { return nil }
            let raw = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline"))) ?? Data()
            let args = String(decoding: raw, as: UTF8.self).split(separator: "\0").joined(separator: " ")
            return (pid, args)
        }
    }

    /// SIGTERM first, and a second to act on it: a runtime that is told to stop removes its
    /// cgroup and state, one that is SIGKILLed leaves them to the next run. Then SIGKILL,
    /// again and again, for whatever forked in between.
    static func killSession(_ sid: pid_t) {
        for member in sessionMembers(sid) { kill(member.pid, SIGTERM) }
        for _ in 0..<50 where !sessionMembers(sid).isEmpty { usleep(20_000) }
        for _ in 0..<250 {
            let members = sessionMembers(sid)
            if members.isEmpty { return }
            for member in members { kill(member.pid, SIGKILL) }
            usleep(20_000)
        }
    }

    /// After the snippet ended: what it left running. A process it just killed may still be
    /// on its way out, so give them a moment before calling them leftovers.
    static func sweepSession(_ sid: pid_t) -> [String] {
        var members = sessionMembers(sid)
        for _ in 0..<25 where !members.isEmpty {
            usleep(20_000)
            members = sessionMembers(sid)
        }
        guard !members.isEmpty else { return [] }
        killSession(sid)
        return members.map { "\($0.pid) \($0.args)" }
    }
}

struct SnippetHarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Mount tables compared across two reads of /proc/self/mountinfo in one namespace.
enum MountTable {
    /// One mount, as what it is rather than by its id: mount point, root within its
    /// filesystem, options, propagation kinds without their peer group numbers, type,
    /// source and superblock options. Ids and peer group numbers are counters that a
    /// remount or a new namespace can change without the mount being any different.
    static func entry(_ line: Substring) -> String? {
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        guard let dash = fields.firstIndex(of: "-"), dash >= 6, fields.count >= dash + 4 else { return nil }
        let propagation = fields[6..<dash].map { $0.split(separator: ":").first.map(String.init) ?? "" }
        let kinds = propagation.isEmpty ? "private" : propagation.joined(separator: ",")
        return "\(fields[4]) (root \(fields[3]), \(fields[dash + 1]) from \(fields[dash + 2]), \(fields[5]), \(fields[dash + 3]), \(kinds))"
    }

    /// Mounts in `after` and not `before`, and the other way round, each counted: a second
    /// mount stacked on the same point with the same options is a change too.
    static func change(from before: String, to after: String) -> (appeared: [String], vanished: [String]) {
        var counts: [String: Int] = [:]
        for line in before.split(separator: "\n") { if let key = entry(line) { counts[key, default: 0] += 1 } }
        for line in after.split(separator: "\n") { if let key = entry(line) { counts[key, default: 0] -= 1 } }
        let appeared = counts.filter { $0.value < 0 }.flatMap { Array(repeating: $0.key, count: -$0.value) }.sorted()
        let vanished = counts.filter { $0.value > 0 }.flatMap { Array(repeating: $0.key, count: $0.value) }.sorted()
        return (appeared, vanished)
    }
}
