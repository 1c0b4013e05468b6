import Foundation
import Testing

@testable import Workbook

/// The workshop's decks: every agenda parses and names its chapters; `tools/workshop/slides`
/// builds a deck offline (nothing loaded from the network, only our own deck.js); and
/// headless Chromium shows one slide at a time, a box-drawn diagram rendered.
@Suite struct WorkbookSlidesTests {
    static let agendas = ["agenda-90-minutes", "agenda-half-day", "agenda-full-day", "agenda-two-days"]

    @Test func everyAgendaNamesItsChaptersAndSaysItsTimingsAreEstimates() throws {
        var named: [String: [Int]] = [:]
        for name in Self.agendas {
            let text = try String(contentsOfFile: Support.repository.path("docs/workshop/\(name).md"), encoding: .utf8)
            #expect(text.contains("estimate"), "\(name) must say its timings are estimates")
            let (_, rows) = SlideDeck.agenda(text)
            named[name] = rows.compactMap(\.chapter)
            #expect(rows.contains { $0.block.hasPrefix("Break") }, "\(name) has no break")
            #expect(rows.allSatisfy { $0.minutes.isEmpty || Int($0.minutes) != nil }, "\(name): minutes are numbers")
        }
        #expect(named["agenda-90-minutes"] == [0, 1, 2])
        #expect(named["agenda-half-day"] == [0, 1, 2, 3, 4])
        #expect(named["agenda-full-day"] == [0, 1, 2, 3, 4, 5, 6])
        #expect(named["agenda-two-days"] == Array(0...10))
        // The 90 minutes add up to 90.
        let ninety = SlideDeck.agenda(try String(contentsOfFile: Support.repository.path("docs/workshop/agenda-90-minutes.md"), encoding: .utf8))
        #expect(ninety.rows.compactMap { Int($0.minutes) }.reduce(0, +) == 90)
    }

    @Test func sectionsAreCutAtHeadingsOutsideCode() {
        let (opening, sections) = SlideDeck.sections("# T\nintro\n## One\na\n```sh\n## not a heading\n```\n## Two\nb")
        #expect(opening == "intro")
        #expect(sections.map(\.title) == ["One", "Two"])
        #expect(sections[0].markdown.contains("## not a heading"))
    }

    @Test(.enabled(if: WorkbookExportTests.chromium != nil, "needs Debian's chromium: apt-get install chromium"))
    func aDeckBuildsOfflineAndASlideRendersInHeadlessChromium() throws {
        let directory = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let deck = directory + "/deck"
        let built = Support.run(
            [
                Support.repository.path("tools/workshop/slides"), Support.repository.path("docs/workshop/agenda-90-minutes.md"), deck,
            ], environment: ["WORKBOOK_BIN": Support.workbook])
        #expect(built.status == 0, "\(built.stdout)\(built.stderr)")
        #expect(built.stdout.contains("slides to \(deck)"), "\(built.stdout)")
        let page = try String(contentsOfFile: deck + "/index.html", encoding: .utf8)
        let count = page.components(separatedBy: "<section id=\"s").count - 1
        #expect(count > 20, "\(count) slides")
        for chapter in [0, 1, 2] {
            let title = try #require(ChapterCatalog.chapter(chapter)).title
            #expect(page.contains("Chapter \(chapter) — \(HTMLExport.escaped(title))"), "chapter \(chapter)")
        }
        // Offline: no resource from elsewhere, and the only script is our own deck.js.
        let resource = try NSRegularExpression(
            pattern: "(src\\s*=\\s*\"?(https?:)?//)|(<link[^>]+href=\"(https?:)?//)|(url\\(\\s*['\"]?(https?:)?//)|(@import)",
            options: [.caseInsensitive])
        for file in ["index.html", "style.css", "deck.css", "deck.js"] {
            let text = try String(contentsOfFile: deck + "/" + file, encoding: .utf8)
            #expect(resource.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil, "\(file) loads from the network")
        }
        #expect(page.components(separatedBy: "<script").count - 1 == 1 && page.contains("<script src=\"deck.js\"></script>"))

        // The first slide holding a box-drawn diagram, opened by its number.
        let diagram = try #require(page.range(of: "┌"))
        let slide = page[..<diagram.lowerBound].components(separatedBy: "<section id=\"s").count - 1
        let chromium = try #require(WorkbookExportTests.chromium)
        // --no-sandbox: chromium's sandbox refuses root; a private profile; `timeout` bounds it.
        let common = [
            "timeout", "60", chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(directory)/profile",
        ]
        let dom = Support.run(common + ["--dump-dom", "file://\(deck)/index.html#\(slide)"])
        #expect(dom.status == 0, "chromium: \(dom.stderr.suffix(600))")
        // deck.js ran: one slide shown, the one asked for, and it holds the diagram.
        #expect(dom.stdout.contains("data-slide=\"\(slide)\""), "\(dom.stdout.prefix(400))")
        #expect(dom.stdout.components(separatedBy: " current\"").count - 1 == 1)
        let shown = try #require(dom.stdout.range(of: "id=\"s\(slide)\" class=\"slide content current\""), "slide \(slide) is not the current one")
        let next = dom.stdout.range(of: "<section", range: shown.upperBound..<dom.stdout.endIndex)?.lowerBound ?? dom.stdout.endIndex
        #expect(dom.stdout[shown.upperBound..<next].contains("┌"))

        let shot = directory + "/shot.png"
        let browser = Support.run(common + ["--screenshot=\(shot)", "--window-size=1280,800", "file://\(deck)/index.html#\(slide)"])
        #expect(browser.status == 0, "chromium: \(browser.stderr.suffix(600))")
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        // A rendered slide with text and a diagram takes tens of kilobytes; a blank one a few.
        #expect(png.count > 40_000, "\(png.count) bytes: a blank slide?")
    }
}
