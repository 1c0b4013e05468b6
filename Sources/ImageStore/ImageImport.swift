import CArchive
import Foundation
import Glibc
import Runtime
import Syscalls

// `scratch image import`: an OCI image layout (as umoci, skopeo and buildah write it)
// or a `docker save` archive, as a directory or a tar, into the store. Off the hot
// path: JSON through Foundation, which `scratch run` never loads.
//
//   OCI layout       oci-layout, index.json → manifest → config + layers, every file
//                    a blob named by its sha256 under blobs/sha256/
//   docker-archive   manifest.json: [{Config, RepoTags, Layers}], each layer an
//                    uncompressed tar whose sha256 is the config's diff_id

/// What an import made.
public struct ImportedImage: Sendable {
    public var reference: String
    public var layers: [String]
    /// Layers that were in the store already (shared with another image).
    public var reused: Int
}

/// The part of the image's config chapter 6 needs: how to start it.
struct ImageConfig {
    var env: [String] = []
    var cmd: [String] = []
    var entrypoint: [String] = []
    var workingDir = ""
    var user = ""
    var diffIDs: [String] = []
}

/// A layer to unpack: where its blob is and the sha256 it must have.
struct LayerSource {
    var blob: String
    /// The blob's sha256 as stored (compressed or not).
    var digest: String
    /// The sha256 of the uncompressed tar: the name in the store.
    var diffID: String
}

/// `progress`, when given, shows a bar while the layers are read (see ImportProgress).
public func importImage(from source: String, as requested: String?, progress: ImportProgress? = nil) throws(ContainerError)
    -> ImportedImage
{
    guard let kind = fileKind(source) else {
        throw importFailure("\(source) does not exist — give an OCI layout (directory or tar) or a `docker save` archive")
    }
    if let requested { try checkReference(requested) }
    let lock: FileDescriptor
    do {
        lock = try lockStore(blocking: true)
    } catch {
        throw importFailure("\(error)")
    }
    _ = removeUnfinishedLayers()
    var unpackedArchive: String?
    defer { if let unpackedArchive { removeTree(unpackedArchive) } }
    var directory = source
    if kind != .directory {
        let temporary = layerStore() + "/new-\(getpid())-archive"
        unpackedArchive = temporary
        try extractOuterArchive(source, into: temporary)
        directory = temporary
    }
    let (config, configBytes, layers, foundName) = try readImage(in: directory, source: source, wanted: requested)
    guard let reference = requested ?? foundName else {
        throw importFailure("\(source) names no image (no tag in it): give one, e.g. `scratch image import \(source) myimage:1`")
    }
    try checkReference(reference)
    var names: [String] = []
    var reused = 0
    let missing = layers.filter { fileKind(layerStore() + "/" + $0.diffID) != .directory }
    if !missing.isEmpty { progress?.begin(totalBytes: missing.reduce(0) { $0 + fileSize($1.blob) }) }
    defer { progress?.finish() }
    for layer in layers {
        let final = layerStore() + "/" + layer.diffID
        names.append(layer.diffID)
        if fileKind(final) == .directory {
            reused += 1
            continue
        }
        let temporary = layerStore() + "/new-\(getpid())-\(shortDigest(layer.diffID))"
        progress?.startLayer(index: names.count, count: layers.count, blob: layer.blob, name: layer.diffID)
        try unpackLayer(blob: layer.blob, expected: layer.digest, diffID: layer.diffID, into: temporary)
        progress?.endLayer()
        if rename(temporary, final) == -1 {
            removeTree(temporary)
            throw importFailure("\(SyscallError("rename", path: "\(temporary) to \(final)"))")
        }
    }
    try writeImageRecord(reference, layers: names, config: config, configBytes: configBytes)
    _ = consume lock
    return ImportedImage(reference: reference, layers: names, reused: reused)
}

private func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
}

func tagOf(_ reference: String) -> String {
    reference.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init) ?? "latest"
}

