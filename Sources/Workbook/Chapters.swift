import Checks
import Foundation

/// One chapter of the workbook.
public struct Chapter: Sendable {
    public let number: Int
    public let title: String
    /// chapters/NN-slug.md
    public let file: String
    /// exercises/NN-slug/
    public let exerciseFolder: String
    /// The file(s) the learner edits.
    public let exerciseFiles: [String]

    /// True when the lesson, its exercise and its checks exist.
    public func isAvailable(in repository: Repository) -> Bool {
        FileManager.default.fileExists(atPath: repository.path(file)) && !CheckCatalog.checks(for: number).isEmpty
    }
}

/// The chapter list (ARCHITECTURE.md). Chapters whose lesson is not written yet show as
/// "coming soon"; every listed one has its place reserved.
public enum ChapterCatalog {
    public static let all: [Chapter] = [
        Chapter(
            number: 0, title: "A container is a process", file: "chapters/00-a-container-is-a-process.md",
            exerciseFolder: "exercises/00-process", exerciseFiles: ["exercises/00-process/ExitStatus.swift"]),
        Chapter(
            number: 1, title: "Hostnames: the UTS namespace", file: "chapters/01-hostnames-uts-namespace.md",
            exerciseFolder: "exercises/01-uts", exerciseFiles: ["exercises/01-uts/Hostname.swift"]),
        Chapter(
            number: 2, title: "Process trees: the PID namespace", file: "chapters/02-process-trees-pid-namespace.md",
            exerciseFolder: "exercises/02-pid", exerciseFiles: ["exercises/02-pid/ProcessTree.swift"]),
        Chapter(
            number: 3, title: "A root of its own: mount namespace and pivot_root", file: "chapters/03-a-root-of-its-own.md",
            exerciseFolder: "exercises/03-rootfs", exerciseFiles: ["exercises/03-rootfs/RootFilesystem.swift"]),
        Chapter(
            number: 4, title: "Limits: cgroups", file: "chapters/04-limits-cgroups.md",
            exerciseFolder: "exercises/04-cgroups", exerciseFiles: ["exercises/04-cgroups/Cgroups.swift"]),
        Chapter(
            number: 5, title: "Layers: overlay filesystems and images", file: "chapters/05-layers-overlayfs.md",
            exerciseFolder: "exercises/05-layers", exerciseFiles: ["exercises/05-layers/Layers.swift"]),
        Chapter(
            number: 6, title: "Configuration: environment and volumes", file: "chapters/06-configuration.md",
            exerciseFolder: "exercises/06-configuration", exerciseFiles: ["exercises/06-configuration/Configuration.swift"]),
        Chapter(
            number: 7, title: "Least privilege: capabilities, no_new_privs, seccomp", file: "chapters/07-least-privilege.md",
            exerciseFolder: "exercises/07-least-privilege", exerciseFiles: ["exercises/07-least-privilege/Privileges.swift"]),
        Chapter(
            number: 8, title: "Rootless: the user namespace", file: "chapters/08-rootless.md",
            exerciseFolder: "exercises/08-rootless", exerciseFiles: []),
        Chapter(
            number: 9, title: "Networking: the network namespace", file: "chapters/09-networking.md",
            exerciseFolder: "exercises/09-networking", exerciseFiles: []),
        Chapter(
            number: 10, title: "Speaking OCI", file: "chapters/10-oci.md",
            exerciseFolder: "exercises/10-oci", exerciseFiles: ["exercises/10-oci/Lifecycle.swift"]),
    ]

    public static func chapter(_ number: Int) -> Chapter? { all.first { $0.number == number } }

    /// The chapter, if it exists and can be worked on; else an error listing those that can.
    public static func available(_ number: Int, in repository: Repository) throws -> Chapter {
        let available = all.filter { $0.isAvailable(in: repository) }
        guard let chapter = available.first(where: { $0.number == number }) else {
            let range = available.map(\.number)
            let known = chapter(number).map { " (\"\($0.title)\" is not written yet)" } ?? ""
            throw WorkbookError("there is no chapter \(number)\(known); chapters \(range.first ?? 0)–\(range.last ?? 0) are ready")
        }
        return chapter
    }
}
