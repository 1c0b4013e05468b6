import Foundation
import Glibc
import Runtime
import Syscalls

// `scratch commit ID NAME:TAG`: a layer is a diff. A container's upper directory holds
// exactly what it changed — new and changed files whole (copied up), deletions as
// whiteouts — so it *is* the next layer of its image, once its whiteouts are written
// the OCI way (LayerPack.swift). The new image is the base image's layers plus that
// one, and the base's config (Env, Cmd, ...) with one more diff_id.
//
// Nothing half-made is ever visible: the tar and the unpacked layer are made under
// `layers/new-PID-*` while the store's lock is held, and renamed when complete; the
// image record is renamed into place last. A failure removes them; a SIGKILL leaves
// `new-PID-*`, which the next import or commit, or `scratch gc`, removes.

/// What a commit made.
public struct CommittedImage: Sendable {
    public var reference: String
    public var container: String
    /// The new layer's name in the store (its diff_id).
    public var layer: String
    public var layerBytes: Int
    /// False when the layer's content was in the store already.
    public var stored: Bool
}

/// NAME:TAG, with `:latest` when there is no tag (as `run` and `image rm` read a name).
public func fullReference(_ reference: String) -> String {
    reference.contains(":") ? reference : reference + ":latest"
}

public func commitContainer(_ id: String, as requested: String, warn: (String) -> Void) throws(ContainerError) -> CommittedImage {
    let step = "commit the container"
    let reference = fullReference(requested)
    do { try checkReference(reference) } catch { throw ContainerError(step: step, reason: error.reason) }
    let alive = recordedContainers().filter(\.alive)
    let matches = (alive + stoppedContainers()).filter { !id.isEmpty && ($0.state?.id.hasPrefix(id) ?? false) }
    guard let found = matches.first, let state = found.state else {
        throw ContainerError(step: step, reason: "no container \(id.isEmpty ? "\"\"" : id) — `scratch ps -a` lists them")
    }
    if matches.count > 1 {
        throw ContainerError(step: step, reason: "\(id) names \(matches.count) containers: give more of the id (`scratch ps -a`)")
    }
    guard let layer = state.layer, let image = state.image else {
        throw ContainerError(
            step: step, reason: "\(state.id) ran with --rootfs: its writes went into that directory itself, and it has no layer of its own to commit")
    }
    let upper = layer + "/upper"
    guard fileKind(upper, followLinks: false) == .directory else {
        throw ContainerError(
            step: step,
            reason:
                "\(state.id) runs with --rm: its layer is a tmpfs in its own mount namespace, out of the host's reach — run it without --rm to commit it"
        )
    }
    if found.alive {
        // Docker pauses the container (the freezer cgroup) while it copies; scratch
        // reads the upper directory as it is, by descriptor, so what it reads is
        // always inside the layer — but a file being written meanwhile may be
        // caught half-written.
        warn(
            "scratch commit: \(state.id) is running: its layer is read as it is now, without pausing it; a file it writes meanwhile may be caught half-written (stop it first for a consistent image)"
        )
    }
    let lock: FileDescriptor
    do { lock = try lockStore(blocking: true) } catch { throw ContainerError(step: step, reason: "\(error)") }
    _ = removeUnfinishedLayers()
    if fileKind(imageRecordFile(reference)) != nil {
        throw ContainerError(step: step, reason: "image \(reference) exists — choose another NAME:TAG, or `scratch image rm \(reference)` first")
    }
    let baseLayers: [String]
    do { baseLayers = try imageLayers(image) } catch { throw ContainerError(step: step, reason: error.reason) }
    let baseConfig = try storedConfig(image, layers: baseLayers, step: step)
    let tar = layerStore() + "/new-\(getpid())-commit.tar"
    defer { _ = unlink(tar) }
    let packed = try packLayer(upper, into: tar, gzip: false, step: step)
    let final = layerStore() + "/" + packed.diffID
    let stored = fileKind(final) != .directory
    if stored {
        // Unpacked from the tar just written, by the import's own code: the layer in
        // the store is what an import of this tar would make, whiteouts and all.
        let temporary = layerStore() + "/new-\(getpid())-\(shortDigest(packed.diffID))"
        do {
            try unpackLayer(blob: tar, expected: packed.digest, diffID: packed.diffID, into: temporary)
        } catch {
            throw ContainerError(step: step, reason: error.reason)
        }
        if rename(temporary, final) == -1 {
            removeTree(temporary)
            throw ContainerError(step: step, reason: "\(SyscallError("rename", path: "\(temporary) to \(final)"))")
        }
    }
    // The layer, complete, stays in the store (an image can be made of it again); the
    // image is not made.
    try Interruption.shared.check(step: step)
    let layers = baseLayers + [packed.diffID]
    var config = baseConfig
    let now = iso8601Now()
    config["created"] = now
    config["rootfs"] = ["type": "layers", "diff_ids": layers.map { "sha256:" + $0 }]
    // History, when the base has one, gets a line for the new layer (tools that pair
    // history entries with layers expect one per layer).
    if var history = config["history"] as? [[String: Any]] {
        history.append(["created": now, "created_by": "scratch commit \(state.id)", "comment": "the upper layer of container \(state.id)"])
        config["history"] = history
    }
    let baseRecord = readControlFile(imageRecordFile(image)) ?? ""
    let kept = baseRecord.split(separator: "\n").filter { !$0.hasPrefix("layer=") && !$0.hasPrefix("created=") }.map(String.init)
    let record = layers.map { "layer=" + $0 } + kept + ["created=\(secondsSinceEpoch())"]
    try writeImage(reference, record: record, config: config, step: step)
    _ = consume lock
    return CommittedImage(reference: reference, container: state.id, layer: packed.diffID, layerBytes: packed.size, stored: stored)
}