/// NAME[:TAG]: letters, digits, and . _ - / in the name; no '..'.
///
/// The name and tag become paths, `images/NAME/TAG`, beside the store's own files
/// `TAG.config.json` and `TAG.new`: a tag ending so would overwrite another image's
/// config (`commit c busybox:latest.config.json`). Each part of NAME starts with a
/// letter or digit (no `.`, `..` or empty part aliasing another image's directory),
/// and the lengths are Docker's (NAME 255, TAG 128): past them the kernel's name
/// limit would fail the write after the layers were stored.
func checkReference(_ reference: String) throws(ContainerError) {
    let parts = reference.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
    let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-/")
    let alphanumeric = Set("abcdefghijklmnopqrstuvwxyz0123456789")
    let name = parts[0]
    let tag = parts.count > 1 ? parts[1] : "latest"
    let components = name.split(separator: "/", omittingEmptySubsequences: false)
    guard !name.isEmpty, !tag.isEmpty, name.allSatisfy({ allowed.contains($0) }), tag.allSatisfy({ allowed.contains($0) && $0 != "/" }),
        components.allSatisfy({ $0.first.map(alphanumeric.contains) ?? false }), tag.first.map({ alphanumeric.contains($0) || $0 == "_" }) ?? false
    else {
        throw importFailure(
            "\(ContainerSpec.quoted(reference)) is not an image name: use NAME[:TAG] with lowercase letters, digits, '.', '_', '-' (and '/' in NAME), each part starting with a letter or digit"
        )
    }
    guard name.utf8.count <= 255, tag.utf8.count <= 128 else {
        throw importFailure("\(ContainerSpec.quoted(reference)) is too long: a NAME has at most 255 characters, a TAG 128 (Docker's limits)")
    }
    if tag.hasSuffix(".config.json") || tag.hasSuffix(".new") {
        throw importFailure(
            "\(ContainerSpec.quoted(reference)): a TAG ending in .config.json or .new names the store's own files beside another tag — choose another TAG"
        )
    }
}

/// The outer tar (an OCI layout or a docker-archive), unpacked to a temporary
/// directory with the same refusals as a layer: its names point at files we open.
func extractOuterArchive(_ path: String, into directory: String) throws(ContainerError) {
    do { try makeDirectory(directory, mode: 0o700) } catch { throw importFailure("\(error)") }
    guard let archive = archive_read_new(), let disk = archive_write_disk_new() else { throw importFailure("libarchive: out of memory") }
    defer {
        archive_read_free(archive)
        archive_write_free(disk)
    }
    archive_read_support_filter_all(archive)
    archive_read_support_format_tar(archive)
    archive_write_disk_set_options(disk, secureExtractFlags & ~(ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR))
    guard archive_read_open_filename(archive, path, 1 << 16) == ARCHIVE_OK else {
        throw importFailure("\(path): \(archiveError(archive)) — not a tar (an OCI layout or a `docker save` archive)")
    }
    guard chdir(directory) == 0 else { throw importFailure("\(SyscallError("chdir", path: directory))") }
    defer { _ = chdir("/") }
    var entry: OpaquePointer?
    var count = 0
    while true {
        let status = archive_read_next_header(archive, &entry)
        if status == ARCHIVE_EOF { break }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
            throw importFailure("\(path): \(archiveError(archive)) — the archive is truncated or damaged")
        }
        let raw = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        guard let name = try checkedEntryName(raw, what: path) else { continue }
        archive_entry_set_pathname(entry, name)
        if archive_read_extract2(archive, entry, disk) != ARCHIVE_OK {
            throw importFailure("\(path): \(name): \(archiveError(archive)); refused")
        }
        count += 1
    }
    if count == 0 { throw importFailure("\(path) is empty — not an image archive") }
}

/// A file of the layout, by its relative name, never followed out of the layout.
func layoutFile(_ name: String, in directory: String) throws(ContainerError) -> String {
    guard let relative = try checkedEntryName(name, what: "the image's manifest") else {
        throw importFailure("the image's manifest names the layout's root as a file")
    }
    let path = directory + "/" + relative
    guard let resolved = try? resolvedPath(path), let root = try? resolvedPath(directory), resolved.hasPrefix(root + "/") else {
        throw importFailure("\(name) is not in the image (missing, or a link that leads out of it)")
    }
    return resolved
}

/// The most an index, a manifest or a config may weigh. Real ones are kilobytes; a
/// hostile layout can name a blob of gigabytes (or /dev/zero through a link) as its
/// config, and all of it would be read into memory before the JSON parser saw a byte.
let jsonSizeLimit = 16 << 20

