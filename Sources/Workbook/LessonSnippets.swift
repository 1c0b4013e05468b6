import Foundation

/// One ```sh block of a lesson: a command the reader is told to run, with what it must
/// print (the ```output block right after it) and how long it may take (a first line
/// `# timeout: N`). The convention is written down in the lesson snippet tests.
public struct LessonSnippet: Sendable, Equatable {
    /// A snippet that names no limit of its own gets a minute: enough for a build of the
    /// rootfs and a few containers, short enough that a hang cannot stall the tests.
    public static let defaultTimeLimit = 60

    /// The text of the block, without the fences and without the fence's indentation.
    public let code: String
    /// The line of the opening fence, counted from 1: where to look in the chapter.
    public let line: Int
    /// Seconds, from a first line `# timeout: N`; nil when the block names none.
    public let timeout: Int?
    /// The text of the ```output block that follows, if one does.
    public let expectedOutput: String?

    public var timeLimit: Int { timeout ?? Self.defaultTimeLimit }

    /// What the convention forbids that a run on a good day does not show: a wait on
    /// `pgrep` with no bound hangs only when the process came and went too fast to be
    /// seen, and `|| echo` makes a missing command look like the failure the lesson
    /// promised unless an output block pins down what the echo printed. (A top-level
    /// `trap … EXIT` is caught by running the snippet: bash knows what is top level.)
    public var conventionProblems: [String] {
        var problems: [String] = []
        for (number, line) in code.components(separatedBy: "\n").enumerated() {
            let command = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? line
            if command.contains("until "), command.contains("pgrep"), !command.contains("timeout ") {
                problems.append(
                    "line \(number + 1) waits on pgrep with no bound: `\(line.trimmingCharacters(in: .whitespaces))`; "
                        + "write `timeout 5 sh -c 'until pgrep …; do sleep 0.1; done'`")
            }
            if expectedOutput == nil, command.contains("|| echo") {
                problems.append(
                    "line \(number + 1) has `|| echo` and the block has no ```output: any failure, a missing command too, "
                        + "prints the promised message; show the output the lesson expects, with the status")
            }
        }
        return problems
    }

    public init(code: String, line: Int, timeout: Int? = nil, expectedOutput: String? = nil) {
        self.code = code
        self.line = line
        self.timeout = timeout
        self.expectedOutput = expectedOutput
    }
}

/// A chapter's snippets, and what in its Markdown breaks the convention in a way the
/// tests could not otherwise see (an output block compared with nothing, a timeout
/// line that does not parse).
public struct LessonSnippets: Sendable {
    public let snippets: [LessonSnippet]
    public let problems: [String]

    public init(markdown: String) {
        var collector = Collector()
        collector.collect(Markdown.parse(markdown))
        self.snippets = collector.snippets
        self.problems = collector.problems
    }

    /// Walks the parse tree: a block in a list item or a quote counts as one at the top,
    /// with its container's indentation taken off (cmark-gfm does that).
    private struct Collector {
        var snippets: [LessonSnippet] = []
        var problems: [String] = []

        mutating func collect(_ blocks: [MarkdownBlock]) {
            var index = 0
            while index < blocks.count {
                defer { index += 1 }
                switch blocks[index] {
                case .list(_, _, let items):
                    for item in items { collect(item) }
                case .quote(let nested):
                    collect(nested)
                case .code(let info, let text, let line, let closed):
                    switch info {
                    case "sh":
                        var timeout: Int?
                        let first = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
                        if first.hasPrefix("#"), first.contains("timeout") {
                            timeout = LessonSnippets.timeout(in: first)
                            if timeout == nil {
                                problems.append("line \(line + 1): write the time limit as `# timeout: N` (whole seconds), not `\(first)`")
                            }
                        }
                        if !closed { problems.append("line \(line): the ```sh block is never closed") }
                        // An output block belongs to the sh block only when it is the very
                        // next block: a sentence between makes it an illustration.
                        var expected: String?
                        if index + 1 < blocks.count, case .code("output", let output, let outputLine, let outputClosed) = blocks[index + 1] {
                            expected = output
                            if !outputClosed { problems.append("line \(outputLine): the ```output block is never closed") }
                            index += 1
                        }
                        // The timeout line stays in the code: the reader copies it too, and bash reads a comment.
                        snippets.append(LessonSnippet(code: text, line: line, timeout: timeout, expectedOutput: expected))
                    case "output":
                        problems.append(
                            "line \(line): an ```output block that does not directly follow a ```sh block is compared with nothing; "
                                + "put it right after its command or make it ```text")
                    case "bash", "shell", "zsh":
                        problems.append(
                            "line \(line): a ```\(info) block is neither run nor marked as not to be run; "
                                + "make it ```sh (run by the tests) or ```console / ```text")
                    default:
                        break
                    }
                default:
                    break
                }
            }
        }
    }

    fileprivate static func timeout(in line: String) -> Int? {
        // `# timeout: N`, spaces around the colon allowed.
        let words = line.dropFirst().split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard words.count == 2, words[0] == "timeout", let seconds = Int(words[1]), seconds > 0 else { return nil }
        return seconds
    }
}

extension Lesson {
    /// The ```sh blocks: the commands the reader is told to run (the tests run them too).
    public static func shellSnippets(in markdown: String) -> [String] {
        LessonSnippets(markdown: markdown).snippets.map(\.code)
    }
}

