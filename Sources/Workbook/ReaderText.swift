import Glibc

/// The reader's text model: a line is a list of spans, each with one style. The lesson
/// comes from `MarkdownRenderer`, which writes SGR escape codes for a terminal; the
/// reader turns them into spans once, so the page layout (and `--plain`, which never
/// sees this code) stays the renderer's alone, and ncurses gets attributes, not escapes.
public struct ReaderStyle: Sendable, Equatable {
    public enum Color: Int, Sendable {
        case red = 1
        case green, yellow, blue, magenta, cyan
    }
    public var bold = false
    public var dim = false
    public var italic = false
    public var underline = false
    public var reverse = false
    public var color: Color?

    public init(bold: Bool = false, dim: Bool = false, reverse: Bool = false, color: Color? = nil) {
        self.bold = bold
        self.dim = dim
        self.reverse = reverse
        self.color = color
    }

    public static let plain = ReaderStyle()
}

public struct ReaderSpan: Sendable, Equatable {
    public var text: String
    public var style: ReaderStyle

    public init(_ text: String, _ style: ReaderStyle = .plain) {
        self.text = text
        self.style = style
    }
}

public struct ReaderLine: Sendable, Equatable {
    public var spans: [ReaderSpan]

    public init(_ spans: [ReaderSpan] = []) { self.spans = spans }
    public init(_ text: String, _ style: ReaderStyle = .plain) { spans = text.isEmpty ? [] : [ReaderSpan(text, style)] }

    public var text: String { spans.map(\.text).joined() }

    /// One rendered line (SGR codes in it) as spans. Codes other than SGR, and
    /// control characters, are dropped: a child's output may hold any of them. It works
    /// on the UTF-8 bytes (every byte of an escape code and of a control character is
    /// ASCII, so no character is ever split): a lesson has hundreds of lines, and the
    /// reader must open in well under 150 ms.
    public init(sgr line: String) {
        var spans: [ReaderSpan] = []
        var style = ReaderStyle.plain
        var text: [UInt8] = []
        let bytes = Array(line.utf8)
        func flush() {
            if !text.isEmpty { spans.append(ReaderSpan(String(decoding: text, as: UTF8.self), style)) }
            text.removeAll(keepingCapacity: true)
        }
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == 0x1B {
                guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else {
                    // Not a CSI (an OSC title, a charset switch): skip to its end.
                    if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                        while index < bytes.count, bytes[index] != 0x07, bytes[index] != 0x1B { index += 1 }
                    }
                    index += 1
                    continue
                }
                index += 1
                let start = index
                while index < bytes.count, !(0x40...0x7E).contains(bytes[index]) { index += 1 }
                let parameters = String(decoding: bytes[start..<min(index, bytes.count)], as: UTF8.self)
                let final = index < bytes.count ? bytes[index] : 0
                index += 1
                guard final == UInt8(ascii: "m") else { continue }
                flush()
                style.apply(sgr: parameters)
                continue
            }
            if byte == 0x09 {
                let column = spans.reduce(0) { $0 + columns(of: $1.text) } + columns(of: String(decoding: text, as: UTF8.self))
                text += Array(repeating: UInt8(ascii: " "), count: 8 - column % 8)
                continue
            }
            if byte < 0x20 || byte == 0x7F { continue }
            text.append(byte)
        }
        flush()
        self.spans = spans
    }

    /// The line cut or padded to exactly `width` columns. A cut line ends in a dim `›`,
    /// so a code line wider than the pane does not pass for a complete one.
    public func fitted(to width: Int) -> ReaderLine {
        guard width > 0 else { return ReaderLine() }
        var output: [ReaderSpan] = []
        var used = 0
        let total = spans.reduce(0) { $0 + columns(of: $1.text) }
        let room = total > width ? width - 1 : width
        for span in spans {
            var piece = ""
            for character in span.text {
                let size = columns(of: character)
                if used + size > room { break }
                piece.append(character)
                used += size
            }
            if !piece.isEmpty { output.append(ReaderSpan(piece, span.style)) }
            if used >= room { break }
        }
        if total > width {
            output.append(ReaderSpan("›", ReaderStyle(dim: true)))
            used += 1
        }
        if used < width { output.append(ReaderSpan(String(repeating: " ", count: width - used))) }
        return ReaderLine(output)
    }

    /// The same line with the characters in `ranges` (offsets in `text`'s characters)
    /// drawn in reverse video: search matches.
    public func marking(_ ranges: [Range<Int>]) -> ReaderLine {
        guard !ranges.isEmpty else { return self }
        var output: [ReaderSpan] = []
        var offset = 0
        for span in spans {
            var current = ""
            var currentMarked: Bool?
            for character in span.text {
                let marked = ranges.contains { $0.contains(offset) }
                if currentMarked != nil && currentMarked != marked {
                    var style = span.style
                    if currentMarked == true { style.reverse.toggle() }
                    output.append(ReaderSpan(current, style))
                    current = ""
                }
                currentMarked = marked
                current.append(character)
                offset += 1
            }
            if !current.isEmpty {
                var style = span.style
                if currentMarked == true { style.reverse.toggle() }
                output.append(ReaderSpan(current, style))
            }
        }
        return ReaderLine(output)
    }
}

extension ReaderStyle {
    mutating func apply(sgr parameters: String) {
        let codes = parameters.split(separator: ";", omittingEmptySubsequences: false).map { Int($0) ?? 0 }
        for code in codes.isEmpty ? [0] : codes {
            switch code {
            case 0: self = .plain
            case 1: bold = true
            case 2: dim = true
            case 3: italic = true
            case 4: underline = true
            case 7: reverse = true
            case 22:
                bold = false
                dim = false
            case 23: italic = false
            case 24: underline = false
            case 27: reverse = false
            case 31, 91: color = .red
            case 32, 92: color = .green
            case 33, 93: color = .yellow
            case 34, 94: color = .blue
            case 35, 95: color = .magenta
            case 36, 96: color = .cyan
            case 30, 37, 39, 90, 97: color = nil
            default: break
            }
        }
    }
}

/// Columns a character takes on a terminal: none for a combining mark, two for the
/// wide scripts and emoji, one for the rest (wcwidth needs _XOPEN_SOURCE, which
/// Glibc's Swift module does not define; the lessons need no more than this).
func columns(of character: Character) -> Int {
    var size = 0
    for scalar in character.unicodeScalars {
        let value = scalar.value
        if scalar.properties.generalCategory == .nonspacingMark || (0xFE00...0xFE0F).contains(value) || value == 0x200D { continue }
        let wide =
            (0x1100...0x115F).contains(value) || (0x2E80...0xA4CF).contains(value) || (0xAC00...0xD7A3).contains(value)
            || (0xF900...0xFAFF).contains(value) || (0xFE30...0xFE4F).contains(value) || (0xFF00...0xFF60).contains(value)
            || (0xFFE0...0xFFE6).contains(value) || (0x1F300...0x1F64F).contains(value) || (0x1F900...0x1F9FF).contains(value)
            || (0x20000...0x3FFFD).contains(value)
        size += wide ? 2 : 1
    }
    return size
}

func columns(of text: String) -> Int { text.reduce(0) { $0 + columns(of: $1) } }

/// `text` cut to `width` columns, with `…` when it was longer.
func truncated(_ text: String, to width: Int) -> String {
    guard width > 0 else { return "" }
    if columns(of: text) <= width { return text }
    var output = ""
    var used = 0
    for character in text {
        let size = columns(of: character)
        if used + size > width - 1 { break }
        output.append(character)
        used += size
    }
    return output + "…"
}