/// A small file of the image (index.json, manifest.json, a config, a manifest): a
/// regular file of at most `jsonSizeLimit` bytes — not a FIFO, which would hang.
func readSmallFile(_ path: String) throws(ContainerError) -> [UInt8] {
    let bytes: [UInt8]?
    do {
        bytes = try readRegularFile(path, limit: jsonSizeLimit)
    } catch {
        throw importFailure("\(error) — an image's JSON files are regular files of at most \(jsonSizeLimit >> 20) MiB; refused")
    }
    guard let bytes else { throw importFailure("\(path) is missing") }
    return bytes
}

func readJSON(_ path: String) throws(ContainerError) -> Any {
    let bytes = try readSmallFile(path)
    guard let value = try? JSONSerialization.jsonObject(with: Data(bytes)) else { throw importFailure("\(path) is not valid JSON") }
    return value
}

/// A blob of an OCI layout, checked against its digest (small ones: manifests, configs).
func verifiedBlob(_ digest: String, in directory: String) throws(ContainerError) -> (path: String, bytes: [UInt8]) {
    let hex = try hexDigest(digest)
    let path = try layoutFile("blobs/sha256/" + hex, in: directory)
    guard fileKind(path, followLinks: false) != nil else { throw importFailure("blob \(digest) is missing from the image") }
    let bytes = try readSmallFile(path)
    // The bytes that were read are the bytes hashed: reading the file a second time
    // to hash it would let a layout changed in between pass one and use the other.
    let hash = SHA256()
    bytes.withUnsafeBytes { if let base = $0.baseAddress { hash.update(base, count: $0.count) } }
    if hash.hexDigest() != hex {
        throw importFailure("blob \(digest) does not match its digest — the image is damaged or was changed; nothing was imported")
    }
    return (path, bytes)
}

func hexDigest(_ digest: String) throws(ContainerError) -> String {
    guard digest.hasPrefix("sha256:") else { throw importFailure("\(digest): only sha256 digests are supported") }
    let hex = String(digest.dropFirst(7))
    guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { throw importFailure("\(digest) is not a sha256 digest") }
    return hex
}

private func readImage(in directory: String, source: String, wanted: String?) throws(ContainerError) -> (ImageConfig, [UInt8], [LayerSource], String?)
{
    if fileKind(directory + "/index.json") == .regular {
        return try readOCILayout(directory, wantedTag: wanted.map { tagOf($0) })
    }
    if fileKind(directory + "/manifest.json") == .regular {
        return try readDockerArchive(directory)
    }
    throw importFailure("\(source) is neither an OCI image layout (no index.json) nor a `docker save` archive (no manifest.json)")
}

