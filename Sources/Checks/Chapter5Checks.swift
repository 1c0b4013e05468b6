import Foundation
import Glibc
import Runtime

// Chapter 5 — layers: the container runs on an overlay of an image's layers and a
// layer of its own. Every check runs the same three-layer image, made offline with
// umoci once per check run and imported with the runtime under test (its own
// `overlayEntry` turns the whiteouts), then looks from inside the container and, on
// the host, at the store's layers and the container's upper directory.

/// The test image: three layers made with umoci from the check run's busybox rootfs.
///
///   top      /etc/layer = 3, /opt/from-top, /etc/.wh.gone, /opt/app/sub/.wh..wh..opq + new
///   middle   /etc/layer = 2, /opt/from-middle, /opt/app/sub/old, /etc/gone
///   base     busybox, /etc/layer = 1, /etc/from-base
struct TestImage: Sendable {
    static let name = "layers-test:1"
    /// The OCI layout on the host.
    let layout: String
    /// Its layers in the store, on the host, bottom first.
    let layers: [String]

    var top: String { layers.last ?? "" }
}

/// The test image, or why there is none: every check's outcome then.
enum PreparedImage: Sendable {
    case image(TestImage)
    case problem(Outcome)
}

/// The commands that make the test image's OCI layout: `$1` the directory to make it
/// in, `$2` the busybox rootfs of the base layer.
let testImageScript = """
    [ -x "$2/bin/busybox" ] || { echo "no busybox rootfs at $2" >&2; exit 3; }
    cd "$1"
    umoci init --layout layout
    umoci new --image layout:1
    umoci unpack --image layout:1 bundle >/dev/null
    cp -a "$2/." bundle/rootfs/
    echo 1 > bundle/rootfs/etc/layer && echo base > bundle/rootfs/etc/from-base
    umoci repack --refresh-bundle --image layout:1 bundle
    mkdir -p bundle/rootfs/opt/app/sub && echo 2 > bundle/rootfs/etc/layer
    echo middle > bundle/rootfs/opt/from-middle && echo old > bundle/rootfs/opt/app/sub/old && echo gone > bundle/rootfs/etc/gone
    umoci repack --image layout:1 bundle
    rm -rf bundle
    mkdir -p top/etc top/opt/app/sub && echo 3 > top/etc/layer && echo top > top/opt/from-top
    touch top/etc/.wh.gone top/opt/app/sub/.wh..wh..opq && echo new > top/opt/app/sub/new
    tar -C top -cf top.tar etc opt
    umoci raw add-layer --image layout:1 top.tar
    rm -rf top top.tar
    """

extension CheckContext {
    /// The test image, made and imported on first use (once per check run; the
    /// checks run side by side). A failure is every check's failure, with its reason.
    func chapter5Image() -> PreparedImage {
        imageLock.lock()
        defer { imageLock.unlock() }
        if let testImage { return testImage }
        let result = makeChapter5Image()
        testImage = result
        return result
    }

    private func makeChapter5Image() -> PreparedImage {
        // The program by its name (`workbook image import 5 …`), not its path under .build.
        var shown = importCommandLine(source: "LAYOUT", name: TestImage.name)
        if let program = shown.first { shown[0] = String(program.split(separator: "/").last ?? Substring(program)) }
        let prepared = makeImportedImage(
            in: "image", script: testImageScript, name: TestImage.name, what: "the test image (three layers)",
            imported: "the three-layer test image imported (\(shown.joined(separator: " ")))")
        guard case .image(let image) = prepared else { return prepared }
        let record = (try? String(contentsOfFile: scratchHome + "/images/layers-test/1", encoding: .utf8)) ?? ""
        let layers = record.split(separator: "\n").filter { $0.hasPrefix("layer=") }.map { scratchHome + "/layers/" + $0.dropFirst(6) }
        guard layers.count == 3 else {
            return .problem(.failed(expected: "3 layers in the image record \(scratchHome)/images/layers-test/1", saw: quote(record)))
        }
        return .image(TestImage(layout: image.layout, layers: layers))
    }

