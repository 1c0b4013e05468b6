import ArgumentParser
import Glibc
import ImageStore
import Runtime
import Syscalls

// `scratch image ...`, run by scratch as git runs git-foo: images need libarchive,
// libcrypto and Foundation, which the runtime's own fully static binary leaves out.

struct Image: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scratch image",
        abstract: "Import, export, list and remove images (chapter 5).",
        subcommands: [Import.self, Export.self, List.self, Remove.self]
    )
}

func fail(_ error: Error) -> Never {
    var line = "scratch: \(error)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit((error as? ContainerError)?.exitCode ?? ExitCode.runtimeFailed)
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import an OCI image layout (directory or tar) or a `docker save` archive.",
        discussion: """
            Each layer is unpacked once into $SCRATCH_HOME/layers/<sha256>, its digest \
            checked while it streams; OCI whiteouts become overlayfs ones. On a \
            terminal, standard error shows a progress bar.
            """)

    @Argument(help: "The OCI layout (directory or tar) or docker-archive tar.") var source: String
    @Argument(help: "NAME[:TAG] to store it as (default: the name inside the image).") var reference: String?

    func run() {
        do {
            try requireRootForImages()
            let started = monotonicSeconds()
            // The bar only on a terminal: in a pipe or a log it would be noise. The
            // reference's chapter 5 turns the whiteouts (`workbook image import` uses the
            // learner's).
            let image = try LayerConversion.$steps.withValue(Reference()) {
                try importImage(from: source, as: reference, progress: isatty(2) == 1 ? ImportProgress() : nil)
            }
            let took = monotonicSeconds() - started
            print(
                "imported \(image.reference): \(image.layers.count) layer\(image.layers.count == 1 ? "" : "s") (\(image.reused) already stored) in \(String(format2(took))) s"
            )
        } catch { fail(error) }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an image as an OCI image layout (a directory, or a tar when the name ends in .tar).",
        discussion: """
            The layout (oci-layout, index.json, blobs/sha256/...) is what umoci, skopeo \
            and podman read: `skopeo inspect oci:DIR:TAG`, `umoci unpack --image DIR:TAG`. \
            Layers are gzip'd unless --uncompressed.
            """)

    @Argument(help: "NAME[:TAG] (TAG defaults to latest).") var reference: String
    @Argument(help: "The directory or FILE.tar to make; it must not exist.") var target: String
    @Flag(help: "Plain tar layers instead of gzip'd ones.") var uncompressed = false

    func run() {
        do {
            try requireRootForImages()
            let started = monotonicSeconds()
            Interruption.shared.watch()
            let image = try exportImage(reference, to: target, gzip: !uncompressed)
            let took = monotonicSeconds() - started
            print(
                "exported \(image.reference) to \(image.target): \(image.layers) layer\(image.layers == 1 ? "" : "s"), \(image.bytes / 1024) kB in \(format2(took)) s"
            )
        } catch { fail(error) }
    }
}

/// `scratch commit`: scratch runs this program with `commit` first.
struct Commit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scratch commit",
        abstract: "Make a container's layer into a new image: its image's layers, plus one with what it changed.",
        discussion: """
            The container's upper directory is the layer: its files, and its deletions \
            (overlayfs whiteouts, written the OCI way). A stopped container (run without \
            --rm) gives a consistent image; a running one is read as it is, with a warning.
            """)

    @Argument(help: "The container's id, or the start of it (`scratch ps -a`).") var id: String
    @Argument(help: "NAME[:TAG] for the new image (TAG defaults to latest); it must not exist.") var reference: String

    func run() {
        do {
            try requireRootForImages()
            let started = monotonicSeconds()
            Interruption.shared.watch()
            let image = try commitContainer(id, as: reference) { writeToStandardError($0 + "\n") }
            let took = monotonicSeconds() - started
            print(
                "committed \(image.container) as \(image.reference): layer \(image.layer.prefix(12)), \(image.layerBytes / 1024) kB\(image.stored ? "" : " (already stored)") in \(format2(took)) s"
            )
        } catch { fail(error) }
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the images in the store.")

    func run() {
        var rows = [["IMAGE", "ID", "LAYERS", "SIZE", "CREATED"]]
        for image in storedImages() {
            let size = diskUsage(image.layers.map { layerStore() + "/" + $0 })
            let id = String((image.layers.last ?? "").prefix(12))
            rows.append([image.reference, id, "\(image.layers.count)", "\(size / 1024) kB", describeAge(image.created)])
        }
        for row in rows {
            print(
                row.enumerated().map { $0.offset == row.count - 1 ? $0.element : $0.element.padded(to: [24, 14, 8, 12][$0.offset]) }.joined(
                    separator: " "))
        }
    }
}

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an image (refused while a container uses it).")

    @Argument(help: "NAME[:TAG]") var reference: String

    func run() {
        do {
            try requireRootForImages()
            let layers = try removeImage(reference)
            print("removed \(reference)\(layers.isEmpty ? "" : ", and \(layers.count) layer\(layers.count == 1 ? "" : "s") no other image uses")")
        } catch { fail(error) }
    }
}

func requireRootForImages() throws(ContainerError) {
    if geteuid() != 0 {
        throw ContainerError(
            step: "check privileges",
            reason:
                "images hold files of any owner and overlay whiteouts: run it as `scratch image ...` (rootless, scratch runs it as root of your own user namespace), or as root"
        )
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func format2(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
}

func describeAge(_ created: Int) -> String {
    let seconds = max(0, secondsSinceEpoch() - created)
    func ago(_ count: Int, _ unit: String) -> String { "\(count) \(unit)\(count == 1 ? "" : "s") ago" }
    // Docker's units: a reproducible build (SOURCE_DATE_EPOCH=0, as busybox:latest
    // is) reads "56 years ago", not "20787 days ago".
    switch seconds {
    case ..<60: return ago(seconds, "second")
    case ..<3600: return ago(seconds / 60, "minute")
    case ..<86400: return ago(seconds / 3600, "hour")
    case ..<(14 * 86400): return ago(seconds / 86400, "day")
    case ..<(60 * 86400): return ago(seconds / (7 * 86400), "week")
    case ..<(2 * 365 * 86400): return ago(seconds / (30 * 86400), "month")
    default: return ago(seconds / (365 * 86400), "year")
    }
}

extension String {
    func padded(to width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
}

/// Parses and runs `Root`; a bad command line is Docker's 125, where ArgumentParser
/// would use 64.
func main<Root: ParsableCommand>(_: Root.Type, _ arguments: [String]) -> Never {
    do {
        var command = try Root.parseAsRoot(arguments)
        try command.run()
        exit(0)
    } catch {
        let code = Root.exitCode(for: error)
        if code == .success { Root.exit(withError: error) }
        var message = Root.fullMessage(for: error) + "\n"
        message.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        exit(ExitCode.runtimeFailed)
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "commit" { main(Commit.self, Array(arguments.dropFirst())) }
main(Image.self, arguments)