/// The image's config as JSON: the one stored at import (`<tag>.config.json`), or,
/// for an image made here without one (the default busybox image), a minimal one.
func storedConfig(_ reference: String, layers: [String], step: String) throws(ContainerError) -> [String: Any] {
    let path = imageRecordFile(reference) + ".config.json"
    if fileKind(path) == .regular {
        guard let bytes = try? readFile(path), let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw ContainerError(step: step, reason: "\(path) is not valid JSON — import \(reference) again")
        }
        return json
    }
    var run: [String: Any] = [:]
    if let record = try? imageRecord(reference) {
        if !record.cmd.isEmpty { run["Cmd"] = record.cmd }
        if !record.environment.isEmpty { run["Env"] = record.environment }
    }
    return [
        "architecture": ociArchitecture(), "os": "linux", "config": run,
        "rootfs": ["type": "layers", "diff_ids": layers.map { "sha256:" + $0 }],
    ]
}

/// The machine's architecture as OCI names it (GOARCH's names).
func ociArchitecture() -> String {
    var names = utsname()
    uname(&names)
    let machine = withUnsafeBytes(of: names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    return ["x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"][machine] ?? machine
}

func iso8601Now() -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: Date())
}

/// JSON as OCI tools write it: keys sorted (the same config hashes the same), no
/// escaped slashes.
func jsonBytes(_ value: Any, step: String) throws(ContainerError) -> [UInt8] {
    guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]) else {
        throw ContainerError(step: step, reason: "cannot write the image's JSON")
    }
    return Array(data)
}

/// The record and the config, written under `layers/new-PID-record` (where an
/// interrupted commit's leftovers are found and removed) and renamed into
/// `images/<name>/`: the config first, the record — which makes the image exist — last.
private func writeImage(_ reference: String, record: [String], config: [String: Any], step: String) throws(ContainerError) {
    let destination = imageRecordFile(reference)
    let temporary = layerStore() + "/new-\(getpid())-record"
    defer { removeTree(temporary) }
    do {
        try makeDirectory(temporary, mode: 0o700)
        try writeFile(temporary + "/config.json", try jsonBytes(config, step: step))
        try writeFile(temporary + "/record", Array((record.joined(separator: "\n") + "\n").utf8))
        try makeDirectories(parentDirectory(of: destination))
        if rename(temporary + "/config.json", destination + ".config.json") == -1 {
            throw SyscallError("rename", path: "\(temporary)/config.json to \(destination).config.json")
        }
        if rename(temporary + "/record", destination) == -1 { throw SyscallError("rename", path: "\(temporary)/record to \(destination)") }
    } catch let error as ContainerError {
        throw error
    } catch {
        throw ContainerError(step: step, reason: "\(error)")
    }
}
