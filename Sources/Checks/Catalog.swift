/// Every chapter's checks, by chapter.
public enum CheckCatalog {
    public static let checks: [Int: [Check]] = [
        0: chapter0Checks,
        1: chapter1Checks,
        2: chapter2Checks,
        3: chapter3Checks,
        4: chapter4Checks,
        5: chapter5Checks,
        6: chapter6Checks,
        7: chapter7Checks,
        10: chapter10Checks,
    ]

    /// The chapters that have checks, in order.
    public static var chapters: [Int] { checks.keys.sorted() }

    /// Chapter `chapter`'s checks.
    public static func checks(for chapter: Int) -> [Check] { checks[chapter] ?? [] }

    /// Chapters 0 through `chapter`'s checks, in order.
    public static func checks(through chapter: Int) -> [Check] {
        chapters.filter { $0 <= chapter }.flatMap { checks(for: $0) }
    }
}
