import Foundation
import Glibc
import Runtime
import Syscalls

// `scratch image export NAME:TAG DIR|FILE`: an image of the store as an OCI image
// layout, the form umoci, skopeo, buildah and podman read:
//
//   DIR/oci-layout                {"imageLayoutVersion": "1.0.0"}
//   DIR/index.json                one manifest, annotated with the tag as its ref.name
//   DIR/blobs/sha256/<digest>     the manifest, the config, one tar (gzip'd) per layer
//
// The store keeps layers unpacked, not their blobs, so each layer is packed again
// (LayerPack.swift: overlay whiteouts back into OCI ones); the config's diff_ids are
// the sha256 of those tars, the manifest's digests those of the blobs. A FILE (a name
// ending in .tar) is a tar of that directory, as `skopeo copy … oci-archive:` writes.
//
// Made in `TARGET.new-PID` beside the target and renamed when complete: a failure
// removes it, and no half-written layout ever has the target's name.

public struct ExportedImage: Sendable {
    public var reference: String
    public var target: String
    public var layers: Int
    /// Bytes written: the layout's blobs (or the tar).
    public var bytes: Int
}

public func exportImage(_ requested: String, to target: String, gzip: Bool) throws(ContainerError) -> ExportedImage {
    let step = "export the image"
    let reference = fullReference(requested)
    do { try checkReference(reference) } catch { throw ContainerError(step: step, reason: error.reason) }
    let asTar = target.hasSuffix(".tar")
    if fileKind(target, followLinks: false) != nil {
        throw ContainerError(step: step, reason: "\(target) exists — give a path that does not, the export makes it")
    }
    let parent = parentDirectory(of: target)
    guard fileKind(parent) == .directory else {
        throw ContainerError(step: step, reason: "\(parent) is not a directory — make it first (the export makes only \(target))")
    }
    // The store's lock: `image rm` must not take a layer away while it is packed.
    let lock: FileDescriptor
    do { lock = try lockStore(blocking: true) } catch { throw ContainerError(step: step, reason: "\(error)") }
    let layers: [String]
    do { layers = try imageLayers(reference) } catch { throw ContainerError(step: step, reason: error.reason) }
    var config = try storedConfig(reference, layers: layers, step: step)
    let work = target + ".new-\(getpid())"
    let layout = asTar ? work + "/layout" : work
    // Made here, or the export stops: the name is guessable (the target and a pid),
    // and in a directory others can write (/tmp) someone could have put a symlink
    // there to a directory of their choosing — makeDirectory's "already there is
    // fine" would then write the blobs and index.json through it. Only what this
    // mkdir made is ever removed.
    if mkdir(work, 0o755) == -1 {
        throw ContainerError(
            step: step, reason: "\(SyscallError("mkdir", path: work)) — something is already there; remove it if it is a leftover of yours")
    }
    var done = false
    defer { if !done { removeTree(work) } }
    let blobs = layout + "/blobs/sha256"
    do {
        try makeDirectories(blobs)
    } catch {
        throw ContainerError(step: step, reason: "\(error)")
    }
    var descriptors: [[String: Any]] = []
    var diffIDs: [String] = []
    var bytes = 0
    for (index, layer) in layers.enumerated() {
        let temporary = blobs + "/.layer-\(index)"
        let packed = try packLayer(layerStore() + "/" + layer, into: temporary, gzip: gzip, step: step)
        try moveBlob(temporary, to: blobs + "/" + packed.digest, step: step)
        descriptors.append([
            "mediaType": gzip ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar",
            "digest": "sha256:" + packed.digest, "size": packed.size,
        ])
        diffIDs.append("sha256:" + packed.diffID)
        bytes += packed.size
    }
    var rootfs = config["rootfs"] as? [String: Any] ?? [:]
    rootfs["type"] = "layers"
    rootfs["diff_ids"] = diffIDs
    config["rootfs"] = rootfs
    if config["architecture"] == nil { config["architecture"] = ociArchitecture() }
    if config["os"] == nil { config["os"] = "linux" }
    let configBlob = try writeBlob(try jsonBytes(config, step: step), in: blobs, step: step)
    let manifest: [String: Any] = [
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": ["mediaType": "application/vnd.oci.image.config.v1+json", "digest": configBlob.digest, "size": configBlob.size],
        "layers": descriptors,
    ]
    let manifestBlob = try writeBlob(try jsonBytes(manifest, step: step), in: blobs, step: step)
    // The tag alone as ref.name, as umoci and skopeo write it: `oci:DIR:TAG` finds it.
    let index: [String: Any] = [
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            [
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifestBlob.digest, "size": manifestBlob.size,
                "annotations": ["org.opencontainers.image.ref.name": tagOf(reference)],
            ]
        ],
    ]
    do {
        try writeFile(layout + "/index.json", try jsonBytes(index, step: step))
        try writeFile(layout + "/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
    } catch let error as ContainerError {
        throw error
    } catch {
        throw ContainerError(step: step, reason: "\(error)")
    }
    bytes += configBlob.size + manifestBlob.size
    try Interruption.shared.check(step: step)
    if asTar {
        let file = work + "/image.tar"
        bytes = try packLayer(layout, into: file, gzip: false, step: step).size
        if rename(file, target) == -1 { throw ContainerError(step: step, reason: "\(SyscallError("rename", path: "\(file) to \(target)"))") }
    } else if rename(work, target) == -1 {
        throw ContainerError(step: step, reason: "\(SyscallError("rename", path: "\(work) to \(target)"))")
    }
    if asTar { removeTree(work) }
    done = true
    _ = consume lock
    return ExportedImage(reference: reference, target: target, layers: layers.count, bytes: bytes)
}

/// A packed layer into its place in blobs/sha256 (the same layer twice in one image
/// is one blob).
private func moveBlob(_ temporary: String, to path: String, step: String) throws(ContainerError) {
    if fileKind(path) == .regular {
        _ = unlink(temporary)
    } else if rename(temporary, path) == -1 {
        throw ContainerError(step: step, reason: "\(SyscallError("rename", path: "\(temporary) to \(path)"))")
    }
}

/// A small blob (config, manifest), named by its sha256.
private func writeBlob(_ bytes: [UInt8], in blobs: String, step: String) throws(ContainerError) -> (digest: String, size: Int) {
    let hash = SHA256()
    bytes.withUnsafeBytes { if let base = $0.baseAddress { hash.update(base, count: $0.count) } }
    let hex = hash.hexDigest()
    do { try writeFile(blobs + "/" + hex, bytes) } catch { throw ContainerError(step: step, reason: "\(error)") }
    return ("sha256:" + hex, bytes.count)
}
