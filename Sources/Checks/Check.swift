/// One black-box check of a chapter: it runs containers with the runtime under test
/// and looks at what happened, from inside and from the host.
public struct Check: Sendable {
    public let id: String
    public let chapter: Int
    public let title: String
    /// Shown one at a time; the first comes with a failure.
    public let hints: [String]
    /// False for guardrails ("nothing left behind") that also hold when the chapter's
    /// exercise is an untouched stub: the proof that a chapter's checks fail against
    /// the stubs does not count them.
    public let provesChapter: Bool
    let body: @Sendable (CheckContext) throws -> Outcome

    public init(
        _ id: String, chapter: Int, _ title: String, provesChapter: Bool = true, hints: [String],
        body: @escaping @Sendable (CheckContext) throws -> Outcome
    ) {
        self.id = id
        self.chapter = chapter
        self.title = title
        self.hints = hints
        self.provesChapter = provesChapter
        self.body = body
    }

    /// Runs the check; an error thrown by the check itself counts as a failure.
    public func run(in context: CheckContext) -> Outcome {
        do {
            return try body(context)
        } catch {
            return .failed(expected: "the check to run to the end", saw: "\(error)")
        }
    }
}

public enum Outcome: Sendable, Equatable {
    case passed
    case failed(expected: String, saw: String)
    /// The check could not run here; `reason` says why. Never counted as a pass.
    case skipped(String)

    public var isPassed: Bool { self == .passed }
    public var isFailed: Bool { if case .failed = self { return true } else { return false } }
}

/// `.passed` when `condition` holds, else a failure with what was expected and seen.
func expect(_ condition: Bool, _ expected: @autoclosure () -> String, saw: @autoclosure () -> String) -> Outcome {
    condition ? .passed : .failed(expected: expected(), saw: saw())
}

/// The first failure among `outcomes`, or `.passed`.
func all(_ outcomes: Outcome...) -> Outcome {
    outcomes.first { !$0.isPassed } ?? .passed
}

/// A short, one-line rendering of a run for "saw: ...".
func describe(_ result: RunResult) -> String {
    var text = "exit \(result.status)"
    let out = result.stdout.trimmed
    let err = result.stderr.trimmed
    if !out.isEmpty { text += ", stdout \(quote(out))" }
    if !err.isEmpty { text += ", stderr \(quote(err))" }
    return text
}

func quote(_ text: String) -> String {
    let oneLine = text.split(separator: "\n").joined(separator: " ⏎ ")
    return "\"" + (oneLine.count > 300 ? String(oneLine.prefix(300)) + "…" : oneLine) + "\""
}

extension String {
    var trimmed: String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        return String(text)
    }
}
