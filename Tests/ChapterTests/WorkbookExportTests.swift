import Foundation
import Testing

@testable import Workbook

/// `workbook export --html DIR`: the pages hold cmark-gfm's tables and code blocks,
/// load nothing from the network, and render in a real browser (Debian's chromium,
/// headless) to a screenshot that is not blank.
@Suite struct WorkbookExportTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test func pagesHoldTablesAndCodeAndNoNetwork() throws {
        let directory = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let export = Support.run([Support.workbook, "export", "--html", directory], directory: Support.repository.root)
        #expect(export.status == 0, "\(export.stderr)")
        let pages = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".html") }.sorted()
        let chapters = ChapterCatalog.all.filter { $0.isAvailable(in: Support.repository) }
        #expect(pages.count == chapters.count + 1, "\(pages)")
        #expect(FileManager.default.fileExists(atPath: directory + "/style.css"))
        let cgroups = try String(contentsOfFile: directory + "/04-limits-cgroups.html", encoding: .utf8)
        #expect(cgroups.contains("<table>"))
        #expect(cgroups.contains("<pre class=\"sh\"><code class=\"language-sh\">"))
        // The reader's tint, as classes.
        #expect(cgroups.contains("<span class=\"c\">#"))
        // Every hint layer but the last, which is the reference: not in a handout.
        let lesson = try Lesson.load(try #require(ChapterCatalog.chapter(4)), from: Support.repository)
        #expect(cgroups.components(separatedBy: "<details>").count - 1 == lesson.hints.count - 1)
        // No page or stylesheet loads anything from elsewhere: links to man pages may
        // point out, resources (src=, <link href>, url(), @import) may not.
        let resource = try NSRegularExpression(
            pattern: "(src\\s*=\\s*\"?(https?:)?//)|(<link[^>]+href=\"(https?:)?//)|(url\\(\\s*['\"]?(https?:)?//)|(@import)",
            options: [.caseInsensitive])
        for file in pages + ["style.css"] {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            let found = resource.firstMatch(in: text, range: NSRange(text.startIndex..., in: text))
            #expect(found == nil, "\(file) loads something over the network")
            #expect(!text.contains("<script"), "\(file)")
        }
    }

    @Test(.enabled(if: chromium != nil, "needs Debian's chromium: apt-get install chromium"))
    func aPageRendersInHeadlessChromium() throws {
        let directory = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(Support.run([Support.workbook, "export", "--html", directory]).status == 0)
        let shot = directory + "/shot.png"
        let started = Date()
        // --no-sandbox: chromium's sandbox refuses root. A private profile, so nothing
        // of the host's is read or left; `timeout` bounds it on a loaded machine.
        let browser = Support.run([
            "timeout", "60", try #require(Self.chromium), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--user-data-dir=\(directory)/profile", "--screenshot=\(shot)", "--window-size=1000,1400",
            "file://\(directory)/04-limits-cgroups.html",
        ])
        let seconds = Date().timeIntervalSince(started)
        #expect(browser.status == 0, "chromium: \(browser.stderr.suffix(600))")
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        // A PNG, of the size asked, and far from blank: a blank page compresses to a
        // few kilobytes, the rendered lesson takes tens.
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let width = png.subdata(in: 16..<20).reduce(0) { $0 << 8 | Int($1) }
        let height = png.subdata(in: 20..<24).reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1000 && height == 1400, "\(width)×\(height)")
        #expect(png.count > 40_000, "\(png.count) bytes: a blank page?")
        #expect(seconds < 60, "chromium took \(seconds) s")
    }
}
