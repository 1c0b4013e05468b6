import Foundation

/// Where the reader was in each chapter, kept across runs beside the progress file
/// (`.workbook-reader.json`, ignored by git). A place is a top-level block of the lesson
/// and a line within it, not a screen line: a screen line moves when the width does.
public struct ReaderPlaces: Codable, Sendable, Equatable {
    public struct Place: Codable, Sendable, Equatable {
        public var block: Int
        public var offset: Int
    }

    /// The chapter open when the reader last quit.
    public var chapter: Int?
    /// By chapter number.
    public var places: [String: Place] = [:]

    public init() {}

    public static func file(for repository: Repository) -> String {
        (repository.progressFile as NSString).deletingLastPathComponent + "/.workbook-reader.json"
    }

    public static func load(from repository: Repository) -> ReaderPlaces {
        guard let data = FileManager.default.contents(atPath: file(for: repository)),
            let places = try? JSONDecoder().decode(ReaderPlaces.self, from: data)
        else { return ReaderPlaces() }
        return places
    }

    /// Best effort: a reader that cannot write its place still reads.
    public func save(to repository: Repository) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self) else { return }
        try? data.write(to: URL(fileURLWithPath: Self.file(for: repository)), options: .atomic)
    }
}
