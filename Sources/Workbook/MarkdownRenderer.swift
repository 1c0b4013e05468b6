import Foundation

/// Renders the Markdown tree for a terminal: headings underlined, emphasis and code
/// spans styled, lists with bullets, tables in box characters fitted to the width, block
/// quotes behind a bar, code blocks indented under a label and tinted for sh, swift and c.
///
/// Without colors it writes no escape code at all (`--plain`, a pipe, `NO_COLOR`): the
/// same layout, the same box characters. Code lines are never wrapped or prefixed with
/// anything but spaces, so a command copied from the terminal still runs.
public struct MarkdownRenderer: Sendable {
    /// Columns to fill; never fewer than `minimumWidth`: 80 for a page (lessons are
    /// written for 80), less for the reader's pane beside its chapter list.
    public let width: Int
    public let colors: Bool

    public init(width: Int, colors: Bool, minimumWidth: Int = 80) {
        self.width = max(width, minimumWidth)
        self.colors = colors
    }

    public func render(_ markdown: String) -> String {
        render(Markdown.parse(markdown))
    }

    public func render(_ blocks: [MarkdownBlock]) -> String {
        lines(of: blocks, width: width).joined(separator: "\n")
    }

    // MARK: - Blocks

    func lines(of blocks: [MarkdownBlock], width: Int, tight: Bool = false) -> [String] {
        var output: [String] = []
        for block in blocks {
            let rendered = lines(of: block, width: width)
            if rendered.isEmpty { continue }
            if !output.isEmpty && !tight { output.append("") }
            output += rendered
        }
        return output
    }

    func lines(of block: MarkdownBlock, width: Int) -> [String] {
        switch block {
        case .heading(let level, let inlines):
            let text = styled(inlines)
            let size = min(visibleWidth(text), width)
            switch level {
            case 1:
                return [style("1;4", text), String(repeating: "═", count: size)]
            case 2:
                return [style("1", text), String(repeating: "─", count: size)]
            default:
                return [style("1", text)]
            }
        case .paragraph(let inlines):
            return wrap(styled(inlines), width: width)
        case .list(let start, let tight, let items):
            return list(start: start, tight: tight, items: items, width: width)
        case .quote(let nested):
            let bar = style("2", "│") + " "
            return lines(of: nested, width: width - 2).map { $0.isEmpty ? style("2", "│") : bar + $0 }
        case .code(let info, let text, _, _):
            return code(info: info, text: text)
        case .table(let alignments, let header, let rows):
            return table(alignments: alignments, header: header, rows: rows, width: width)
        case .html(let html):
            // Comments are notes to the lesson's authors.
            let trimmed = html.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("<!--") { return [] }
            return trimmed.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        case .thematicBreak:
            return [style("2", String(repeating: "─", count: min(width, 80)))]
        }
    }

    func list(start: Int?, tight: Bool, items: [[MarkdownBlock]], width: Int) -> [String] {
        var output: [String] = []
        let last = (start ?? 1) + items.count - 1
        let markerWidth = start == nil ? 2 : String(last).count + 2
        for (index, item) in items.enumerated() {
            let marker: String
            if let start {
                let number = "\(start + index)."
                marker = number + String(repeating: " ", count: markerWidth - number.count)
            } else {
                marker = "• "
            }
            let body = lines(of: item, width: width - markerWidth, tight: tight)
            if !tight && index > 0 { output.append("") }
            let indent = String(repeating: " ", count: markerWidth)
            for (number, line) in body.enumerated() {
                if number == 0 {
                    output.append(style("1", marker) + line)
                } else {
                    output.append(line.isEmpty ? "" : indent + line)
                }
            }
            if body.isEmpty { output.append(marker) }
        }
        return output
    }