    /// A test image made offline with umoci in `workDirectory/<subdirectory>` (`script`
    /// gets that directory and the check's busybox rootfs), then imported as `name` by
    /// the runtime under test. Chapters 5 and 6 make theirs so; `layers` is left empty.
    func makeImportedImage(in subdirectory: String, script: String, name: String, what: String, imported expectation: String)
        -> PreparedImage
    {
        guard access("/usr/bin/umoci", X_OK) == 0 || CheckContext.runHost(["sh", "-c", "command -v umoci"]).status == 0 else {
            return .problem(.skipped("umoci is not installed: it makes the test image, offline — `apt-get install umoci`"))
        }
        let directory = workDirectory + "/" + subdirectory
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            return .problem(.failed(expected: "a directory for the test image", saw: "mkdir \(directory): \(String(cString: strerror(errno)))"))
        }
        let built = CheckContext.runHost(["bash", "-euo", "pipefail", "-c", script, "bash", directory, rootfs], timeout: 60)
        guard built.status == 0 else {
            return .problem(.failed(expected: "umoci to make \(what)", saw: describe(built)))
        }
        let layout = directory + "/layout"
        let imported = RunningProcess(importCommandLine(source: layout, name: name), environment: environment, outputDirectory: workDirectory)
            .wait(timeout: 60)
        guard imported.status == 0 else {
            return .problem(.failed(expected: expectation, saw: describe(imported)))
        }
        return .image(TestImage(layout: layout, layers: []))
    }

    /// The runtime's image import: `scratch run` → `scratch image import`, `workbook
    /// run 5 --reference` → `workbook image import 5 --reference`, and so on.
    func importCommandLine(source: String, name: String) -> [String] {
        guard let run = runtime.firstIndex(of: "run") else { return runtime + ["image", "import", source, name] }
        return Array(runtime[..<run]) + ["image", "import"] + runtime[(run + 1)...] + [source, name]
    }

    /// Starts a container of `image` (no --rootfs: the overlay).
    func startImage(_ command: [String], options: [String] = [], image: String = TestImage.name) -> RunningProcess {
        // `workbook run N` (and mutant-runtime) read the command after a "--" of their
        // own (LearnerRunOptions); `scratch run` takes IMAGE -- CMD as it is.
        let learnerStyle = runtime.firstIndex(of: "run").map { $0 + 1 < runtime.count && Int(runtime[$0 + 1]) != nil } ?? false
        let running = RunningProcess(
            runtime + options + (learnerStyle ? ["--"] : []) + [image, "--"] + command, environment: environment,
            outputDirectory: workDirectory)
        running.onTimeout = { [weak self] in self?.hangSeen = true }
        return running
    }

    func runImage(_ command: [String], options: [String] = ["--rm"], timeout: Double = 15) -> RunResult {
        startImage(command, options: options).wait(timeout: hangSeen ? min(timeout, 3) : timeout)
    }

    /// What a failed start says about the overlay's options, which the runtime puts in
    /// its error ("the options were ...").
    func overlayDiagnosis(_ result: RunResult) -> String {
        guard result.status != 0, let range = result.stderr.range(of: "the options were ") else { return "" }
        let options = String(result.stderr[range.upperBound...].prefix { $0 != "\n" })
        let upper = options.components(separatedBy: "upperdir=").dropFirst().first?.prefix { $0 != "," } ?? ""
        if !options.contains("workdir=") {
            return " — the overlay's options have no workdir: overlayfs needs an empty work directory beside upperdir"
        }
        if options.contains(scratchHome) {
            return
                " — a path was not escaped: this check's SCRATCH_HOME (\(scratchHome)) has ':' and ',', and an unescaped ',' ends an option"
        }
        if result.stderr.contains("Too many levels of symbolic links") || !upper.contains("/containers/") {
            return
                " — upperdir (\(upper)) is one of the lower layers, not the container's own directory: overlayfs refuses overlapping layers (ELOOP)"
        }
        return ""
    }

    /// "saw" for a run: what it printed, and what its failure says about the options.
    func sawRun(_ result: RunResult) -> String { describe(result) + overlayDiagnosis(result) }
}

