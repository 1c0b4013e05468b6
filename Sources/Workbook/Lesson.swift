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

/// Plain terminal rendering: headings stand out, code is indented, and on a terminal
/// it goes through `less` so a long chapter can be paged.
public enum TerminalReader {
    public static func render(_ markdown: String, colors: Bool) -> String {
        let bold = colors ? "\u{1B}[1m" : ""
        let underline = colors ? "\u{1B}[4m" : ""
        let dim = colors ? "\u{1B}[36m" : ""
        let reset = colors ? "\u{1B}[0m" : ""
        var output: [String] = []
        var inCode = false
        for line in markdown.components(separatedBy: "\n") {
            if line.hasPrefix("```") {
                inCode.toggle()
                continue
            }
            if inCode {
                output.append("    " + dim + line + reset)
            } else if line.hasPrefix("# ") {
                output.append(bold + underline + String(line.dropFirst(2)) + reset)
            } else if line.hasPrefix("## ") || line.hasPrefix("### ") {
                output.append(bold + line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces) + reset)
            } else {
                output.append(line)
            }
        }
        return output.joined(separator: "\n")
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
