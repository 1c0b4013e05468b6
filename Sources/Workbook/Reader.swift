import CNcurses
import Checks
import Foundation
import Glibc

/// The full-screen reader (`workbook` on a terminal, `workbook read N`): the chapter
/// list with each chapter's state beside the lesson, and a pane below for what the
/// learner asks for — the checks, a hint, a snippet's output, the x-ray, the keys.
///
/// One thread, one loop: poll(2) over the keyboard and the pipes of the programs it
/// runs (ReaderJob), then draw. Nothing it runs can block it; ncurses diffs each frame
/// against the last, so drawing everything every time costs the terminal only what
/// changed.
public final class Reader {
    enum JobKind: Hashable { case checks, snippet, xray }

    enum Pane {
        case help
        case hint(index: Int, count: Int, markdown: String)
        case job(JobKind)
        case note(title: String, lines: [String])
    }

    let repository: Repository
    let available: Set<Int>
    var colors = false
    var chapter: Int
    var document = ReaderDocument(message: [])
    var documentWidth = -1
    var top = 0
    var places: ReaderPlaces
    var progress: Progress
    var pane: Pane?
    var paneTop = 0
    /// The pane shows the newest lines while a program runs, until the learner scrolls it.
    var paneFollows = true
    var paneFocused = false
    var jobs: [JobKind: ReaderJob] = [:]
    var jobChapter: [JobKind: Int] = [:]
    var snippetRunning: LessonSnippet?
    var checksRecorded = true
    var message: String?
    /// The search being typed, or nil.
    var prompt: String?
    var query = ""
    var matchLine: Int?
    var lastDigit: (digit: Int, at: Date)?
    var quitting = false
    /// Rows of the lesson on screen and the pane's, from the last frame.
    var mainRows = 20
    var paneRows = 0
    var paneWidth = 78

    init(repository: Repository, chapter: Int?) {
        self.repository = repository
        let available = Set(ChapterCatalog.all.filter { $0.isAvailable(in: repository) }.map(\.number))
        self.available = available
        places = ReaderPlaces.load(from: repository)
        let progress = Progress.load(from: repository)
        self.progress = progress
        let numbers = ChapterCatalog.all.map(\.number)
        if let chapter {
            self.chapter = chapter
        } else if let last = places.chapter, numbers.contains(last) {
            self.chapter = last
        } else {
            self.chapter =
                ChapterCatalog.all.first { chapter in
                    available.contains(chapter.number) && progress.state(of: chapter.number) != .passed
                        && progress.state(of: chapter.number) != .skipped
                }?.number ?? 0
        }
    }

    /// Runs the reader until the learner quits; true when it ran (false: no terminal
    /// ncurses could open, so the caller prints instead).
    public static func run(repository: Repository, chapter: Int?) -> Bool {
        guard let term = ProcessInfo.processInfo.environment["TERM"], !term.isEmpty, term != "dumb" else { return false }
        // ncursesw draws UTF-8 (box characters, ✓) only under a UTF-8 locale; a shell
        // with none set (LANG unset: the C locale) gets C.UTF-8, which glibc always has.
        setlocale(LC_ALL, "")
        if String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" { setlocale(LC_CTYPE, "C.UTF-8") }
        guard cn_newterm() != nil else { return false }
        let reader = Reader(repository: repository, chapter: chapter)
        reader.start()
        reader.loop()
        reader.finish()
        return true
    }

    func start() {
        raw()
        noecho()
        keypad(cn_stdscr(), true)
        nodelay(cn_stdscr(), true)
        curs_set(0)
        set_escdelay(25)
        colors = has_colors() && ProcessInfo.processInfo.environment["NO_COLOR"].map(\.isEmpty) ?? true
        if colors {
            start_color()
            use_default_colors()
            let palette: [ReaderStyle.Color: Int32] = [
                .red: Int32(COLOR_RED), .green: Int32(COLOR_GREEN), .yellow: Int32(COLOR_YELLOW), .blue: Int32(COLOR_BLUE),
                .magenta: Int32(COLOR_MAGENTA), .cyan: Int32(COLOR_CYAN),
            ]
            for (color, value) in palette { init_pair(Int16(color.rawValue), Int16(value), -1) }
        }
        open(chapter: chapter)
    }