/// A file's type on the host, without following a link: "a character device 0/0",
/// "an empty regular file", ... nil when there is nothing.
func describeEntry(_ path: String) -> String? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    switch info.st_mode & S_IFMT {
    case S_IFCHR: return "a character device \(info.st_rdev >> 8 & 0xfff):\(info.st_rdev & 0xff)"
    case S_IFREG: return info.st_size == 0 ? "an empty regular file" : "a regular file"
    case S_IFDIR: return "a directory"
    case S_IFLNK: return "a symlink"
    default: return "a special file"
    }
}

/// An extended attribute of `path` (not following a link), nil when it has none.
func attribute(_ name: String, of path: String) -> String? {
    guard let lgetxattr = lgetxattrFunction else { return nil }
    var buffer = [UInt8](repeating: 0, count: 64)
    let count = lgetxattr(path, name, &buffer, buffer.count)
    return count >= 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : nil
}

/// glibc's lgetxattr(2), which Swift's Glibc module does not show.
let lgetxattrFunction: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "lgetxattr") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int).self)
}()

/// A digest of a directory tree's names, types, modes, sizes and times (ctime moves
/// with an xattr too): what any write into it changes.
func treeDigest(_ path: String) -> String {
    CheckContext.runHost(
        [
            "bash", "-c",
            "cd \"$1\" && { find . -printf '%p %y %m %s %T@ %C@\\n'; } | LC_ALL=C sort | sha256sum",
            "bash", path,
        ]
    ).stdout.trimmed
}

