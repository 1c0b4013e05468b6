import CCmarkGFM

/// A lesson's Markdown as a tree, parsed once by cmark-gfm (CommonMark with GitHub's
/// tables): the reader renders it, the snippet tests and the VM take its ```sh blocks
/// from it, so all three agree on what a block is.
public indirect enum MarkdownBlock: Sendable, Equatable {
    case heading(level: Int, [MarkdownInline])
    case paragraph([MarkdownInline])
    /// `start` is the first number of an ordered list, nil for a bulleted one.
    case list(start: Int?, tight: Bool, items: [[MarkdownBlock]])
    case quote([MarkdownBlock])
    /// `line` is the opening fence's line (from 1); `closed` is false for a fence that runs
    /// to the end of its container. Indented code has an empty info and is closed.
    case code(info: String, text: String, line: Int, closed: Bool)
    case table(alignments: [MarkdownAlignment], header: [[MarkdownInline]], rows: [[[MarkdownInline]]])
    case html(String)
    case thematicBreak
}

public enum MarkdownAlignment: Sendable, Equatable {
    case none, left, center, right
}

public indirect enum MarkdownInline: Sendable, Equatable {
    case text(String)
    case code(String)
    case emphasis([MarkdownInline])
    case strong([MarkdownInline])
    case strikethrough([MarkdownInline])
    case link(url: String, [MarkdownInline])
    case html(String)
    case softBreak
    case lineBreak
}

public enum Markdown {
    /// The blocks of a document. cmark-gfm accepts any input: there is no parse error.
    public static func parse(_ text: String) -> [MarkdownBlock] {
        // The table and strikethrough syntaxes act only on a parser they are attached to.
        _ = extensionsRegistered
        guard let parser = cmark_parser_new(CMARK_OPT_DEFAULT) else { return [] }
        defer { cmark_parser_free(parser) }
        for name in ["table", "strikethrough"] {
            if let extensionSyntax = cmark_find_syntax_extension(name) {
                cmark_parser_attach_syntax_extension(parser, extensionSyntax)
            }
        }
        let bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                cmark_parser_feed(parser, chars.baseAddress, chars.count)
            }
        }
        guard let document = cmark_parser_finish(parser) else { return [] }
        defer { cmark_node_free(document) }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return Converter(lines: lines).blocks(under: document)
    }

    /// cmark-gfm registers its core extensions in a global list, guarded by a plain
    /// static flag: two threads parsing at once (the tests do) could both append. A
    /// Swift static is initialised exactly once, whoever gets there first.
    static let extensionsRegistered: Void = cmark_gfm_core_extensions_ensure_registered()

    /// The text of inlines without their markup: link text, code spans' contents.
    public static func plainText(_ inlines: [MarkdownInline]) -> String {
        inlines.map { inline in
            switch inline {
            case .text(let text), .code(let text), .html(let text): return text
            case .emphasis(let children), .strong(let children), .strikethrough(let children), .link(_, let children):
                return plainText(children)
            case .softBreak: return " "
            case .lineBreak: return "\n"
            }
        }.joined()
    }
}

private struct Converter {
    let lines: [Substring]

    func children(of node: OpaquePointer) -> [OpaquePointer] {
        var result: [OpaquePointer] = []
        var child = cmark_node_first_child(node)
        while let current = child {
            result.append(current)
            child = cmark_node_next(current)
        }
        return result
    }

    func type(_ node: OpaquePointer) -> String {
        cmark_node_get_type_string(node).map { String(cString: $0) } ?? ""
    }

    func literal(_ node: OpaquePointer) -> String {
        cmark_node_get_literal(node).map { String(cString: $0) } ?? ""
    }

    func blocks(under node: OpaquePointer) -> [MarkdownBlock] {
        children(of: node).compactMap(block)
    }

    func block(_ node: OpaquePointer) -> MarkdownBlock? {
        switch type(node) {
        case "heading":
            return .heading(level: Int(cmark_node_get_heading_level(node)), inlines(under: node))
        case "paragraph":
            return .paragraph(inlines(under: node))
        case "list":
            let ordered = cmark_node_get_list_type(node) == CMARK_ORDERED_LIST
            return .list(
                start: ordered ? Int(cmark_node_get_list_start(node)) : nil, tight: cmark_node_get_list_tight(node) != 0,
                items: children(of: node).map(blocks(under:)))
        case "block_quote":
            return .quote(blocks(under: node))
        case "code_block":
            return code(node)
        case "table":
            return table(node)
        case "html_block":
            return .html(literal(node))
        case "thematic_break":
            return .thematicBreak
        default:
            let nested = blocks(under: node)
            return nested.isEmpty ? nil : .quote(nested)
        }
    }

    func code(_ node: OpaquePointer) -> MarkdownBlock {
        var text = literal(node)
        if text.hasSuffix("\n") { text.removeLast() }
        let info = cmark_node_get_fence_info(node).map { String(cString: $0) } ?? ""
        var length: Int32 = 0
        var offset: Int32 = 0
        var character: CChar = 0
        let fenced = cmark_node_get_fenced(node, &length, &offset, &character) != 0
        let start = Int(cmark_node_get_start_line(node))
        var closed = true
        if fenced {
            // cmark ends an unclosed fence with its container; the last line of a
            // closed one is a closing fence of the same character.
            let end = Int(cmark_node_get_end_line(node))
            let last = end >= 1 && end <= lines.count && end != start ? lines[end - 1].drop { $0 == " " || $0 == ">" } : ""
            let fence = String(repeating: String(UnicodeScalar(UInt8(bitPattern: character))), count: 3)
            closed = last.hasPrefix(fence)
        }
        return .code(info: info.trimmingCharacters(), text: text, line: start, closed: closed)
    }

    func table(_ node: OpaquePointer) -> MarkdownBlock {
        let columns = Int(cmark_gfm_extensions_get_table_columns(node))
        var alignments: [MarkdownAlignment] = []
        if let raw = cmark_gfm_extensions_get_table_alignments(node) {
            for column in 0..<columns {
                switch UInt8(raw[column]) {
                case UInt8(ascii: "l"): alignments.append(.left)
                case UInt8(ascii: "c"): alignments.append(.center)
                case UInt8(ascii: "r"): alignments.append(.right)
                default: alignments.append(.none)
                }
            }
        }
        var header: [[MarkdownInline]] = []
        var rows: [[[MarkdownInline]]] = []
        for row in children(of: node) {
            let cells = children(of: row).map(inlines(under:))
            if cmark_gfm_extensions_get_table_row_is_header(row) != 0 {
                header = cells
            } else {
                rows.append(cells)
            }
        }
        return .table(alignments: alignments, header: header, rows: rows)
    }

    func inlines(under node: OpaquePointer) -> [MarkdownInline] {
        children(of: node).compactMap(inline)
    }

    func inline(_ node: OpaquePointer) -> MarkdownInline? {
        switch type(node) {
        case "text": return .text(literal(node))
        case "code": return .code(literal(node))
        case "emph": return .emphasis(inlines(under: node))
        case "strong": return .strong(inlines(under: node))
        case "strikethrough": return .strikethrough(inlines(under: node))
        case "link", "image":
            return .link(url: cmark_node_get_url(node).map { String(cString: $0) } ?? "", inlines(under: node))
        case "html_inline": return .html(literal(node))
        case "softbreak": return .softBreak
        case "linebreak": return .lineBreak
        default:
            let nested = inlines(under: node)
            return nested.isEmpty ? nil : .emphasis(nested)
        }
    }
}

extension String {
    fileprivate func trimmingCharacters() -> String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return String(text)
    }
}
