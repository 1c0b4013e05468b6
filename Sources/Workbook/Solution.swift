import Foundation

/// `workbook solution N`: the learner's exercise file beside the reference, as a
/// unified diff.
///
/// The two do not share a shape: the learner's functions are in `struct YourX` in
/// exercises/, the reference's in `extension Reference` in the concept's file under
/// Sources/Runtime, among the helpers and comments of the reference runtime. So the
/// diff compares the learner's file with a copy of it in which each function body the
/// chapter asks for is the reference's body of the same name. Only the bodies can
/// differ: what `-` shows is yours, what `+` shows is the reference's, and a chapter
/// solved the reference's way shows no difference at all.
public struct ReferenceSolution {
    public struct Part {
        /// exercises/NN-slug/File.swift
        public let exerciseFile: String
        /// The Sources/Runtime files the reference bodies came from.
        public let referenceFiles: [String]
        /// `diff -u` output; empty when the bodies are the same.
        public let diff: String
        /// Functions of the exercise with no reference body of that name.
        public let unmatched: [String]
    }

    public let repository: Repository

    public init(repository: Repository) { self.repository = repository }

    public func parts(for chapter: Chapter) throws -> [Part] {
        let references = try referenceFunctions()
        return try chapter.exerciseFiles.map { file in
            guard let mine = try? String(contentsOfFile: repository.path(file), encoding: .utf8) else {
                throw WorkbookError("cannot read \(file)")
            }
            var shaped = mine
            var sources: [String] = []
            var unmatched: [String] = []
            // From the last function to the first, so earlier ranges stay valid.
            for function in Self.functions(in: mine).reversed() {
                guard let reference = references[function.name] else {
                    unmatched.append(function.name)
                    continue
                }
                shaped.replaceSubrange(function.body, with: reference.body)
                if !sources.contains(reference.file) { sources.insert(reference.file, at: 0) }
            }
            let diff = try Self.unifiedDiff(
                mine, shaped, labels: ("\(file)  (yours)", "\(file)  (the reference's bodies, from \(sources.joined(separator: ", ")))"))
            return Part(exerciseFile: file, referenceFiles: sources, diff: diff, unmatched: unmatched.reversed())
        }
    }

    /// Every function in an `extension Reference` block of Sources/Runtime, by name:
    /// its body (inside the braces) and the file it is in.
    func referenceFunctions() throws -> [String: (body: String, file: String)] {
        let folder = "Sources/Runtime"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: repository.path(folder))) ?? []
        var found: [String: (body: String, file: String)] = [:]
        for name in names.sorted() where name.hasSuffix(".swift") {
            let file = folder + "/" + name
            guard let text = try? String(contentsOfFile: repository.path(file), encoding: .utf8) else { continue }
            var searchStart = text.startIndex
            while let start = text.range(of: "\nextension Reference", range: searchStart..<text.endIndex) {
                guard let open = text[start.upperBound...].firstIndex(of: "{"), let close = Self.matchingBrace(in: text, from: open) else {
                    break
                }
                let block = String(text[text.index(after: open)..<close])
                for function in Self.functions(in: block) { found[function.name] = (String(block[function.body]), file) }
                searchStart = close
            }
        }
        guard !found.isEmpty else { throw WorkbookError("found no `extension Reference` in \(folder)") }
        return found
    }

    /// The functions of a Swift text: the name, and the range inside the braces of its
    /// body. A reading aid, not a parser: strings and comments are skipped when braces
    /// are counted; nested functions are part of their outer function's body.
    static func functions(in text: String) -> [(name: String, body: Range<String.Index>)] {
        var result: [(String, Range<String.Index>)] = []
        var index = text.startIndex
        while let found = text.range(of: "func ", range: index..<text.endIndex) {
            // A whole word: not the end of an identifier such as `myfunc `.
            if found.lowerBound > text.startIndex, let before = text[text.index(before: found.lowerBound)...].first,
                before.isLetter || before.isNumber || before == "_"
            {
                index = found.upperBound
                continue
            }
            // Not in a comment: `// the func above` names no function.
            let lineStart = text[..<found.lowerBound].lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex
            if text[lineStart..<found.lowerBound].contains("//") {
                index = found.upperBound
                continue
            }
            let name = String(text[found.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" })
            guard !name.isEmpty, let open = text[found.upperBound...].firstIndex(of: "{"),
                let close = matchingBrace(in: text, from: open)
            else {
                index = found.upperBound
                continue
            }
            result.append((name, text.index(after: open)..<close))
            index = text.index(after: close)
        }
        return result
    }

    /// The `}` that closes the `{` at `open`, skipping string literals and comments.
    static func matchingBrace(in text: String, from open: String.Index) -> String.Index? {
        var depth = 0
        var index = open
        while index < text.endIndex {
            let rest = text[index...]
            if rest.hasPrefix("//") {
                index = rest.firstIndex(of: "\n") ?? text.endIndex
                continue
            }
            if rest.hasPrefix("/*") {
                index = rest.range(of: "*/")?.upperBound ?? text.endIndex
                continue
            }
            if rest.hasPrefix("\"") {
                var end = text.index(after: index)
                while end < text.endIndex, text[end] != "\"", text[end] != "\n" {
                    if text[end] == "\\" { end = text.index(after: end) }
                    if end < text.endIndex { end = text.index(after: end) }
                }
                index = end < text.endIndex ? text.index(after: end) : end
                continue
            }
            if text[index] == "{" { depth += 1 }
            if text[index] == "}" {
                depth -= 1
                if depth == 0 { return index }
            }
            index = text.index(after: index)
        }
        return nil
    }

    /// `diff -u` of two texts, with the given labels; empty when they are the same.
    static func unifiedDiff(_ old: String, _ new: String, labels: (String, String)) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("workbook-solution-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try old.write(toFile: directory + "/a", atomically: false, encoding: .utf8)
        try new.write(toFile: directory + "/b", atomically: false, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        process.arguments = ["-u", "--label", labels.0, "--label", labels.1, directory + "/a", directory + "/b"]
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch {
            throw WorkbookError("cannot run /usr/bin/diff (\(error.localizedDescription)): install diffutils")
        }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        // diff: 0 the same, 1 different, 2 trouble.
        guard process.terminationStatus < 2 else { throw WorkbookError("diff failed with status \(process.terminationStatus)") }
        return String(decoding: output, as: UTF8.self)
    }

    /// The diff for a terminal: removed lines red, added green, hunk headers cyan.
    public static func colored(_ diff: String) -> String {
        diff.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            if line.hasPrefix("+++") || line.hasPrefix("---") { return "\u{1B}[1m\(line)\u{1B}[0m" }
            if line.hasPrefix("@@") { return "\u{1B}[36m\(line)\u{1B}[0m" }
            if line.hasPrefix("-") { return "\u{1B}[31m\(line)\u{1B}[0m" }
            if line.hasPrefix("+") { return "\u{1B}[32m\(line)\u{1B}[0m" }
            return String(line)
        }.joined(separator: "\n")
    }
}
