import Foundation

/// A lesson laid out for the reader's pane: the renderer's lines as spans, with where
/// each top-level block starts (a place that survives a new width), where the headings
/// are (n/p) and where each ```sh snippet is drawn (r).
public struct ReaderDocument: Sendable {
    public struct Heading: Sendable {
        public let line: Int
        public let level: Int
        public let title: String
    }

    public struct Snippet: Sendable {
        /// The lines of its frame, label to closing corner.
        public let lines: ClosedRange<Int>
        public let snippet: LessonSnippet
    }

    public let lines: [ReaderLine]
    /// The first line of each top-level block, in order.
    public let blockStarts: [Int]
    public let headings: [Heading]
    public let snippets: [Snippet]

    /// The lesson's body at `width` columns. The renderer always writes its escape codes
    /// here; whether they become colours is the screen's business (NO_COLOR).
    public init(markdown: String, width: Int, trailer: [String] = []) {
        let renderer = MarkdownRenderer(width: width, colors: true, minimumWidth: 20)
        var rendered: [String] = []
        var blockStarts: [Int] = []
        var headings: [Heading] = []
        // The renderer's own spacing: one blank line between blocks.
        for block in Markdown.parse(markdown) {
            let lines = renderer.lines(of: block, width: renderer.width)
            if lines.isEmpty { continue }
            if !rendered.isEmpty { rendered.append("") }
            blockStarts.append(rendered.count)
            if case .heading(let level, let inlines) = block {
                headings.append(Heading(line: rendered.count, level: level, title: Markdown.plainText(inlines)))
            }
            rendered += lines
        }
        if !trailer.isEmpty {
            rendered.append("")
            blockStarts.append(rendered.count)
            rendered += trailer
        }
        let lines = rendered.map(ReaderLine.init(sgr:))
        // The renderer labels every ```sh block "sh — run it", in document order, which
        // is the order LessonSnippets finds them in (lists and quotes included).
        var snippets: [Snippet] = []
        let found = LessonSnippets(markdown: markdown).snippets
        var index = 0
        var line = 0
        while line < lines.count, index < found.count {
            if lines[line].text.hasSuffix("╭─ sh — run it") {
                var end = line + 1
                while end < lines.count, !lines[end].text.hasSuffix("╰─") { end += 1 }
                snippets.append(Snippet(lines: line...min(end, lines.count - 1), snippet: found[index]))
                index += 1
                line = end
            }
            line += 1
        }
        self.lines = lines
        self.blockStarts = blockStarts
        self.headings = headings
        self.snippets = snippets
    }

    public init(message: [String]) {
        lines = message.map { ReaderLine($0) }
        blockStarts = [0]
        headings = []
        snippets = []
    }

    /// The block a line belongs to, and how far into it the line is.
    public func anchor(of line: Int) -> (block: Int, offset: Int) {
        guard let block = blockStarts.lastIndex(where: { $0 <= line }) else { return (0, 0) }
        return (block, line - blockStarts[block])
    }

    /// The line an anchor points to at this width (a block may have fewer lines now).
    public func line(of anchor: (block: Int, offset: Int)) -> Int {
        guard !blockStarts.isEmpty else { return 0 }
        let block = min(max(anchor.block, 0), blockStarts.count - 1)
        let end = block + 1 < blockStarts.count ? blockStarts[block + 1] - 1 : lines.count
        return min(blockStarts[block] + max(anchor.offset, 0), max(end - 1, blockStarts[block]))
    }

    /// Lines whose text holds `query` (any case), each with the character ranges found.
    public func matches(of query: String) -> [(line: Int, ranges: [Range<Int>])] {
        guard !query.isEmpty else { return [] }
        var found: [(line: Int, ranges: [Range<Int>])] = []
        for (number, line) in lines.enumerated() {
            let ranges = Self.ranges(of: query, in: line.text)
            if !ranges.isEmpty { found.append((number, ranges)) }
        }
        return found
    }

    static func ranges(of query: String, in text: String) -> [Range<Int>] {
        let haystack = Array(text.lowercased())
        let needle = Array(query.lowercased())
        // lowercased() keeps the count of characters for the lessons' scripts; a text
        // where it does not (a rare ligature) is searched but not marked.
        guard !needle.isEmpty, haystack.count >= needle.count, haystack.count == text.count else {
            return text.lowercased().contains(query.lowercased()) && haystack.count != text.count ? [0..<0] : []
        }
        var ranges: [Range<Int>] = []
        var start = 0
        while start + needle.count <= haystack.count {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) {
                ranges.append(start..<(start + needle.count))
                start += needle.count
            } else {
                start += 1
            }
        }
        return ranges
    }
}
