import CCmarkGFM
import Foundation

/// `workbook export --html DIR`: the lessons as static pages, for projecting in a
/// workshop and for handouts. One page per chapter, an index, one stylesheet; nothing
/// is fetched from anywhere (no web font, no script), so the pages work offline.
///
/// The HTML is cmark-gfm's own renderer over the same parse the terminal reader uses
/// (the same options, tables and strikethrough attached); code blocks get the reader's
/// tint, as classes instead of escape codes.
public struct HTMLExport {
    public let repository: Repository

    public init(repository: Repository) { self.repository = repository }

    /// Writes the pages into `directory` (made if missing); returns the files written.
    @discardableResult
    public func write(to directory: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let chapters = ChapterCatalog.all.filter { $0.isAvailable(in: repository) }
        var written: [String] = []
        func save(_ name: String, _ text: String) throws {
            let path = directory + "/" + name
            do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw WorkbookError("export: cannot write \(path): \(error.localizedDescription)")
            }
            written.append(path)
        }
        try save("style.css", Self.stylesheet)
        var index =
            "<h1>Containers from Scratch, in Swift</h1>\n<p>Build a container runtime, one kernel feature at a time.</p>\n<ol start=\"0\" class=\"chapters\">\n"
        for (position, chapter) in chapters.enumerated() {
            let lesson = try Lesson.load(chapter, from: repository)
            var body = Self.html(lesson.body)
            // Every hint layer but the last: the last is the reference itself, which the
            // workbook shows only once a chapter passed or was skipped.
            let shown = lesson.hints.dropLast()
            if !lesson.hints.isEmpty {
                body += "<section class=\"hints\">\n<h2>Hints</h2>\n"
                for (number, hint) in shown.enumerated() {
                    let text = hint.split(separator: "\n", omittingEmptySubsequences: false).drop { $0.hasPrefix("### ") }
                    body += "<details><summary>Hint \(number + 1)</summary>\n\(Self.html(text.joined(separator: "\n")))</details>\n"
                }
                body +=
                    "<p class=\"note\">The last hint, the reference itself, is in the workbook: <code>workbook hint \(chapter.number)</code>.</p>\n</section>\n"
            }
            var links = "<a href=\"index.html\">Contents</a>"
            if position > 0 {
                links =
                    "<a href=\"\(Self.page(chapters[position - 1]))\">← \(position == 0 ? "" : "Chapter \(chapters[position - 1].number)")</a> · "
                    + links
            }
            if position + 1 < chapters.count {
                links += " · <a href=\"\(Self.page(chapters[position + 1]))\">Chapter \(chapters[position + 1].number) →</a>"
            }
            let navigation = "<nav>\(links)</nav>\n"
            try save(
                Self.page(chapter),
                Self.document(title: "\(chapter.number). \(chapter.title)", body: navigation + "<main>\n" + body + "</main>\n" + navigation))
            index += "<li><a href=\"\(Self.page(chapter))\">\(Self.escaped(chapter.title))</a></li>\n"
        }
        index += "</ol>\n"
        try save("index.html", Self.document(title: "Containers from Scratch, in Swift", body: "<main>\n" + index + "</main>\n"))
        return written
    }

    /// 03-a-root-of-its-own.html for chapters/03-a-root-of-its-own.md.
    static func page(_ chapter: Chapter) -> String {
        ((chapter.file as NSString).lastPathComponent as NSString).deletingPathExtension + ".html"
    }

    /// Markdown to HTML by cmark-gfm, with the tint on code blocks and links between
    /// lessons pointed at their pages.
    public static func html(_ markdown: String) -> String {
        _ = Markdown.extensionsRegistered
        guard let parser = cmark_parser_new(CMARK_OPT_DEFAULT) else { return "" }
        defer { cmark_parser_free(parser) }
        for name in ["table", "strikethrough"] {
            if let extensionSyntax = cmark_find_syntax_extension(name) {
                cmark_parser_attach_syntax_extension(parser, extensionSyntax)
            }
        }
        let bytes = Array(markdown.utf8)
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { cmark_parser_feed(parser, $0.baseAddress, $0.count) }
        }
        guard let document = cmark_parser_finish(parser) else { return "" }
        defer { cmark_node_free(document) }
        // Without CMARK_OPT_UNSAFE, raw HTML in a lesson and javascript: links are left out.
        guard let rendered = cmark_render_html(document, CMARK_OPT_DEFAULT, cmark_parser_get_syntax_extensions(parser)) else { return "" }
        defer { free(rendered) }
        return tinted(relinked(String(cString: rendered)))
    }

    /// `<pre><code class="language-sh">` blocks get the terminal reader's tint, its
    /// escape codes turned into classes.
    static func tinted(_ html: String) -> String {
        guard
            let pattern = try? NSRegularExpression(
                pattern: "<pre><code class=\"language-([A-Za-z]+)\">(.*?)</code></pre>", options: [.dotMatchesLineSeparators])
        else { return html }
        let renderer = MarkdownRenderer(width: 80, colors: true)
        var result = ""
        var last = html.startIndex
        for match in pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
            guard let whole = Range(match.range, in: html), let languageRange = Range(match.range(at: 1), in: html),
                let codeRange = Range(match.range(at: 2), in: html)
            else { continue }
            let language = String(html[languageRange])
            let code = unescaped(String(html[codeRange]))
            let lines = code.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                classes(escaped(renderer.tint(String(line), language: language)))
            }
            result += html[last..<whole.lowerBound]
            result +=
                "<pre class=\"\(escaped(language))\"><code class=\"language-\(escaped(language))\">" + lines.joined(separator: "\n") + "</code></pre>"
            last = whole.upperBound
        }
        return result + html[last...]
    }

    /// The reader's escape codes as span classes: keyword, number, comment, string.
    static func classes(_ text: String) -> String {
        text.replacingOccurrences(of: "\u{1B}[35m", with: "<span class=\"k\">")
            .replacingOccurrences(of: "\u{1B}[33m", with: "<span class=\"n\">")
            .replacingOccurrences(of: "\u{1B}[2m", with: "<span class=\"c\">")
            .replacingOccurrences(of: "\u{1B}[32m", with: "<span class=\"s\">")
            .replacingOccurrences(of: "\u{1B}[0m", with: "</span>")
    }

    /// `href="04-limits-cgroups.md"` (a link to another lesson) to its page.
    static func relinked(_ html: String) -> String {
        guard let pattern = try? NSRegularExpression(pattern: "href=\"(?:\\.\\./chapters/|chapters/)?([0-9]{2}-[a-z0-9-]+)\\.md(#[^\"]*)?\"") else {
            return html
        }
        return pattern.stringByReplacingMatches(in: html, range: NSRange(html.startIndex..., in: html), withTemplate: "href=\"$1.html$2\"")
    }

    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func unescaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
    }

    static func document(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escaped(title))</title>
        <link rel="stylesheet" href="style.css">
        </head>
        <body>
        \(body)</body>
        </html>

        """
    }

    /// System fonts only: a page must render with no network.
    static let stylesheet = """
        :root { --ink: #1d1f21; --paper: #fdfdfc; --dim: #6a6f75; --rule: #d8dadd; --code: #f3f4f5;
                --k: #8e3bb3; --s: #2b7a3b; --n: #a05a00; --c: #7a7f85; }
        @media (prefers-color-scheme: dark) {
          :root { --ink: #e3e5e8; --paper: #17191b; --dim: #9aa0a6; --rule: #3a3d41; --code: #222528;
                  --k: #d095f0; --s: #8fd19e; --n: #f0b36a; --c: #8a9096; }
        }
        html { background: var(--paper); color: var(--ink); }
        body { font: 17px/1.55 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
               max-width: 52rem; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; }
        h1, h2, h3 { line-height: 1.25; }
        h1 { font-size: 2rem; border-bottom: 2px solid var(--rule); padding-bottom: .3rem; }
        h2 { margin-top: 2.2rem; border-bottom: 1px solid var(--rule); padding-bottom: .2rem; }
        a { color: inherit; text-decoration-color: var(--dim); }
        nav { color: var(--dim); font-size: .95rem; margin: .5rem 0 1rem; }
        code, pre { font: 15px/1.45 ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; }
        :not(pre) > code { background: var(--code); padding: .1em .3em; border-radius: 3px; }
        pre { background: var(--code); border-left: 3px solid var(--rule); padding: .8rem 1rem;
              overflow-x: auto; border-radius: 3px; }
        pre.sh { border-left-color: var(--s); }
        pre.output { border-left-color: var(--dim); color: var(--dim); }
        .k { color: var(--k); } .s { color: var(--s); } .n { color: var(--n); } .c { color: var(--c); font-style: italic; }
        table { border-collapse: collapse; margin: 1rem 0; font-size: .95rem; }
        th, td { border: 1px solid var(--rule); padding: .35rem .6rem; vertical-align: top; text-align: left; }
        th { background: var(--code); }
        td code { white-space: nowrap; }
        blockquote { margin: 1rem 0; padding: .1rem 1rem; border-left: 4px solid var(--rule); color: var(--dim); }
        details { margin: .5rem 0; padding: .3rem .8rem; border: 1px solid var(--rule); border-radius: 3px; }
        summary { cursor: pointer; font-weight: 600; }
        .note { color: var(--dim); }
        ol.chapters li { margin: .3rem 0; }
        @media print { body { max-width: none; font-size: 12pt; } nav, .hints { display: none; }
                       pre { white-space: pre-wrap; border: 1px solid var(--rule); } }

        """
}
