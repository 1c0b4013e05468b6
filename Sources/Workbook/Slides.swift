import Foundation

/// `workbook slides AGENDA --out DIR`: an offline slide deck for one of the workshop's
/// agendas (docs/workshop/agenda-*.md). Each agenda row that names "Chapter N" becomes
/// that chapter's slides: a title slide with the row's minutes and objectives, then one
/// slide per `##` section of the lesson, rendered by the HTML export's renderer (the
/// box-drawn diagrams included, as <pre>). Breaks and the other rows get a slide each.
///
/// Plain HTML, the export's stylesheet plus a few rules, and deck.js (ours, 40 lines):
/// arrow keys, Page Up/Down, space, Home/End, and #N in the address. Nothing is loaded
/// from the network; without script every slide shows, one under another (handouts).
/// The chapter list comes from the catalog: a chapter whose lesson is not written yet
/// gets a "demo with the reference" slide, and its own slides once it is.
public struct SlideDeck {
    public let repository: Repository

    public init(repository: Repository) { self.repository = repository }

    /// One row of an agenda's table.
    public struct Row: Equatable, Sendable {
        public let time: String
        public let block: String
        public let minutes: String
        public let objectives: String
        /// The chapter the block names ("Chapter 3 — …"), if any.
        public var chapter: Int? {
            guard let range = block.range(of: #"Chapter ([0-9]+)"#, options: .regularExpression) else { return nil }
            return Int(block[range].dropFirst("Chapter ".count))
        }
    }

