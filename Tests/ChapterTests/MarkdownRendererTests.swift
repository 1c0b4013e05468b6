import Foundation
import Testing

@testable import Workbook

/// The Markdown tree cmark-gfm gives, and each element as the terminal shows it, plain
/// (no escape code at all) and in color.
@Suite struct MarkdownRendererTests {
    let plain = MarkdownRenderer(width: 80, colors: false)
    let color = MarkdownRenderer(width: 80, colors: true)

    // MARK: - Parser

    @Test func theTreeHasTablesAndListsAndLines() {
        let blocks = Markdown.parse(
            """
            # Title

            | a | b |
            |:--|--:|
            | `x` | **y** |

            - one
              ```sh
              echo hi
              ```
            """)
        #expect(blocks.first == .heading(level: 1, [.text("Title")]))
        #expect(
            blocks.dropFirst().first
                == .table(alignments: [.left, .right], header: [[.text("a")], [.text("b")]], rows: [[[.code("x")], [.strong([.text("y")])]]]))
        guard case .list(nil, _, let items) = blocks.last else {
            Issue.record("no list: \(blocks)")
            return
        }
        #expect(items.first?.last == .code(info: "sh", text: "echo hi", line: 8, closed: true))
    }

    @Test func anUnclosedFenceIsSeen() {
        #expect(Markdown.parse("```sh\necho\n") == [.code(info: "sh", text: "echo", line: 1, closed: false)])
        #expect(LessonSnippets(markdown: "```sh\necho\n").problems.first?.contains("never closed") == true)
    }

    // MARK: - Renderer, plain

    @Test func headingsAreUnderlined() {
        #expect(plain.render("# Chapter 4\n\n## Why\n\n### Detail") == "Chapter 4\n═════════\n\nWhy\n───\n\nDetail")
    }

    @Test func emphasisAndCodeLoseTheirMarkupWithoutColors() {
        let text = plain.render("Some *emphasis*, **strong**, `code` and ~~gone~~ and [a link](../README.md).")
        #expect(text == "Some emphasis, strong, code and gone and a link.")
        #expect(!text.contains("\u{1B}"))
    }

    @Test func aWebLinkShowsWhereItGoes() {
        #expect(plain.render("[runc](https://github.com/opencontainers/runc)") == "runc (https://github.com/opencontainers/runc)")
        #expect(plain.render("<https://example.org>") == "https://example.org")
    }

    @Test func paragraphsWrapAtTheWidth() {
        let words = Array(repeating: "word", count: 40).joined(separator: " ")
        let lines = plain.render(words).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { $0.count <= 80 })
        #expect(MarkdownRenderer(width: 20, colors: false).width == 80)
    }

    @Test func listsNestAndNumber() {
        let text = plain.render(
            """
            1. first
            2. second
               - inner
               - more
                 - deepest
            """)
        #expect(
            text == """
                1. first
                2. second
                   • inner
                   • more
                     • deepest
                """)
    }

    @Test func aLooseListKeepsItsBlankLines() {
        #expect(plain.render("- one\n\n- two") == "• one\n\n• two")
    }

    @Test func quotesHaveABar() {
        #expect(plain.render("> quoted\n>\n> again") == "│ quoted\n│\n│ again")
    }

    @Test func codeBlocksAreSetApartAndNeverWrapped() {
        let long = "echo " + String(repeating: "x", count: 100)
        let text = plain.render("```sh\n\(long)\n  indented\n```\n\n```output\nhi\n```")
        #expect(
            text == """
                  ╭─ sh — run it
                    \(long)
                      indented
                  ╰─

                  ╭─ output
                    hi
                  ╰─
                """)
    }

    @Test func tablesAreBoxedAndAligned() {
        let text = plain.render(
            """
            | flag | file |
            |---|--:|
            | --memory | memory.max |
            | --pids-limit | pids.max |
            """)
        #expect(
            text == """
                ┌──────────────┬────────────┐
                │ flag         │       file │
                ├──────────────┼────────────┤
                │ --memory     │ memory.max │
                │ --pids-limit │   pids.max │
                └──────────────┴────────────┘
                """)
    }

    @Test func aWideTableFitsTheWidthAndWrapsItsCells() {
        let cell = Array(repeating: "long", count: 20).joined(separator: " ")
        let text = plain.render("| a | b |\n|---|---|\n| \(cell) | \(cell) |\n| x | y |")
        let lines = text.split(separator: "\n")
        #expect(lines.allSatisfy { $0.count <= 80 }, "\(text)")
        #expect(lines.count > 6)
        // A wrapped row is ruled off from the next.
        #expect(lines.filter { $0.hasPrefix("├") }.count == 2)
        let wide = MarkdownRenderer(width: 220, colors: false).render("| a | b |\n|---|---|\n| \(cell) | \(cell) |")
        #expect(wide.split(separator: "\n").count == 5)
    }

    @Test func aThematicBreakAndHtmlComments() {
        #expect(plain.render("a\n\n---\n\nb") == "a\n\n" + String(repeating: "─", count: 80) + "\n\nb")
        #expect(plain.render("<!-- note -->\n\ntext") == "text")
    }

    // MARK: - Renderer, in color

    @Test func colorsStyleWithoutChangingTheText() {
        let markdown = "# T\n\n*e* **s** `c`\n\n| a |\n|---|\n| b |\n\n```swift\nlet x = 1 // one\n```"
        let styled = color.render(markdown)
        #expect(styled.contains("\u{1B}[1m"))
        #expect(styled.contains("\u{1B}[3me\u{1B}[0m"))
        #expect(styled.contains("\u{1B}[36mc\u{1B}[0m"))
        #expect(stripped(styled) == plain.render(markdown))
    }

    @Test(arguments: [
        ("sh", "echo \"hi\" # say", ["\u{1B}[35mecho", "\u{1B}[32m\"hi\"", "\u{1B}[2m# say"]),
        ("swift", "let n = 42 // answer", ["\u{1B}[35mlet", "\u{1B}[33m42", "\u{1B}[2m// answer"]),
        ("c", "int fd = open(\"/x\", 0);", ["\u{1B}[35mint", "\u{1B}[32m\"/x\"", "\u{1B}[33m0"]),
    ])
    func codeIsTinted(language: String, line: String, expected: [String]) {
        let tinted = color.tint(line, language: language)
        for piece in expected { #expect(tinted.contains(piece), "\(tinted.debugDescription)") }
        #expect(stripped(tinted) == line)
        #expect(plain.tint(line, language: language) == line)
    }

    @Test func theChaptersRenderPlainWithNoEscapeCodes() throws {
        let folder = Support.repository.path("chapters")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".md") }
        #expect(files.count >= 5)
        for file in files {
            let rendered = plain.render(try String(contentsOfFile: folder + "/" + file, encoding: .utf8))
            #expect(!rendered.contains("\u{1B}"), "\(file)")
            #expect(!rendered.contains("```"), "\(file) shows a raw fence")
        }
    }

    func stripped(_ text: String) -> String {
        var output = ""
        var inEscape = false
        for scalar in text.unicodeScalars {
            if inEscape {
                if scalar == "m" { inEscape = false }
                continue
            }
            if scalar == "\u{1B}" {
                inEscape = true
                continue
            }
            output.unicodeScalars.append(scalar)
        }
        return output
    }
}