    func code(info: String, text: String) -> [String] {
        let language = info.split(separator: " ").first.map(String.init) ?? ""
        var output: [String] = []
        // The label says what the block is: a command to run, what it prints, code.
        let label: String
        switch language {
        case "sh": label = "sh — run it"
        case "output": label = "output"
        case "": label = ""
        default: label = language
        }
        output.append(style("2", "  ╭─" + (label.isEmpty ? "" : " " + label)))
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            output.append("    " + tint(String(line), language: language))
        }
        output.append(style("2", "  ╰─"))
        return output
    }

    // MARK: - Tables

    func table(alignments: [MarkdownAlignment], header: [[MarkdownInline]], rows: [[[MarkdownInline]]], width: Int) -> [String] {
        let columns = max(header.count, rows.map(\.count).max() ?? 0)
        guard columns > 0 else { return [] }
        func cells(_ row: [[MarkdownInline]], bold: Bool) -> [String] {
            (0..<columns).map { column in
                guard column < row.count else { return "" }
                let text = styled(row[column])
                return bold ? style("1", text) : text
            }
        }
        let head = cells(header, bold: true)
        let body = rows.map { cells($0, bold: false) }
        // Each column as wide as its widest cell; while the table is wider than the
        // width, the widest column gives up a column (its cells then wrap).
        var widths = (0..<columns).map { column in
            ([head] + body).map { visibleWidth($0[column]) }.max() ?? 0
        }
        widths = widths.map { max($0, 1) }
        let frame = 3 * columns + 1
        while widths.reduce(0, +) + frame > width, let widest = widths.indices.max(by: { widths[$0] < widths[$1] }), widths[widest] > 8 {
            widths[widest] -= 1
        }
        func border(_ left: String, _ middle: String, _ right: String) -> String {
            style("2", left + widths.map { String(repeating: "─", count: $0 + 2) }.joined(separator: middle) + right)
        }
        func row(_ texts: [String]) -> [String] {
            let wrapped = texts.enumerated().map { column, text in wrap(text, width: widths[column]) }
            let height = wrapped.map(\.count).max() ?? 1
            let bar = style("2", "│")
            return (0..<height).map { line in
                var output = bar
                for column in 0..<columns {
                    let text = line < wrapped[column].count ? wrapped[column][line] : ""
                    let alignment = column < alignments.count ? alignments[column] : .none
                    output += " " + pad(text, to: widths[column], alignment) + " " + bar
                }
                return output
            }
        }
        var output = [border("┌", "┬", "┐")]
        output += row(head)
        output.append(border("├", "┼", "┤"))
        // When a cell wraps, a rule between rows shows where each row ends.
        let rendered = body.map(row)
        let ruled = rendered.contains { $0.count > 1 }
        for (index, lines) in rendered.enumerated() {
            if ruled && index > 0 { output.append(border("├", "┼", "┤")) }
            output += lines
        }
        output.append(border("└", "┴", "┘"))
        return output
    }

    func pad(_ text: String, to width: Int, _ alignment: MarkdownAlignment) -> String {
        let space = max(width - visibleWidth(text), 0)
        switch alignment {
        case .right: return String(repeating: " ", count: space) + text
        case .center: return String(repeating: " ", count: space / 2) + text + String(repeating: " ", count: space - space / 2)
        case .none, .left: return text + String(repeating: " ", count: space)
        }
    }

    // MARK: - Inlines

    func styled(_ inlines: [MarkdownInline]) -> String {
        inlines.map { inline in
            switch inline {
            case .text(let text): return text
            case .code(let text): return colors ? style("36", text) : text
            case .emphasis(let children): return style("3", styled(children))
            case .strong(let children): return style("1", styled(children))
            case .strikethrough(let children): return style("9", styled(children))
            case .link(let url, let children):
                let text = styled(children)
                // A link to another page shows where it goes; one to a file of the
                // repository or a heading reads as its text.
                if url.hasPrefix("http"), Markdown.plainText(children) != url {
                    return text + " " + style("2", "(\(url))")
                }
                return colors ? style("4", text) : text
            case .html: return ""
            case .softBreak: return " "
            case .lineBreak: return "\n"
            }
        }.joined()
    }

    /// `text` in an SGR style, closed with a full reset and the styles still open
    /// around it re-established by their own codes (nesting is shallow in lessons).
    func style(_ code: String, _ text: String) -> String {
        guard colors, !text.isEmpty else { return text }
        // Most text has no style inside it: skip Foundation's search (the reader lays
        // out a whole lesson before its first frame).
        guard text.utf8.contains(0x1B) else { return "\u{1B}[\(code)m" + text + "\u{1B}[0m" }
        return "\u{1B}[\(code)m" + text.replacingOccurrences(of: "\u{1B}[0m", with: "\u{1B}[0m\u{1B}[\(code)m") + "\u{1B}[0m"
    }

    /// Word wrap by visible width; escape codes take no room. A word longer than the
    /// width stays whole on a line of its own (a path, a URL).
    func wrap(_ text: String, width: Int) -> [String] {
        var output: [String] = []
        for hardLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            var lineWidth = 0
            for word in hardLine.split(separator: " ", omittingEmptySubsequences: true) {
                let size = visibleWidth(String(word))
                if lineWidth > 0 && lineWidth + 1 + size > width {
                    output.append(line)
                    line = ""
                    lineWidth = 0
                }
                if lineWidth > 0 {
                    line += " "
                    lineWidth += 1
                }
                line += word
                lineWidth += size
            }
            output.append(line)
        }
        return output
    }

    // MARK: - Syntax tint

    static let keywords: [String: Set<String>] = [
        "sh": [
            "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac", "in", "function",
            "export", "local", "return", "exit", "trap", "set", "cd", "echo", "exec",
        ],
        "swift": [
            "func", "let", "var", "if", "else", "guard", "return", "throw", "throws", "try", "catch", "do", "for", "in",
            "while", "switch", "case", "default", "struct", "enum", "extension", "protocol", "import", "public", "private",
            "static", "defer", "nil", "true", "false", "self", "init", "break", "continue", "where", "some", "any",
        ],
        "c": [
            "int", "char", "void", "long", "unsigned", "const", "static", "struct", "return", "if", "else", "for", "while",
            "do", "switch", "case", "default", "break", "continue", "sizeof", "include", "define", "typedef", "size_t",
        ],
    ]

    /// A light tint, line by line: comments dim, strings green, keywords magenta, numbers
    /// yellow. It is a reading aid, not a parser: a `#` inside a string may start a comment.
    func tint(_ line: String, language: String) -> String {
        let language = language == "bash" || language == "console" ? "sh" : language
        guard colors, let keywords = Self.keywords[language] else { return line }
        let comment = language == "sh" ? "#" : "//"
        var output = ""
        var word = ""
        var index = line.startIndex
        func flushWord() {
            guard !word.isEmpty else { return }
            if keywords.contains(word) {
                output += "\u{1B}[35m" + word + "\u{1B}[0m"
            } else if word.first?.isNumber == true {
                output += "\u{1B}[33m" + word + "\u{1B}[0m"
            } else {
                output += word
            }
            word = ""
        }
        while index < line.endIndex {
            let character = line[index]
            if line[index...].hasPrefix(comment), language != "sh" || word.isEmpty {
                flushWord()
                output += "\u{1B}[2m" + line[index...] + "\u{1B}[0m"
                return output
            }
            if character == "\"" || (character == "'" && language != "swift") {
                flushWord()
                var end = line.index(after: index)
                while end < line.endIndex, line[end] != character {
                    if line[end] == "\\", language != "sh" || character == "\"" {
                        end = line.index(after: end)
                        if end == line.endIndex { break }
                    }
                    end = line.index(after: end)
                }
                if end < line.endIndex { end = line.index(after: end) }
                output += "\u{1B}[32m" + line[index..<end] + "\u{1B}[0m"
                index = end
                continue
            }
            if character.isLetter || character.isNumber || character == "_" {
                word.append(character)
            } else {
                flushWord()
                output.append(character)
            }
            index = line.index(after: index)
        }
        flushWord()
        return output
    }
}

/// Columns a string takes on a terminal: characters, not counting escape sequences.
func visibleWidth(_ text: String) -> Int {
    var count = 0
    var inEscape = false
    for scalar in text.unicodeScalars {
        if inEscape {
            if (0x40...0x7E).contains(scalar.value) && scalar != "[" { inEscape = false }
            continue
        }
        if scalar == "\u{1B}" {
            inEscape = true
            continue
        }
        // Combining marks and variation selectors take no column of their own.
        if scalar.properties.generalCategory == .nonspacingMark || (0xFE00...0xFE0F).contains(scalar.value) { continue }
        count += 1
    }
    return count
}