    func finish() {
        savePlace()
        let stopped = jobs.values.filter(\.running)
        for job in stopped { job.stop() }
        endwin()
        if !stopped.isEmpty {
            print("workbook: stopped what was still running (\(stopped.map(\.title).joined(separator: ", "))).")
        }
    }

    // MARK: - The loop

    func loop() {
        while !quitting {
            draw()
            var descriptors = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0)]
            for job in jobs.values { if let fd = job.pollDescriptor { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) } }
            // A resize (SIGWINCH) interrupts poll when it lands on this thread; the
            // timeout also keeps a running program's clock moving on screen.
            let busy = jobs.values.contains { $0.running }
            _ = poll(&descriptors, nfds_t(descriptors.count), busy ? 250 : 500)
            for job in jobs.values { job.service() }
            noticeFinishedJobs()
            while true {
                let key = getch()
                if key == ERR { break }
                handle(key)
                if quitting { break }
            }
        }
    }

    func noticeFinishedJobs() {
        if !checksRecorded, let checks = jobs[.checks], !checks.running {
            checksRecorded = true
            progress = Progress.load(from: repository)
            if case .job(.checks) = pane {
            } else {
                message = "checks finished (\(checks.status == 0 ? "all passed" : "not all passed")): c shows them"
            }
        }
    }

    // MARK: - Chapters and places

    func open(chapter number: Int) {
        savePlace()
        chapter = number
        documentWidth = -1
        matchLine = nil
        layOut(width: max(documentWidth, textWidth(columns: Int(cn_cols()))))
        if let place = places.places[String(number)] {
            top = document.line(of: (place.block, place.offset))
        } else {
            top = 0
        }
    }

    func savePlace() {
        guard documentWidth > 0 else { return }
        let anchor = document.anchor(of: top)
        places.places[String(chapter)] = ReaderPlaces.Place(block: anchor.block, offset: anchor.offset)
        places.chapter = chapter
        places.save(to: repository)
    }

    func layOut(width: Int) {
        guard width != documentWidth else { return }
        let anchor = documentWidth > 0 ? document.anchor(of: top) : nil
        documentWidth = width
        guard let entry = ChapterCatalog.chapter(chapter) else { return }
        if !available.contains(chapter) {
            document = ReaderDocument(message: [
                "Chapter \(chapter) — \(entry.title)", "", "This chapter is not written yet.",
                "] and [ move to the next and previous chapter; q quits.",
            ])
        } else if let lesson = try? Lesson.load(entry, from: repository) {
            let hints = lesson.hints.isEmpty ? [] : ["\u{1B}[2mHints: \(lesson.hints.count) layers; h shows the next.\u{1B}[0m"]
            document = ReaderDocument(markdown: lesson.body, width: width, trailer: hints)
        } else {
            document = ReaderDocument(message: ["cannot read \(entry.file)"])
        }
        if let anchor { top = document.line(of: anchor) }
    }

    func textWidth(columns: Int) -> Int { columns - sidebarWidth(columns: columns) - 2 }
    func sidebarWidth(columns: Int) -> Int { columns >= 100 ? 30 : 6 }

    // MARK: - Drawing

    func attributes(_ style: ReaderStyle) -> attr_t {
        var value = cn_normal()
        if style.bold { value |= cn_bold() }
        if style.dim { value |= cn_dim() }
        if style.italic { value |= cn_italic() }
        if style.underline { value |= cn_underline() }
        if style.reverse { value |= cn_reverse() }
        if colors, let color = style.color { value |= cn_color_pair(Int32(color.rawValue)) }
        return value
    }

    func put(_ row: Int, _ column: Int, _ line: ReaderLine, width: Int) {
        guard width > 0 else { return }
        move(Int32(row), Int32(column))
        for span in line.fitted(to: width).spans {
            _ = cn_attrset(attributes(span.style))
            addstr(span.text)
        }
        _ = cn_attrset(cn_normal())
    }

    func draw() {
        let height = Int(cn_lines())
        let width = Int(cn_cols())
        erase()
        guard width >= 40, height >= 12 else {
            put(0, 0, ReaderLine("Make the terminal at least 40×12 (q quits)."), width: width)
            refresh()
            return
        }
        let sidebar = sidebarWidth(columns: width)
        let textColumn = sidebar + 1
        layOut(width: textWidth(columns: width))
        paneRows = pane == nil ? 0 : max(6, (height - 2) * 2 / 5)
        mainRows = height - 2 - paneRows
        clampTop()

        // The title bar.
        let title = ChapterCatalog.chapter(chapter).map { "Chapter \($0.number) — \($0.title)" } ?? ""
        let maxTop = max(document.lines.count - mainRows, 0)
        let percent = maxTop == 0 ? 100 : top * 100 / maxTop
        let right = "\(percent)%  ? help "
        let bar = ReaderStyle(reverse: true)
        put(
            0, 0, ReaderLine([ReaderSpan(" workbook · " + truncated(title, to: width - 14 - right.count), ReaderStyle(bold: true, reverse: true))]),
            width: width)
        put(0, width - right.count, ReaderLine(right, bar), width: right.count)

        // The chapter list.
        for (index, entry) in ChapterCatalog.all.enumerated() where index + 1 < 1 + mainRows {
            let isOpen = entry.number == chapter
            let (mark, color) = stateMark(entry.number)
            let number = entry.number < 10 ? " \(entry.number)" : "\(entry.number)"
            var spans = [
                ReaderSpan(number + " ", ReaderStyle(bold: isOpen, dim: !available.contains(entry.number), reverse: isOpen)),
                ReaderSpan(mark, ReaderStyle(dim: color == nil, reverse: isOpen, color: color)),
            ]
            if sidebar > 6 {
                spans.append(
                    ReaderSpan(
                        " " + truncated(entry.title, to: sidebar - 6),
                        ReaderStyle(bold: isOpen, dim: !available.contains(entry.number), reverse: isOpen)))
            }
            put(1 + index, 0, ReaderLine(spans), width: sidebar - 1)
        }
        if sidebar > 6, ChapterCatalog.all.count + 3 < mainRows {
            let legend = ["✓ passed  ↷ skipped", "… in progress  · not yet"]
            for (index, line) in legend.enumerated() {
                put(ChapterCatalog.all.count + 2 + index, 0, ReaderLine(line, ReaderStyle(dim: true)), width: sidebar - 1)
            }
        }
        for row in 1..<(1 + mainRows) {
            put(row, sidebar - 1, ReaderLine("│", ReaderStyle(dim: true)), width: 1)
        }

        // The lesson.
        let selected = selectedSnippet()
        for row in 0..<mainRows {
            let number = top + row
            guard number < document.lines.count else { break }
            var line = document.lines[number]
            if !query.isEmpty { line = line.marking(ReaderDocument.ranges(of: query, in: line.text)) }
            if let selected, document.snippets[selected].lines.lowerBound == number {
                line.spans.append(ReaderSpan(" ◀ r runs this", ReaderStyle(bold: true, reverse: true)))
            }
            put(1 + row, textColumn + 1, line, width: documentWidth)
        }

        // The pane.
        if let pane {
            paneWidth = width - 2
            let (heading, lines) = paneContent(pane, width: paneWidth)
            let bodyRows = paneRows - 1
            let maxPaneTop = max(lines.count - bodyRows, 0)
            // A program's newest lines stay in view, and so does its verdict once it ends.
            if paneFollows, case .job = pane { paneTop = maxPaneTop }
            paneTop = min(max(paneTop, 0), maxPaneTop)
            let keys = paneFocused ? " Tab: back to the lesson · Esc closes " : " Tab: scroll here · Esc closes "
            let row = 1 + mainRows
            put(
                row, 0, ReaderLine("─ " + truncated(heading, to: width - keys.count - 4) + " ", ReaderStyle(bold: true, reverse: paneFocused)),
                width: width)
            let headingWidth = columns(of: "─ " + truncated(heading, to: width - keys.count - 4) + " ")
            if headingWidth + keys.count < width {
                put(
                    row, headingWidth, ReaderLine(String(repeating: "─", count: width - headingWidth - keys.count), ReaderStyle(dim: true)),
                    width: width - headingWidth - keys.count)
                put(row, width - keys.count, ReaderLine(keys, ReaderStyle(dim: true)), width: keys.count)
            }
            for index in 0..<bodyRows where paneTop + index < lines.count {
                put(row + 1 + index, 1, lines[paneTop + index], width: paneWidth)
            }
        }

        // The status line.
        let statusRow = height - 1
        if let prompt {
            put(statusRow, 0, ReaderLine([ReaderSpan("/", ReaderStyle(bold: true)), ReaderSpan(prompt + "▏")]), width: width)
        } else {
            let keys =
                width >= 100
                ? "q quit  ? help  ↑↓ space scroll  n/p section  ]/[ chapter  / search  c checks  h hint  r run  x x-ray"
                : "q quit  ? help  / search  n/p section  ]/[ chapter  c checks  h hint  r run  x x-ray"
            var status = message ?? keys
            if let checks = jobs[.checks], checks.running {
                if case .job(.checks) = pane {} else { status = "[checks \(checksDone(checks))] " + status }
            }
            put(statusRow, 0, ReaderLine(status, ReaderStyle(dim: message == nil)), width: width)
        }
        refresh()
    }

    func stateMark(_ number: Int) -> (String, ReaderStyle.Color?) {
        guard available.contains(number) else { return (" ", nil) }
        switch progress.state(of: number) {
        case .passed: return ("✓", .green)
        case .skipped: return ("↷", .yellow)
        case .inProgress: return ("…", .cyan)
        case .notStarted: return ("·", nil)
        }
    }

    func clampTop() {
        top = min(max(top, 0), max(document.lines.count - mainRows, 0))
    }

    /// The ```sh snippet `r` runs: the first one on screen.
    func selectedSnippet() -> Int? {
        document.snippets.firstIndex { $0.lines.upperBound >= top && $0.lines.lowerBound < top + mainRows }
    }

    // MARK: - The pane's content

    func paneContent(_ pane: Pane, width: Int) -> (String, [ReaderLine]) {
        switch pane {
        case .help:
            return ("keys", Self.help.map { ReaderLine(sgr: $0) })
        case .note(let title, let lines):
            return (title, lines.map { ReaderLine($0) })
        case .hint(let index, let count, let markdown):
            let rendered = MarkdownRenderer(width: width, colors: true, minimumWidth: 20).render(markdown)
            var lines = rendered.split(separator: "\n", omittingEmptySubsequences: false).map { ReaderLine(sgr: String($0)) }
            lines.append(ReaderLine())
            let more =
                index + 1 < count ? "h shows hint \(index + 2)" : "the last one (the reference); `workbook hint \(chapter) --reset` starts over"
            lines.append(ReaderLine("(hint \(index + 1) of \(count); \(more))", ReaderStyle(dim: true)))
            return ("hint \(index + 1) of \(count) · chapter \(chapter)", lines)
        case .job(let kind):
            guard let job = jobs[kind] else { return ("", []) }
            var lines = job.lines
            let time = String(format: "%.1f s", job.seconds)
            let number = jobChapter[kind].map(String.init) ?? ""
            switch kind {
            case .checks:
                if job.running {
                    return (
                        "checks · chapter \(number) · running, \(checksDone(job)) · \(time)",
                        lines.isEmpty ? [ReaderLine("starting…", ReaderStyle(dim: true))] : lines
                    )
                }
                lines.append(ReaderLine())
                lines.append(ReaderLine("finished in \(time), exit \(job.status ?? 0); c runs them again", ReaderStyle(dim: true)))
                return ("checks · chapter \(number) · " + (job.status == 0 ? "all passed" : "not all passed"), lines)
            case .snippet:
                let where_ = snippetRunning.map { "line \($0.line)" } ?? ""
                if job.running { return ("snippet · chapter \(number), \(where_) · running · \(time)", lines) }
                lines.append(ReaderLine())
                var verdict = job.timedOut ? "killed after \(time): its time limit" : "exit \(job.status ?? 0) in \(time)"
                var style = ReaderStyle(dim: true)
                if let expected = snippetRunning?.expectedOutput, !job.timedOut {
                    let actual = job.lines.map(\.text).joined(separator: "\n")
                    if let mismatch = SnippetOutput.mismatch(expected: expected, actual: actual) {
                        verdict += " · not what the lesson shows: \(mismatch.description.replacingOccurrences(of: "\n", with: " "))"
                        style = ReaderStyle(color: .yellow)
                    } else {
                        verdict += " · ✓ what the lesson shows"
                        style = ReaderStyle(color: .green)
                    }
                }
                lines.append(ReaderLine(verdict, style))
                return ("snippet · chapter \(number), \(where_) · done", lines)
            case .xray:
                if job.running { return ("x-ray · running · \(time)", lines) }
                if job.status != 0 {
                    lines.append(ReaderLine())
                    lines.append(ReaderLine("`workbook xray --once` exited \(job.status ?? 0)", ReaderStyle(dim: true)))
                }
                return ("x-ray · x looks again", lines)
            }
        }
    }

    func checksDone(_ job: ReaderJob) -> String {
        let chapters = CheckCatalog.chapters.filter { $0 <= (jobChapter[.checks] ?? chapter) }
        let total = chapters.map { CheckCatalog.checks(for: $0).count }.reduce(0, +)
        let done = job.lines.filter { line in
            let text = line.text.trimmingCharacters(in: .whitespaces)
            return text.hasPrefix("✓ ") || text.hasPrefix("✗ ") || text.hasPrefix("- SKIPPED")
        }.count
        return "\(done) of \(total) checks"
    }

    static let help: [String] = [
        "\u{1B}[1mReading\u{1B}[0m",
        "  ↓ j  ↑ k            a line down, up",
        "  space PgDn  PgUp b  a page down, up",
        "  g Home  G End       the start, the end",
        "  n  p                the next, the previous section (heading)",
        "  ]  [                the next, the previous chapter",
        "  0 … 9               chapter N (1 then 0 quickly: chapter 10)",
        "  /                   search (any case); Enter searches, Esc cancels",
        "  .  ,                the next, the previous match of the search",
        "\u{1B}[1mDoing\u{1B}[0m",
        "  c                   run this chapter's checks (workbook check N) in the background",
        "  h                   the next hint (the last is the reference)",
        "  r                   run the ```sh snippet marked ◀ (the first on screen),",
        "                      in a stand-in host (its own UTS and mount namespaces)",
        "  x                   the x-ray of a running container (workbook xray --once)",
        "\u{1B}[1mThe pane\u{1B}[0m",
        "  Tab                 scroll the pane instead of the lesson, and back",
        "  Esc                 close the pane",
        "  ?                   these keys;  q or Ctrl-C quits (your place in each chapter is kept)",
        "\u{1B}[1mThe chapter list\u{1B}[0m",
        "  ✓ passed   ↷ skipped (the reference stands in)   … in progress   · not started",
    ]

    // MARK: - Keys

    func handle(_ key: Int32) {
        if prompt != nil {
            handlePrompt(key)
            return
        }
        if key == KEY_RESIZE { return }
        message = nil
        let character = key >= 0 && key < 128 ? Character(UnicodeScalar(UInt8(key))) : nil
        if let character, let digit = character.wholeNumberValue {
            jump(digit: digit)
            return
        }
        lastDigit = nil
        switch key {
        case KEY_DOWN: scroll(1)
        case KEY_UP: scroll(-1)
        case KEY_NPAGE: scroll(page)
        case KEY_PPAGE: scroll(-page)
        case KEY_HOME: scroll(-Int.max / 2)
        case KEY_END: scroll(Int.max / 2)
        case 3: quitting = true  // Ctrl-C: raw mode makes it a key
        case 9: if pane != nil { paneFocused.toggle() }
        case 27:
            pane = nil
            paneFocused = false
        default:
            switch character {
            case "q": quitting = true
            case "j": scroll(1)
            case "k": scroll(-1)
            case " ", "f": scroll(page)
            case "b": scroll(-page)
            case "g": scroll(-Int.max / 2)
            case "G": scroll(Int.max / 2)
            case "n": section(forward: true)
            case "p": section(forward: false)
            case "]": if chapter < (ChapterCatalog.all.last?.number ?? 0) { open(chapter: chapter + 1) }
            case "[": if chapter > 0 { open(chapter: chapter - 1) }
            case "/": prompt = ""
            case ".": findNext(forward: true)
            case ",": findNext(forward: false)
            case "?": show(.help)
            case "c": runChecks()
            case "h": nextHint()
            case "r": runSnippet()
            case "x": runXray()
            default: break
            }
        }
    }

    var page: Int { max((paneFocused ? paneRows - 1 : mainRows) - 2, 1) }

    func show(_ newPane: Pane) {
        pane = newPane
        paneTop = 0
        // A program's output is followed as it comes (the checks' verdict is last); the
        // x-ray is one picture, read from its top: the processes and namespaces.
        if case .job(let kind) = newPane { paneFollows = kind != .xray } else { paneFollows = false }
    }

    func scroll(_ lines: Int) {
        if paneFocused, pane != nil {
            paneFollows = false
            paneTop = max(0, paneTop.addingReportingOverflow(lines).partialValue)
        } else {
            top = max(0, top.addingReportingOverflow(lines).partialValue)
            clampTop()
        }
    }

    func section(forward: Bool) {
        if forward && top >= max(document.lines.count - mainRows, 0) {
            message = "the end of the chapter: ] opens the next"
            return
        }
        let target = forward ? document.headings.first { $0.line > top } : document.headings.last { $0.line < top }
        guard let target else {
            message = forward ? "no section below" : "no section above"
            return
        }
        top = target.line
        clampTop()
    }

    func jump(digit: Int) {
        if let last = lastDigit, last.digit == 1, digit == 0, Date().timeIntervalSince(last.at) < 1,
            ChapterCatalog.chapter(10) != nil
        {
            lastDigit = nil
            open(chapter: 10)
            return
        }
        lastDigit = (digit, Date())
        if ChapterCatalog.chapter(digit) != nil, digit != chapter { open(chapter: digit) }
    }

    func handlePrompt(_ key: Int32) {
        guard var text = prompt else { return }
        switch key {
        case 27, 3:
            prompt = nil
        case 10, 13, KEY_ENTER:
            prompt = nil
            if !text.isEmpty { query = text }
            matchLine = nil
            find(from: top, forward: true, wrapped: false)
        case KEY_BACKSPACE, 127, 8:
            if !text.isEmpty { text.removeLast() }
            prompt = text
        default:
            // Bytes of a UTF-8 character arrive one by one; keep ASCII, the lessons' words.
            if key >= 32 && key < 127 { prompt = text + String(UnicodeScalar(UInt8(key))) }
        }
    }

    func find(from line: Int, forward: Bool, wrapped: Bool) {
        guard !query.isEmpty else {
            message = "no search yet: / starts one"
            return
        }
        let matches = document.matches(of: query).map(\.line)
        guard !matches.isEmpty else {
            message = "\"\(query)\" is not in this chapter"
            return
        }
        var target = forward ? matches.first { $0 >= line } : matches.last { $0 <= line }
        var didWrap = false
        if target == nil {
            target = forward ? matches.first : matches.last
            didWrap = true
        }
        guard let target else { return }
        matchLine = target
        if target < top || target >= top + mainRows { top = max(target - 2, 0) }
        clampTop()
        let position = (matches.firstIndex(of: target) ?? 0) + 1
        message =
            "\"\(query)\": match \(position) of \(matches.count)" + (didWrap || wrapped ? " (from the other end)" : "") + " · . next  , previous"
    }

    func findNext(forward: Bool) {
        let from = matchLine ?? top
        find(from: forward ? from + 1 : from - 1, forward: forward, wrapped: false)
    }

    // MARK: - What the learner runs

    var executable: String {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        // A rebuild while the reader is open (`workbook check` in another terminal saw an
        // edit) replaces the program: the link then reads "PATH (deleted)", and the new
        // program at PATH is the one to run.
        let deleted = " (deleted)"
        return path.hasSuffix(deleted) ? String(path.dropLast(deleted.count)) : path
    }

    func start(_ kind: JobKind, title: String, arguments: [String], directory: String, timeLimit: Double? = nil, path: Bool = false) -> Bool {
        var environment = ProcessInfo.processInfo.environment
        if path {
            // The built `workbook` and `scratch` first, as the snippet convention says.
            let bin = (executable as NSString).deletingLastPathComponent
            environment["PATH"] = bin + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        }
        environment["COLUMNS"] = String(paneWidth)
        do {
            jobs[kind] = try ReaderJob(title: title, arguments: arguments, environment: environment, directory: directory, timeLimit: timeLimit)
            jobChapter[kind] = chapter
            show(.job(kind))
            return true
        } catch {
            show(.note(title: title, lines: ["\(error)"]))
            return false
        }
    }

    func runChecks() {
        guard available.contains(chapter) else {
            message = "chapter \(chapter) has no checks yet"
            return
        }
        if let checks = jobs[.checks], checks.running {
            show(.job(.checks))
            if jobChapter[.checks] != chapter { message = "chapter \(jobChapter[.checks] ?? 0)'s checks are still running" }
            return
        }
        if start(
            .checks, title: "the checks", arguments: [executable, "check", String(chapter)], directory: FileManager.default.currentDirectoryPath)
        {
            checksRecorded = false
        }
    }

    func runXray() {
        if let xray = jobs[.xray], xray.running {
            show(.job(.xray))
            return
        }
        _ = start(.xray, title: "the x-ray", arguments: [executable, "xray", "--once"], directory: FileManager.default.currentDirectoryPath)
    }

    func runSnippet() {
        if let running = jobs[.snippet], running.running {
            show(.job(.snippet))
            message = "a snippet is still running"
            return
        }
        guard let index = selectedSnippet() else {
            // None on screen: bring the next one up, and let a second r run it.
            if let next = document.snippets.first(where: { $0.lines.lowerBound >= top }) {
                top = max(next.lines.lowerBound - 1, 0)
                clampTop()
                message = "r again runs the snippet marked ◀"
            } else {
                message = "no ```sh snippet below here"
            }
            return
        }
        let snippet = document.snippets[index].snippet
        let shell = ["/bin/bash", "-euo", "pipefail", "-c", snippet.code]
        // The snippet convention's run: bash -euo pipefail from the repository's root,
        // the built programs first on PATH. As root, in new UTS and mount namespaces
        // (private propagation): a lab that renames the host or forgets an unmount
        // changes only the namespaces, which go when it ends — the stand-in host
        // `workbook run` makes for learner code, around the whole snippet.
        let arguments = geteuid() == 0 ? ["/usr/bin/env", "unshare", "--uts", "--mount", "--propagation", "private", "--"] + shell : shell
        snippetRunning = snippet
        _ = start(.snippet, title: "the snippet", arguments: arguments, directory: repository.root, timeLimit: Double(snippet.timeLimit), path: true)
    }

    /// The lesson's next hint layer, as `workbook hint N` counts them.
    func nextHint() {
        guard let entry = ChapterCatalog.chapter(chapter), available.contains(chapter),
            let hints = try? Lesson.load(entry, from: repository).hints, !hints.isEmpty
        else {
            message = "chapter \(chapter) has no hints"
            return
        }
        var progress = Progress.load(from: repository)
        let key = String(chapter)
        let index = min(progress.hintsShown[key] ?? 0, hints.count - 1)
        progress.hintsShown[key] = index + 1
        try? progress.save(to: repository)
        self.progress = progress
        show(.hint(index: index, count: hints.count, markdown: hints[index]))
    }
}
