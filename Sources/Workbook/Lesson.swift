import Foundation

/// A chapter's Markdown, split into the lesson proper and its layered hints.
public struct Lesson: Sendable {
    public let body: String
    public let hints: [String]

    public init(markdown: String) {
        // Everything from "## Hints" on is hints; each "### Hint N" starts a layer.
        let lines = markdown.components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "## Hints" }) else {
            body = markdown
            hints = []
            return
        }
        body = lines[..<start].joined(separator: "\n")
        var layers: [[String]] = []
        for line in lines[(start + 1)...] {
            if line.hasPrefix("### ") {
                layers.append([line])
            } else if !layers.isEmpty {
                layers[layers.count - 1].append(line)
            }
        }
        hints = layers.map { $0.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    public static func load(_ chapter: Chapter, from repository: Repository) throws -> Lesson {
        guard let text = try? String(contentsOfFile: repository.path(chapter.file), encoding: .utf8) else {
            throw WorkbookError("cannot read \(chapter.file)")
        }
        return Lesson(markdown: text)
    }
}

/// The lesson on the terminal: rendered (MarkdownRenderer), and paged through `less`
/// when stdout is one.
public enum TerminalReader {
    public static func render(_ markdown: String, colors: Bool) -> String {
        MarkdownRenderer(width: terminalWidth(), colors: colors).render(markdown)
    }

    /// The terminal's columns (TIOCGWINSZ on stdout), else $COLUMNS, else 80.
    public static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
        return 80
    }

    /// Writes `text` to the terminal through `less` when there is one, else to stdout.
    public static func show(_ text: String) {
        let interactive = isatty(1) == 1
        guard interactive, FileManager.default.isExecutableFile(atPath: "/usr/bin/less") else {
            print(text)
            return
        }
        let less = Process()
        less.executableURL = URL(fileURLWithPath: "/usr/bin/less")
        less.arguments = ["-R", "-F", "-X"]
        let pipe = Pipe()
        less.standardInput = pipe
        do {
            try less.run()
            pipe.fileHandleForWriting.write(Data((text + "\n").utf8))
            try? pipe.fileHandleForWriting.close()
            less.waitUntilExit()
        } catch {
            print(text)
        }
    }
}