private func readOCILayout(_ directory: String, wantedTag: String?) throws(ContainerError) -> (ImageConfig, [UInt8], [LayerSource], String?) {
    guard let index = try readJSON(directory + "/index.json") as? [String: Any], let manifests = index["manifests"] as? [[String: Any]],
        !manifests.isEmpty
    else { throw importFailure("index.json lists no manifest") }
    func refName(_ manifest: [String: Any]) -> String? {
        (manifest["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"]
    }
    // One manifest: that one. Several (one per tag, as umoci writes them): the one
    // whose ref.name is the tag asked for.
    let chosen = manifests.count == 1 ? manifests[0] : manifests.first { wantedTag != nil && refName($0) == wantedTag }
    guard let first = chosen, let manifestDigest = first["digest"] as? String else {
        let tags = manifests.compactMap(refName).joined(separator: ", ")
        throw importFailure("the layout holds \(manifests.count) images (\(tags)): say which with NAME:TAG, the TAG one of those")
    }
    let name = refName(first)
    let manifestBlob = try verifiedBlob(manifestDigest, in: directory)
    guard let manifest = try? JSONSerialization.jsonObject(with: Data(manifestBlob.bytes)) as? [String: Any],
        let configDescriptor = manifest["config"] as? [String: Any], let configDigest = configDescriptor["digest"] as? String,
        let layerDescriptors = manifest["layers"] as? [[String: Any]]
    else { throw importFailure("manifest \(manifestDigest) is not an OCI image manifest (an index of several platforms is not supported)") }
    let configBlob = try verifiedBlob(configDigest, in: directory)
    let config = try parseConfig(configBlob.bytes)
    guard config.diffIDs.count == layerDescriptors.count else {
        throw importFailure("the config lists \(config.diffIDs.count) layers (rootfs.diff_ids), the manifest \(layerDescriptors.count)")
    }
    var layers: [LayerSource] = []
    for (descriptor, diffID) in zip(layerDescriptors, config.diffIDs) {
        guard let digest = descriptor["digest"] as? String else { throw importFailure("a layer of \(manifestDigest) has no digest") }
        let hex = try hexDigest(digest)
        guard let blob = try? layoutFile("blobs/sha256/" + hex, in: directory), fileKind(blob) == .regular else {
            throw importFailure("layer \(digest) is missing from the image's blobs")
        }
        layers.append(LayerSource(blob: blob, digest: hex, diffID: try hexDigest(diffID)))
    }
    // The tag alone ("3.19") in an OCI layout names no repository.
    return (config, configBlob.bytes, layers, name.map { $0.contains(":") ? $0 : "image:" + $0 })
}

private func readDockerArchive(_ directory: String) throws(ContainerError) -> (ImageConfig, [UInt8], [LayerSource], String?) {
    guard let entries = try readJSON(directory + "/manifest.json") as? [[String: Any]], let first = entries.first,
        let configName = first["Config"] as? String, let layerNames = first["Layers"] as? [String]
    else { throw importFailure("manifest.json is not a `docker save` manifest") }
    let configPath = try layoutFile(configName, in: directory)
    let configBytes = try readSmallFile(configPath)
    let config = try parseConfig(configBytes)
    guard config.diffIDs.count == layerNames.count else {
        throw importFailure("the config lists \(config.diffIDs.count) layers (rootfs.diff_ids), manifest.json \(layerNames.count)")
    }
    var layers: [LayerSource] = []
    for (name, diffID) in zip(layerNames, config.diffIDs) {
        let hex = try hexDigest(diffID)
        layers.append(LayerSource(blob: try layoutFile(name, in: directory), digest: hex, diffID: hex))
    }
    let name = (first["RepoTags"] as? [String])?.first
    // skopeo and docker write the registry's full name: docker.io/library/busybox.
    let short = name.map { name in
        ["docker.io/library/", "docker.io/"].first { name.hasPrefix($0) }.map { String(name.dropFirst($0.count)) } ?? name
    }
    return (config, configBytes, layers, short)
}

private func parseConfig(_ bytes: [UInt8]) throws(ContainerError) -> ImageConfig {
    guard let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
        throw importFailure("the image's config is not valid JSON")
    }
    var config = ImageConfig()
    let run = json["config"] as? [String: Any] ?? [:]
    config.env = run["Env"] as? [String] ?? []
    config.cmd = run["Cmd"] as? [String] ?? []
    config.entrypoint = run["Entrypoint"] as? [String] ?? []
    config.workingDir = run["WorkingDir"] as? String ?? ""
    config.user = run["User"] as? String ?? ""
    config.diffIDs = (json["rootfs"] as? [String: Any])?["diff_ids"] as? [String] ?? []
    return config
}

/// `images/<name>/<tag>`: the layers for `scratch run` (plain lines, no JSON on the
/// hot path), and how to start it for chapter 6 (`env=`, `cmd=`, `entrypoint=`,
/// `workdir=`, `user=`); the config itself beside it as `<tag>.config.json`.
private func writeImageRecord(_ reference: String, layers: [String], config: ImageConfig, configBytes: [UInt8]) throws(ContainerError) {
    var lines = layers.map { "layer=" + $0 }
    lines += config.env.map { "env=" + escapedRecordValue($0) }
    lines += config.entrypoint.map { "entrypoint=" + escapedRecordValue($0) }
    lines += config.cmd.map { "cmd=" + escapedRecordValue($0) }
    if !config.workingDir.isEmpty { lines.append("workdir=" + escapedRecordValue(config.workingDir)) }
    if !config.user.isEmpty { lines.append("user=" + escapedRecordValue(config.user)) }
    lines.append("created=\(secondsSinceEpoch())")
    let record = imageRecordFile(reference)
    do {
        try makeDirectories(parentDirectory(of: record))
        try writeFile(record + ".config.json", configBytes)
        try writeFile(record + ".new", Array((lines.joined(separator: "\n") + "\n").utf8))
        if rename(record + ".new", record) == -1 { throw SyscallError("rename", path: "\(record).new to \(record)") }
    } catch {
        throw importFailure("\(error)")
    }
}
