import Glibc
import Runtime
import Syscalls

/// One image in the store, for `scratch image ls`.
public struct StoredImage: Sendable {
    public var reference: String
    public var layers: [String]
    public var created: Int
}

/// Every image in `$SCRATCH_HOME/images` (names may hold '/': the tree is walked).
public func storedImages() -> [StoredImage] {
    let root = absoluteScratchHomeForImages() + "/images"
    var found: [StoredImage] = []
    func walk(_ directory: String, name: String) {
        for entry in ((try? listDirectory(directory)) ?? []).sorted() {
            let path = directory + "/" + entry
            if fileKind(path, followLinks: false) == .directory {
                walk(path, name: name.isEmpty ? entry : name + "/" + entry)
            } else if !name.isEmpty, !entry.hasSuffix(".json"), !entry.hasSuffix(".new"), let text = readControlFile(path) {
                let lines = text.split(separator: "\n")
                let layers = lines.filter { $0.hasPrefix("layer=") }.map { String($0.dropFirst(6)) }
                let created = lines.first { $0.hasPrefix("created=") }.flatMap { Int($0.dropFirst(8)) } ?? 0
                found.append(StoredImage(reference: name + ":" + entry, layers: layers, created: created))
            }
        }
    }
    walk(root, name: "")
    return found
}

func absoluteScratchHomeForImages() -> String { parentDirectory(of: layerStore()) }

/// Bytes on disk under `paths`, by `du` (hard links counted once).
public func diskUsage(_ paths: [String]) -> Int {
    guard !paths.isEmpty, let (_, output) = try? runProgram(["du", "-scb"] + paths) else { return 0 }
    let last = String(decoding: output, as: UTF8.self).split(separator: "\n").last ?? ""
    return Int(last.split(separator: "\t").first ?? "") ?? 0
}

/// `scratch image rm`: the image's record, and its layers no other image uses. Refused
/// while a container (running or stopped) was made from it.
public func removeImage(_ reference: String) throws(ContainerError) -> [String] {
    let full = reference.contains(":") ? reference : reference + ":latest"
    let images = storedImages()
    guard let image = images.first(where: { $0.reference == full }) else {
        throw ContainerError(step: "remove the image", reason: "no image \(full) — `scratch image ls` lists them")
    }
    let users = (recordedContainers().filter(\.alive) + stoppedContainers()).compactMap(\.state).filter { $0.image == full }
    if let user = users.first {
        throw ContainerError(
            step: "remove the image",
            reason: "\(full) is in use by container \(user.id)\(user.stopped ? " (stopped: `scratch rm \(user.id)` first)" : " (running)")")
    }
    let lock: FileDescriptor
    do { lock = try lockStore(blocking: true) } catch { throw ContainerError(step: "remove the image", reason: "\(error)") }
    let record = imageRecordFile(full)
    try? removeFile(record)
    try? removeFile(record + ".config.json")
    let stillUsed = Set(images.filter { $0.reference != full }.flatMap(\.layers))
    var removed: [String] = []
    for layer in Set(image.layers) where !stillUsed.contains(layer) {
        removeTree(layerStore() + "/" + layer)
        removed.append(layer)
    }
    _ = consume lock
    return removed
}
