import ArgumentParser
import Glibc
import ImageStore
import Runtime
import Syscalls

// `scratch image ...`, run by scratch as git runs git-foo: images need libarchive,
// libcrypto and Foundation, which the runtime's own fully static binary leaves out.

struct Image: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Import, list and remove images (chapter 5).",
        subcommands: [Import.self, List.self, Remove.self]
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
            checked while it streams; OCI whiteouts become overlayfs ones.
            """)

    @Argument(help: "The OCI layout (directory or tar) or docker-archive tar.") var source: String
    @Argument(help: "NAME[:TAG] to store it as (default: the name inside the image).") var reference: String?

    func run() {
        do {
            try requireRootForImages()
            let started = monotonicSeconds()
            // The reference's chapter 5 turns the whiteouts (`workbook image import` uses the learner's).
            let image = try LayerConversion.$steps.withValue(Reference()) { try importImage(from: source, as: reference) }
            let took = monotonicSeconds() - started
            print(
                "imported \(image.reference): \(image.layers.count) layer\(image.layers.count == 1 ? "" : "s") (\(image.reused) already stored) in \(String(format2(took))) s"
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
        throw ContainerError(step: "check privileges", reason: "images hold files of any owner and overlay whiteouts: run as root")
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
    switch seconds {
    case ..<60: return "\(seconds) seconds ago"
    case ..<3600: return "\(seconds / 60) minutes ago"
    case ..<86400: return "\(seconds / 3600) hours ago"
    default: return "\(seconds / 86400) days ago"
    }
}

extension String {
    func padded(to width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
}

do {
    var command = try Image.parseAsRoot()
    try command.run()
} catch {
    // Docker's code for bad input: 125, where ArgumentParser would use 64.
    let code = Image.exitCode(for: error)
    if code == .success { Image.exit(withError: error) }
    var message = Image.fullMessage(for: error) + "\n"
    message.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(ExitCode.runtimeFailed)
}