let chapter5Checks: [Check] = [
    Check(
        "layers-visible", chapter: 5, "a file from each of the image's three layers is visible, and the top layer's copy wins",
        hints: [
            "overlayfs looks a name up in upperdir, then in the lower layers in the order lowerdir lists them: the first that has it wins.",
            "An image's manifest lists its layers bottom first (the base first); lowerdir wants the top layer first. The options are one string, `lowerdir=A:B:C,upperdir=U,workdir=W`.",
            "return \"lowerdir=\" + lower.reversed().map(escape).joined(separator: \":\") + \",upperdir=\" + escape(upper) + \",workdir=\" + escape(work), where escape(path) puts a backslash before every \\, : and , in path.",
        ]
    ) { context in
        if case .problem(let outcome) = context.chapter5Image() { return outcome }
        let result = context.runImage(["sh", "-c", "cat /etc/from-base /opt/from-middle /opt/from-top /etc/layer"])
        var saw = context.sawRun(result)
        if result.status == 0 && result.stdout.hasSuffix("1\n") {
            saw += " — /etc/layer came from the bottom layer: lowerdir must list the top layer first"
        } else if result.status == 0 && result.stdout.hasSuffix("2\n") {
            saw += " — /etc/layer came from the middle layer: lowerdir must list the top layer first"
        }
        return expect(
            result.status == 0 && result.stdout == "base\nmiddle\ntop\n3\n",
            "base, middle and top (one file from each layer), then 3: /etc/layer as the top layer has it", saw: saw)
    },

    Check(
        "whiteout-hides", chapter: 5, "/etc/gone, deleted in the top layer, is absent, and no .wh. name shows",
        hints: [
            "OCI says \"deleted\" with a file named `.wh.NAME` beside the deleted one; overlayfs says it with a special file in NAME's own place. The importer writes whatever overlayEntry returns.",
            "overlayfs's whiteout is a character device with device number 0/0 (what `mknod NAME c 0 0` makes), under the name it hides, without the `.wh.` prefix.",
            "For `DIR/.wh.NAME` return .node(path: DIR + \"/\" + NAME, mode: S_IFCHR, device: 0) — just NAME when there is no DIR.",
        ]
    ) { context in
        let image: TestImage
        switch context.chapter5Image() {
        case .image(let made): image = made
        case .problem(let outcome): return outcome
        }
        let result = context.runImage(["sh", "-c", "ls -A /etc | grep gone; echo end"])
        var saw = context.sawRun(result)
        let marker = describeEntry(image.top + "/etc/.wh.gone")
        let hidden = describeEntry(image.top + "/etc/gone")
        if let marker {
            saw +=
                marker.hasPrefix("a character device")
                ? " — the top layer holds etc/.wh.gone as \(marker): the whiteout must be named gone, without .wh."
                : " — the top layer holds etc/.wh.gone as \(marker): it was written as it is, not turned into a whiteout"
        } else if let hidden, hidden != "a character device 0:0" {
            saw +=
                hidden == "an empty regular file"
                ? " — the top layer holds etc/gone as an empty regular file: overlayfs shows it (empty) instead of hiding /etc/gone; its whiteout is a character device 0/0"
                : " — the top layer holds etc/gone as \(hidden): overlayfs takes only a character device 0/0 for a whiteout"
        } else if hidden == nil {
            saw += " — the top layer has nothing at etc/gone or etc/.wh.gone"
        } else if result.status == 0 && result.stdout != "end\n" {
            saw += " — the top layer's whiteout is right (etc/gone, a character device 0/0), yet /etc/gone shows: is the top layer first in lowerdir?"
        }
        return expect(result.status == 0 && result.stdout == "end\n", "`ls -A /etc | grep gone` to print nothing", saw: saw)
    },

    Check(
        "opaque-directory", chapter: 5, "/opt/app/sub, made opaque in the top layer, shows only the top layer's files",
        hints: [
            "`DIR/.wh..wh..opq` says: nothing of DIR from the layers below shows through. overlayfs keeps that in an extended attribute of DIR itself.",
            "The attribute is overlay.opaque = \"y\", in the trusted.* namespace: a mount made by root reads trusted.overlay.*, and user.overlay.* only with the userxattr option (rootless mounts).",
            "For `DIR/.wh..wh..opq` return .xattr(path: DIR, name: \"trusted.overlay.opaque\", value: \"y\") — \"\" when the marker is at the layer's root.",
        ]
    ) { context in
        let image: TestImage
        switch context.chapter5Image() {
        case .image(let made): image = made
        case .problem(let outcome): return outcome
        }
        let result = context.runImage(["ls", "-A", "/opt/app/sub"])
        var saw = context.sawRun(result)
        let sub = image.top + "/opt/app/sub"
        if result.status == 0 && result.stdout != "new\n" {
            if attribute("trusted.overlay.opaque", of: sub) == "y" {
                saw += " — opt/app/sub has trusted.overlay.opaque=y in the top layer: is the top layer first in lowerdir?"
            } else if attribute("user.overlay.opaque", of: sub) != nil {
                saw +=
                    " — the top layer's opt/app/sub has user.overlay.opaque, which overlayfs reads only when mounted with userxattr; a mount by root reads trusted.overlay.opaque"
            } else if attribute("trusted.overlay.opaque", of: sub + "/.wh..wh..opq") != nil
                || attribute("user.overlay.opaque", of: sub + "/.wh..wh..opq") != nil
            {
                saw += " — the attribute went on opt/app/sub/.wh..wh..opq, not on the directory opt/app/sub itself"
            } else if attribute("trusted.overlay.opaque", of: image.top + "/opt/app") != nil {
                saw += " — the attribute went on opt/app, the parent, not on the directory opt/app/sub itself"
            } else if let marker = describeEntry(sub + "/.wh..wh..opq") {
                saw +=
                    " — the top layer holds opt/app/sub/.wh..wh..opq as \(marker): the marker was not turned into an attribute of opt/app/sub itself"
            } else {
                saw += " — opt/app/sub in the top layer has no overlay.opaque attribute"
            }
        }
        return expect(
            result.status == 0 && result.stdout == "new\n", "only new (the top layer's file), not old from the layer below", saw: saw)
    },

    Check(
        "write-in-upper", chapter: 5, "a write lands in the container's upper dir, and no image layer changes",
        hints: [
            "Every write goes to upperdir; a file from a lower layer is first copied up there whole (copy-up). The lower layers are only ever read.",
            "upperdir must be the container's own `upper` directory, never a layer of the image: the image's layers are shared by every container of the image, and by the next run.",
            "\"lowerdir=\" + lower.reversed().map(escape).joined(separator: \":\") + \",upperdir=\" + escape(upper) + \",workdir=\" + escape(work) — upper and work as the runtime gives them, escaped.",
        ]
    ) { context in
        let image: TestImage
        switch context.chapter5Image() {
        case .image(let made): image = made
        case .problem(let outcome): return outcome
        }
        let before = image.layers.map(treeDigest)
        // No --rm: the layer stays on disk, to be looked at (tearDown removes it).
        let result = context.runImage(
            ["sh", "-c", "hostname; echo written > /etc/written; echo changed > /etc/layer"], options: [])
        let after = image.layers.map(treeDigest)
        let id = result.stdout.split(separator: "\n").first.map { String($0).trimmed } ?? ""
        let upper = context.scratchHome + "/containers/\(id)/upper"
        let written = (try? String(contentsOfFile: upper + "/etc/written", encoding: .utf8)) ?? ""
        let copiedUp = (try? String(contentsOfFile: upper + "/etc/layer", encoding: .utf8)) ?? ""
        let changed = zip(["base", "middle", "top"], zip(before, after)).filter { $0.1.0 != $0.1.1 }.map(\.0)
        var saw = context.sawRun(result)
        if !changed.isEmpty {
            saw +=
                " — the image's \(changed.joined(separator: " and ")) layer changed: upperdir is one of the lower layers, not the container's own directory"
        } else if result.status == 0 {
            saw +=
                "; \(upper)/etc/written: \(written.isEmpty ? "missing" : quote(written)), etc/layer: \(copiedUp.isEmpty ? "missing" : quote(copiedUp))"
        }
        return expect(
            result.status == 0 && changed.isEmpty && written == "written\n" && copiedUp == "changed\n",
            "/etc/written and a copied-up /etc/layer in \(context.scratchHome)/containers/ID/upper, and the image's three layers unchanged",
            saw: saw)
    },

    Check(
        "containers-isolated", chapter: 5, "two containers of one image, side by side, do not see each other's writes",
        hints: [
            "Each container has an upper directory of its own, in $SCRATCH_HOME/containers/ID; only the image's layers below are shared, read-only.",
            "Two containers that see each other's files write into one directory: upperdir must be the `upper` the runtime passes, different for each container — not a fixed path, not a layer.",
            "\",upperdir=\" + escape(upper) + \",workdir=\" + escape(work), with the `upper` and `work` arguments of this very call.",
        ]
    ) { context in
        if case .problem(let outcome) = context.chapter5Image() { return outcome }
        let script = "echo $0 > /etc/shared; sleep 0.5; cat /etc/shared"
        let first = context.startImage(["sh", "-c", script, "first"], options: ["--rm"])
        let second = context.startImage(["sh", "-c", script, "second"], options: ["--rm"])
        let one = first.wait(timeout: 15)
        let two = second.wait(timeout: 15)
        let third = context.runImage(["sh", "-c", "cat /etc/shared 2>/dev/null; echo end"])
        return all(
            expect(one.status == 0 && one.stdout == "first\n", "the first container to read back its own write", saw: context.sawRun(one)),
            expect(two.status == 0 && two.stdout == "second\n", "the second container to read back its own write", saw: context.sawRun(two)),
            expect(
                third.status == 0 && third.stdout == "end\n", "a third container, started after, to have no /etc/shared",
                saw: context.sawRun(third)))
    },

    Check(
        "rm-leaves-nothing", chapter: 5, "with --rm the container's layer is gone when it ends: no upper dir, no stopped container",
        hints: [
            "With --rm the container's layer is a tmpfs in the container's own mount namespace: when the container ends, the namespace goes, and the tmpfs with it.",
            "What is left is the empty containers/ID directory, which the runtime removes. An overlay mounted with other directories than `upper` and `work` leaves its writes elsewhere.",
            "\",upperdir=\" + escape(upper) + \",workdir=\" + escape(work) — the paths the runtime gives, under the directory it removes.",
        ]
    ) { context in
        if case .problem(let outcome) = context.chapter5Image() { return outcome }
        let result = context.runImage(["sh", "-c", "hostname; echo x > /etc/x"])
        let id = result.stdout.split(separator: "\n").first.map { String($0).trimmed } ?? ""
        let directory = context.scratchHome + "/containers/" + id
        let left = [directory, stoppedRoot + "/" + id].filter { !id.isEmpty && describeEntry($0) != nil }
        return all(
            expect(result.status == 0 && !id.isEmpty, "the container to run and print its id", saw: context.sawRun(result)),
            expect(left.isEmpty, "nothing of container \(id) left", saw: left.joined(separator: ", ") + " still there"))
    },

    Check(
        "tampered-blob-refused", chapter: 5, "an image whose layer blob was changed is refused on import, and nothing of it is stored",
        provesChapter: false,
        hints: [
            "Every blob of an OCI image is named by its sha256: the importer hashes each layer as it reads it, and compares.",
            "A layer is renamed into the store only when both digests match (the blob's, and the uncompressed tar's diff_id); until then it is unpacked into a temporary directory.",
            "This is the importer's job (Sources/ImageStore/LayerUnpack.swift, extractLayer and unpackLayer), not your exercise's: it refuses with exit 125 and removes the temporary directory.",
        ]
    ) { context in
        let image: TestImage
        switch context.chapter5Image() {
        case .image(let made): image = made
        case .problem(.skipped(let reason)): return .skipped(reason)
        case .problem:
            // The import itself failed (an unfinished exercise): tampering still must
            // be refused, so make the layout alone.
            guard let made = try? context.chapter5Layout() else {
                return .failed(expected: "the test image's layout", saw: "umoci could not make it")
            }
            image = TestImage(layout: made, layers: [])
        }
        let tampered = context.workDirectory + "/tampered"
        let home = context.workDirectory + "/tampered-home"
        let copied = CheckContext.runHost(["cp", "-a", image.layout, tampered])
        guard copied.status == 0, let blob = baseLayerBlob(tampered) else {
            return .failed(expected: "a copy of the test image's layout", saw: describe(copied))
        }
        // One byte changed in the middle of the base layer's blob: the first unpacked,
        // so the digest is what stops the import, whatever overlayEntry does.
        guard let handle = FileHandle(forUpdatingAtPath: blob) else { return .failed(expected: "to open \(blob)", saw: "no") }
        let size = handle.seekToEndOfFile()
        handle.seek(toFileOffset: size / 2)
        let byte = handle.readData(ofLength: 1).first ?? 0
        handle.seek(toFileOffset: size / 2)
        handle.write(Data([byte ^ 0xff]))
        handle.closeFile()
        var environment = context.environment
        environment["SCRATCH_HOME"] = home
        let result = RunningProcess(
            context.importCommandLine(source: tampered, name: "tampered:1"), environment: environment,
            outputDirectory: context.workDirectory
        ).wait(timeout: 60)
        let stored = ((try? FileManager.default.contentsOfDirectory(atPath: home + "/layers")) ?? []).filter { $0 != ".lock" }
        let record = describeEntry(home + "/images/tampered/1")
        return all(
            expect(
                result.status == 125 && result.stderr.contains("sha256"), "the import refused with exit 125, naming the sha256 that differs",
                saw: describe(result)),
            expect(
                stored.isEmpty && record == nil, "no layer (not even a part of one) and no image stored",
                saw: "layers: \(stored.joined(separator: ", ")); image record: \(record ?? "none")"))
    },
]

extension CheckContext {
    /// The layout alone (made already, or made now).
    func chapter5Layout() throws -> String {
        let layout = workDirectory + "/image/layout"
        if FileManager.default.fileExists(atPath: layout + "/index.json") { return layout }
        throw CheckSetupError("no layout")
    }
}

/// The path of the first (base) layer blob of the layout's first manifest.
func baseLayerBlob(_ layout: String) -> String? {
    func json(_ path: String) -> [String: Any]? {
        (try? Data(contentsOf: URL(fileURLWithPath: path))).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }
    func blob(_ digest: String?) -> String? {
        digest.map { layout + "/blobs/sha256/" + $0.replacingOccurrences(of: "sha256:", with: "") }
    }
    guard let index = json(layout + "/index.json"), let manifests = index["manifests"] as? [[String: Any]],
        let manifestPath = blob(manifests.first?["digest"] as? String), let manifest = json(manifestPath),
        let layers = manifest["layers"] as? [[String: Any]]
    else { return nil }
    return blob(layers.first?["digest"] as? String)
}