/// Compares what a snippet printed with the output block the lesson shows.
///
/// Both are compared line by line, trailing spaces ignored, trailing blank lines ignored.
/// In the expected text, `<id>` stands for 12 hex digits (a container's id), `<n>` for an
/// integer (a PID, a size, a time), `<...>` for any text within one line, and a line that
/// is exactly `...` for zero or more whole lines. Everything else must be the same.
public enum SnippetOutput {
    public struct Mismatch: Sendable, Equatable, CustomStringConvertible {
        /// The first expected line that could not be matched (counted from 1), or nil when
        /// every expected line matched and the output went on.
        public let expectedLine: Int?
        /// The output line it was compared with (counted from 1), or nil when the output had
        /// ended.
        public let actualLine: Int?
        public let expected: String?
        public let actual: String?

        public init(expectedLine: Int?, actualLine: Int?, expected: String?, actual: String?) {
            self.expectedLine = expectedLine
            self.actualLine = actualLine
            self.expected = expected
            self.actual = actual
        }

        public var description: String {
            switch (expected, actual) {
            case let (expected?, actual?):
                return "output line \(actualLine ?? 0) differs from expected line \(expectedLine ?? 0):\n"
                    + "  expected: \(expected)\n  actual:   \(actual)"
            case let (expected?, nil):
                return "the output ended before expected line \(expectedLine ?? 0):\n  expected: \(expected)"
            case let (nil, actual?):
                return "the output goes on after the expected text ended, at output line \(actualLine ?? 0):\n  actual:   \(actual)"
            case (nil, nil):
                return "the output differs"
            }
        }
    }

    /// nil when `actual` matches `expected`; otherwise the first line where they part.
    public static func mismatch(expected: String, actual: String) -> Mismatch? {
        let want = lines(of: expected)
        let got = lines(of: actual)
        // reach[e][a]: the first e expected lines match the first a output lines. `...`
        // makes this a search, not a walk: it may stand for any number of lines.
        var reach = Array(repeating: Array(repeating: false, count: got.count + 1), count: want.count + 1)
        reach[0][0] = true
        for e in 0..<want.count {
            let pattern = want[e]
            for a in 0...got.count where reach[e][a] {
                if pattern == "..." {
                    for later in a...got.count { reach[e + 1][later] = true }
                    break
                }
                if a < got.count, lineMatches(pattern, got[a]) { reach[e + 1][a + 1] = true }
            }
        }
        if reach[want.count][got.count] { return nil }

        // The deepest expected line reached is the one that failed (or the output is longer).
        let deepest = (0...want.count).last { e in reach[e].contains(true) } ?? 0
        let positions = (0...got.count).filter { reach[deepest][$0] }
        if deepest == want.count {
            let a = positions.last ?? 0
            return Mismatch(expectedLine: nil, actualLine: a + 1, expected: nil, actual: got[a])
        }
        let a = positions.first ?? 0
        return Mismatch(
            expectedLine: deepest + 1, actualLine: a < got.count ? a + 1 : nil, expected: want[deepest],
            actual: a < got.count ? got[a] : nil)
    }

    /// One line against one pattern line (`<id>`, `<n>`, `<...>` inside it).
    public static func lineMatches(_ pattern: String, _ line: String) -> Bool {
        matches(tokens(of: trimmed(pattern))[...], Array(trimmed(line).unicodeScalars)[...])
    }

    static func lines(of text: String) -> [String] {
        var lines = text.components(separatedBy: "\n").map(trimmed)
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    /// Trailing spaces are invisible in a lesson, and editors strip them.
    static func trimmed(_ line: String) -> String {
        var line = Substring(line)
        while let last = line.last, last == " " || last == "\t" || last == "\r" { line = line.dropLast() }
        return String(line)
    }

    enum Token: Equatable {
        case literal(Unicode.Scalar)
        case id
        case integer
        case anything
    }

    static func tokens(of pattern: String) -> [Token] {
        var tokens: [Token] = []
        var rest = Substring(pattern)
        while let first = rest.unicodeScalars.first {
            if rest.hasPrefix("<id>") {
                tokens.append(.id)
                rest = rest.dropFirst(4)
            } else if rest.hasPrefix("<n>") {
                tokens.append(.integer)
                rest = rest.dropFirst(3)
            } else if rest.hasPrefix("<...>") {
                tokens.append(.anything)
                rest = rest.dropFirst(5)
            } else {
                tokens.append(.literal(first))
                rest = Substring(rest.unicodeScalars.dropFirst())
            }
        }
        return tokens
    }

    private static func matches(_ tokens: ArraySlice<Token>, _ text: ArraySlice<Unicode.Scalar>) -> Bool {
        guard let token = tokens.first else { return text.isEmpty }
        let rest = tokens.dropFirst()
        switch token {
        case .literal(let scalar):
            return text.first == scalar && matches(rest, text.dropFirst())
        case .id:
            let hex = text.prefix(12)
            return hex.count == 12 && hex.allSatisfy(\.properties.isASCIIHexDigit) && matches(rest, text.dropFirst(12))
        case .integer:
            let sign = text.first == "-" ? 1 : 0
            let digits = text.dropFirst(sign).prefix { ("0"..."9").contains($0) }.count
            guard digits > 0 else { return false }
            // Longest first, then shorter: `<n>0` must still match "100".
            for length in stride(from: digits, through: 1, by: -1) where matches(rest, text.dropFirst(sign + length)) {
                return true
            }
            return false
        case .anything:
            for start in text.indices where matches(rest, text[start...]) { return true }
            return matches(rest, text[text.endIndex...])
        }
    }
}