    /// The agenda's title (its `# ` line), and its table rows in order (every table: a
    /// two-day agenda has one per day, each "## Day …" heading becoming a row too).
    public static func agenda(_ markdown: String) -> (title: String, rows: [Row]) {
        var title = "Workshop"
        var rows: [Row] = []
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# ") {
                title = String(line.dropFirst(2))
            } else if line.hasPrefix("## ") {
                rows.append(Row(time: "", block: String(line.dropFirst(3)), minutes: "", objectives: ""))
            } else if line.hasPrefix("|") {
                let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                guard cells.count >= 4, cells[0] != "Time", !cells[0].hasPrefix("---") else { continue }
                rows.append(Row(time: cells[0], block: cells[1], minutes: cells[2], objectives: cells[3]))
            }
        }
        return (title, rows)
    }

    /// A lesson's body cut at its `## ` headings (not inside a code block): the text
    /// before the first heading (the chapter's opening), then (heading, markdown) pairs.
    static func sections(_ body: String) -> (opening: String, sections: [(title: String, markdown: String)]) {
        var opening: [Substring] = []
        var sections: [(title: String, lines: [Substring])] = []
        var fenced = false
        for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { fenced.toggle() }
            if !fenced && line.hasPrefix("## ") {
                sections.append((String(line.dropFirst(3)), []))
            } else if sections.isEmpty {
                if !line.hasPrefix("# ") { opening.append(line) }
            } else {
                sections[sections.count - 1].lines.append(line)
            }
        }
        return (
            opening.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines),
            sections.map { ($0.title, $0.lines.joined(separator: "\n")) }
        )
    }

    /// Writes index.html, style.css and deck.js into `directory`; returns the number of slides.
    @discardableResult
    public func write(agenda markdown: String, to directory: String) throws -> Int {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (title, rows) = Self.agenda(markdown)
        guard rows.contains(where: { $0.chapter != nil }) else {
            throw WorkbookError("slides: the agenda has no table row naming a chapter (\"| 0:10 | Chapter 0 — … | 25 | … |\")")
        }
        var slides: [String] = []
        func slide(_ kind: String, _ html: String) { slides.append("<section class=\"slide \(kind)\">\n\(html)</section>\n") }
        let escaped = HTMLExport.escaped
        // An agenda's cells are Markdown too (`workbook` in backquotes): rendered inline.
        func inline(_ text: String) -> String {
            var html = HTMLExport.html(text).trimmingCharacters(in: .whitespacesAndNewlines)
            if html.hasPrefix("<p>") && html.hasSuffix("</p>") { html = String(html.dropFirst(3).dropLast(4)) }
            return html
        }
        slide(
            "title",
            "<h1>Containers from Scratch, in Swift</h1>\n<p class=\"subtitle\">\(escaped(title))</p>\n<table>\n<tr><th>Time</th><th>Block</th><th>Minutes</th></tr>\n"
                + rows.filter { !$0.minutes.isEmpty }.map {
                    "<tr><td>\(escaped($0.time))</td><td>\(inline($0.block))</td><td>\(escaped($0.minutes))</td></tr>\n"
                }.joined() + "</table>\n<p class=\"note\">Timings are estimates until a pilot measures them.</p>\n")
        for row in rows {
            let heading = "<h1>\(inline(row.block))</h1>\n"
            let meta =
                (row.minutes.isEmpty ? "" : "<p class=\"meta\">\(escaped(row.time)) · \(escaped(row.minutes)) minutes</p>\n")
                + (row.objectives.isEmpty ? "" : "<p class=\"objectives\">\(inline(row.objectives))</p>\n")
            guard let number = row.chapter else {
                slide(
                    row.minutes.isEmpty ? "day" : (row.block.hasPrefix("Break") || row.block.hasPrefix("Lunch") ? "break" : "plain"), heading + meta)
                continue
            }
            guard let chapter = ChapterCatalog.chapter(number), chapter.isAvailable(in: repository) else {
                slide(
                    "chapter",
                    heading + meta
                        + "<p>This chapter's lesson is not written yet in this copy of the workbook: show it with the reference runtime, <code>scratch</code>, and its issue's notes (docs/workshop/chapters.md).</p>\n"
                )
                continue
            }
            let lesson = try Lesson.load(chapter, from: repository)
            let (opening, sections) = Self.sections(lesson.body)
            slide("chapter", heading + meta + HTMLExport.html(opening))
            for section in sections {
                slide(
                    "content",
                    "<p class=\"crumb\">Chapter \(number) — \(escaped(chapter.title))</p>\n<h2>\(escaped(section.title))</h2>\n"
                        + HTMLExport.html(section.markdown))
            }
        }
        let numbered = slides.enumerated().map { index, text in
            text.replacingOccurrences(of: "<section class=", with: "<section id=\"s\(index + 1)\" class=")
        }
        let page = HTMLExport.document(title: title, body: numbered.joined() + "<script src=\"deck.js\"></script>\n")
            .replacingOccurrences(
                of: "<link rel=\"stylesheet\" href=\"style.css\">",
                with: "<link rel=\"stylesheet\" href=\"style.css\">\n<link rel=\"stylesheet\" href=\"deck.css\">")
        func save(_ name: String, _ text: String) throws {
            let path = directory + "/" + name
            do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw WorkbookError("slides: cannot write \(path): \(error.localizedDescription)")
            }
        }
        try save("style.css", HTMLExport.stylesheet)
        try save("deck.css", Self.stylesheet)
        try save("deck.js", Self.script)
        try save("index.html", page)
        return slides.count
    }

    /// Over the export's stylesheet: one slide a screen once deck.js runs.
    static let stylesheet = """
        body.deck { max-width: none; margin: 0; padding: 0; overflow: hidden; }
        body.deck .slide { display: none; box-sizing: border-box; width: 100vw; height: 100vh; overflow-y: auto;
                           padding: 3vh 6vw 6vh; font-size: 1.35rem; }
        body.deck .slide.current { display: block; }
        .slide { border-bottom: 1px solid var(--rule); padding: 2rem 0; }
        .slide.title h1, .slide.chapter h1, .slide.break h1, .slide.day h1 { font-size: 2.8rem; border: none; margin-top: 18vh; }
        .slide.break h1, .slide.day h1 { text-align: center; }
        .slide .subtitle { font-size: 1.6rem; color: var(--dim); }
        .slide .meta, .slide .crumb { color: var(--dim); font-size: 1rem; margin: 0; }
        .slide .objectives { font-size: 1.5rem; }
        .slide pre { font-size: 1.05rem; }
        #counter { position: fixed; right: 1.2rem; bottom: .8rem; color: var(--dim); font: 14px system-ui, sans-serif; }
        @media print { body.deck .slide { display: block; height: auto; page-break-after: always; } #counter { display: none; } }

        """

    /// Arrow keys, space, Page Up/Down, Home/End; the slide's number in the address.
    static let script = """
        // The deck: one <section class="slide"> shown at a time; the address says which (#3).
        (function () {
          var slides = Array.prototype.slice.call(document.querySelectorAll('.slide'));
          if (!slides.length) return;
          document.body.classList.add('deck');
          var counter = document.createElement('div');
          counter.id = 'counter';
          document.body.appendChild(counter);
          var current = 0;
          function show(index) {
            current = Math.max(0, Math.min(slides.length - 1, index));
            slides.forEach(function (slide, i) { slide.classList.toggle('current', i === current); });
            slides[current].scrollTop = 0;
            counter.textContent = (current + 1) + ' / ' + slides.length;
            document.body.setAttribute('data-slide', String(current + 1));
            if (location.hash !== '#' + (current + 1)) history.replaceState(null, '', '#' + (current + 1));
          }
          function fromHash() { var n = parseInt(location.hash.slice(1), 10); return isNaN(n) ? 0 : n - 1; }
          document.addEventListener('keydown', function (event) {
            var key = event.key;
            if (key === 'ArrowRight' || key === 'PageDown' || key === ' ' || key === 'ArrowDown' && event.altKey) { show(current + 1); }
            else if (key === 'ArrowLeft' || key === 'PageUp' || key === 'Backspace') { show(current - 1); }
            else if (key === 'Home') { show(0); }
            else if (key === 'End') { show(slides.length - 1); }
            else { return; }
            event.preventDefault();
          });
          window.addEventListener('hashchange', function () { show(fromHash()); });
          show(fromHash());
        })();

        """
}
