import CArchive
import CCrypto
import Glibc
import Runtime
import Syscalls

// Unpacking one layer: a tar (gzip'd or not) read once, its sha256 computed on the very
// bytes libarchive reads, every entry written under the layer's directory and nowhere
// else, OCI whiteouts turned into overlayfs ones.

/// A failure of the import: exit 125, and the step says which part of the image.
func importFailure(_ reason: String) -> ContainerError {
    ContainerError(step: "import the image", reason: reason)
}

/// sha256 through OpenSSL's EVP interface.
final class SHA256 {
    private let context: OpaquePointer?

    init() {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    func update(_ bytes: UnsafeRawPointer, count: Int) { EVP_DigestUpdate(context, bytes, count) }

    /// The digest as 64 lowercase hex digits.
    func hexDigest() -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        let hex: [Character] = Array("0123456789abcdef")
        return String(digest.prefix(Int(length)).flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 0xf)]] })
    }

    /// The sha256 of a whole file.
    static func ofFile(_ path: String) throws(ContainerError) -> String {
        let reader = try HashingReader(path: path)
        while try reader.next() > 0 {}
        return reader.hash.hexDigest()
    }
}

/// Reads a file in chunks for libarchive, hashing each chunk as it passes: the digest
/// is of exactly the bytes that were unpacked, read once.
final class HashingReader {
    let fd: Int32
    let path: String
    let hash = SHA256()
    let buffer: UnsafeMutableRawPointer
    static let chunk = 1 << 17

    init(path: String) throws(ContainerError) {
        // O_NONBLOCK and the fstat: a docker-archive's tar can hold a FIFO under a
        // layer's name, and open(2) on it would wait for a writer forever, with the
        // store's lock held.
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd == -1 { throw importFailure("\(SyscallError("open", path: path))") }
        var info = stat()
        if fstat(fd, &info) != 0 || info.st_mode & S_IFMT != S_IFREG {
            close(fd)
            throw importFailure("\(path) is not a regular file (a FIFO, a device?) — an image's blobs are files; refused")
        }
        self.path = path
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.chunk, alignment: 16)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// The next chunk's size (0 at the end), hashed.
    func next() throws(ContainerError) -> Int {
        while true {
            let count = read(fd, buffer, Self.chunk)
            if count == -1 && errno == EINTR { continue }
            if count == -1 { throw importFailure("\(SyscallError("read", path: path))") }
            hash.update(buffer, count: count)
            return count
        }
    }
}

/// The blob decompressed (gzip, zstd, or nothing), for the tar reader, hashing what
/// passes: its sha256 is the layer's diff_id, the name the layer is stored under.
final class DecompressingReader {
    let raw: OpaquePointer
    let hash = SHA256()
    let buffer: UnsafeMutableRawPointer
    static let chunk = 1 << 17

    init(_ raw: OpaquePointer) {
        self.raw = raw
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.chunk, alignment: 16)
    }

    deinit { buffer.deallocate() }

    func next() -> Int {
        let count = archive_read_data(raw, buffer, Self.chunk)
        if count > 0 { hash.update(buffer, count: count) }
        return count
    }
}

/// What libarchive's disk writer must refuse, on top of our own checks: `..` in a
/// name, an absolute name, and writing through a symlink an earlier entry made
/// (`evil -> /etc`, then `evil/passwd`). Owners, modes, times and xattrs are kept: a
/// layer is a filesystem, setuid bits and all.
let secureExtractFlags: Int32 =
    ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_SECURE_SYMLINKS
    | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR

/// A name from an archive, checked: relative, no `..` component, `./` dropped.
/// nil for the archive's root itself ("./").
func checkedEntryName(_ raw: String, what: String) throws(ContainerError) -> String? {
    if raw.hasPrefix("/") {
        throw importFailure("\(what) has an absolute path \(raw) — a layer's names are relative to its root; refused")
    }
    let parts = raw.split(separator: "/").filter { $0 != "." }
    if parts.contains("..") {
        throw importFailure("\(what) has a path with '..' (\(raw)), which would write outside the layer; refused")
    }
    return parts.isEmpty ? nil : parts.joined(separator: "/")
}

/// Unpacks the layer blob at `blob` into `directory` (which must not exist), checking
/// that its sha256 is `expected`. On any failure nothing is left of `directory`.
func unpackLayer(blob: String, expected: String, diffID: String, into directory: String) throws(ContainerError) {
    do {
        try makeDirectory(directory, mode: 0o755)
    } catch {
        throw importFailure("\(error)")
    }
    do {
        try extractLayer(blob: blob, expected: expected, diffID: diffID, into: directory)
    } catch {
        _ = chdir("/")
        removeTree(directory)
        // A changed byte in a gzip'd blob usually breaks the decompression first; the
        // digest is the truer reason, so say that when it is so.
        if let digest = try? SHA256.ofFile(blob), digest != expected {
            throw importFailure(
                "layer \(blob): its sha256 is \(digest), the manifest says \(expected) — the blob is damaged or was changed; nothing was imported")
        }
        throw error
    }
}

private func extractLayer(blob: String, expected: String, diffID: String, into directory: String) throws(ContainerError) {
    // Two readers in a chain, one pass over the file: `raw` undoes the compression
    // and hashes the blob as stored (the manifest's digest); `archive` reads the tar
    // from it and hashes the tar (the config's diff_id). A layer named by a diff_id
    // it does not have would poison every image that shares that name.
    let reader = try HashingReader(path: blob)
    guard let raw = archive_read_new(), let archive = archive_read_new(), let disk = archive_write_disk_new() else {
        throw importFailure("libarchive: out of memory")
    }
    defer {
        archive_read_free(archive)
        archive_read_free(raw)
        archive_write_free(disk)
    }
    archive_read_support_filter_all(raw)
    archive_read_support_format_raw(raw)
    archive_read_support_format_tar(archive)
    archive_write_disk_set_options(disk, secureExtractFlags)
    guard
        archive_read_open(
            raw, Unmanaged.passUnretained(reader).toOpaque(), nil,
            { _, context, out in
                guard let context, let out else { return -1 }
                let reader = Unmanaged<HashingReader>.fromOpaque(context).takeUnretainedValue()
                guard let count = try? reader.next() else { return -1 }
                out.pointee = UnsafeRawPointer(reader.buffer)
                return count
            }, nil) == ARCHIVE_OK
    else {
        throw importFailure("layer \(blob): \(archiveError(raw)) — not a tar, tar.gz or tar.zst")
    }
    var rawEntry: OpaquePointer?
    guard archive_read_next_header(raw, &rawEntry) == ARCHIVE_OK else {
        throw importFailure("layer \(blob): \(archiveError(raw)) — empty or damaged")
    }
    let decompressed = DecompressingReader(raw)
    guard
        archive_read_open(
            archive, Unmanaged.passUnretained(decompressed).toOpaque(), nil,
            { _, context, out in
                guard let context, let out else { return -1 }
                let reader = Unmanaged<DecompressingReader>.fromOpaque(context).takeUnretainedValue()
                let count = reader.next()
                out.pointee = UnsafeRawPointer(reader.buffer)
                return count
            }, nil) == ARCHIVE_OK
    else {
        throw importFailure("layer \(blob): \(archiveError(archive)) — not a tar")
    }
    // libarchive's disk writer works from the working directory: names are relative.
    guard chdir(directory) == 0 else { throw importFailure("\(SyscallError("chdir", path: directory))") }
    defer { _ = chdir("/") }
    var entry: OpaquePointer?
    while true {
        let status = archive_read_next_header(archive, &entry)
        if status == ARCHIVE_EOF { break }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
            throw importFailure("layer \(blob): \(archiveError(archive)) — truncated or damaged")
        }
        let raw = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        guard let name = try checkedEntryName(raw, what: "layer \(shortDigest(expected))") else { continue }
        if let link = archive_entry_hardlink(entry) {
            let target = String(cString: link)
            guard try checkedEntryName(target, what: "layer \(shortDigest(expected)) (hard link \(name))") != nil else {
                throw importFailure("layer \(shortDigest(expected)): hard link \(name) points at the layer's root; refused")
            }
        }
        // OCI whiteouts into overlayfs ones: chapter 5's `overlayEntry`, whoever wrote it.
        let converted: LayerEntry
        do {
            converted = try LayerConversion.steps.overlayEntry(for: name)
        } catch {
            throw importFailure("layer \(shortDigest(expected)): what overlayfs needs for \(name): \(error)")
        }
        switch converted {
        case .asIs(let path):
            guard let path = try checkedEntryName(path, what: "overlayEntry(for: \(name))") else { continue }
            archive_entry_set_pathname(entry, path)
        case .node(let path, let mode, let device):
            try makeNode(try checkedEntryName(path, what: "overlayEntry(for: \(name))") ?? ".", mode: mode, device: device, in: directory)
            continue
        case .xattr(let path, let attribute, let value):
            try setDirectoryAttribute(
                try checkedEntryName(path, what: "overlayEntry(for: \(name))") ?? "", attribute, value, in: directory)
            continue
        }
        try refuseOverlayAttributes(entry, name: name, layer: expected)
        if archive_write_header(disk, entry) != ARCHIVE_OK {
            throw importFailure("layer \(shortDigest(expected)): \(name): \(archiveError(disk))\(ownerHint(disk) ?? "; refused")")
        }
        if archive_entry_size(entry) > 0 {
            var block: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            while true {
                let read = archive_read_data_block(archive, &block, &size, &offset)
                if read == ARCHIVE_EOF { break }
                if read != ARCHIVE_OK { throw importFailure("layer \(shortDigest(expected)): \(name): \(archiveError(archive))") }
                if archive_write_data_block(disk, block, size, offset) != ARCHIVE_OK {
                    throw importFailure("layer \(shortDigest(expected)): \(name): \(archiveError(disk))")
                }
            }
        }
        if archive_write_finish_entry(disk) != ARCHIVE_OK {
            throw importFailure("layer \(shortDigest(expected)): \(name): \(archiveError(disk))\(ownerHint(disk) ?? "")")
        }
    }
    // Directories' times and modes are set at the end, by the writer's close.
    archive_write_close(disk)
    // The tar's end may come before the file's: a gzip trailer, padding. The digest is
    // of the whole blob.
    while decompressed.next() > 0 {}
    while try reader.next() > 0 {}
    let digest = reader.hash.hexDigest()
    if digest != expected {
        throw importFailure(
            "layer \(blob): its sha256 is \(digest), the manifest says \(expected) — the blob is damaged or was changed; nothing was imported")
    }
    let tarDigest = decompressed.hash.hexDigest()
    if tarDigest != diffID {
        throw importFailure(
            "layer \(blob): its uncompressed sha256 is \(tarDigest), the config's diff_id says \(diffID) — the image is damaged or was changed; nothing was imported"
        )
    }
}

/// overlayfs keeps its own bookkeeping in trusted.overlay.* xattrs (opaque, redirect,
/// origin, metacopy) and reads them from every lower layer it mounts. A layer carries
/// whiteouts the OCI way (`.wh.` names, turned into overlayfs's by `overlayEntry`);
/// one that brings trusted.overlay.redirect or .metacopy as pax xattrs would steer the
/// overlay's lookups itself — a forged layer, or a tar made of an overlay's upper
/// directory with its host-only attributes. security.capability and the rest stay.
private func refuseOverlayAttributes(_ entry: OpaquePointer, name: String, layer: String) throws(ContainerError) {
    archive_entry_xattr_reset(entry)
    var attribute: UnsafePointer<CChar>?
    var value: UnsafeRawPointer?
    var size = 0
    while archive_entry_xattr_next(entry, &attribute, &value, &size) == ARCHIVE_OK {
        guard let attribute else { continue }
        let text = String(cString: attribute)
        // user.overlay.* too: a rootless overlay (chapter 8, `userxattr`) reads those.
        if text.hasPrefix("trusted.overlay.") || text.hasPrefix("user.overlay.") {
            throw importFailure(
                "layer \(shortDigest(layer)): \(name) carries the xattr \(text), overlayfs's own — a layer says what it hides with .wh. names, never with overlayfs's attributes; refused"
            )
        }
    }
}

/// Rootless (chapter 8), chown works only to ids the user namespace maps: without a
/// subuid range, only the user's own (root of the image). The fix, when that is why.
func ownerHint(_ disk: OpaquePointer) -> String? {
    guard runsInUserNamespace(), archiveError(disk).contains("Can't set user") else { return nil }
    return
        " — rootless, an image's owners must be ids of your user namespace: give your user a range of 65,536 ids in /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER)"
}

func archiveError(_ archive: OpaquePointer) -> String {
    archive_error_string(archive).map { String(cString: $0) } ?? "error \(archive_errno(archive))"
}

func shortDigest(_ digest: String) -> String { String(digest.prefix(12)) }

/// The directories on the way to `path` (relative to the layer), made if missing, and
/// none of them a symlink: a whiteout must not be written through a link that an
/// earlier entry planted (`evil -> /etc`, then `evil/.wh.passwd`).
private func realDirectory(_ path: String, in layer: String) throws(ContainerError) {
    var current = ""
    for part in path.split(separator: "/") {
        current += (current.isEmpty ? "" : "/") + part
        var info = stat()
        if lstat(current, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw importFailure("a whiteout under \(current) in the layer, which is not a directory (a symlink?); refused")
            }
        } else if mkdir(current, 0o755) != 0 {
            throw importFailure("\(SyscallError("mkdir", path: layer + "/" + current))")
        }
    }
}

/// Whose chapter 5 turns OCI whiteouts into overlayfs ones while a layer is unpacked:
/// the reference in `scratch image import`, the learner's (or a mutant's) in `workbook
/// image import N`. A task-local, so the importer's signatures stay as they are.
public enum LayerConversion {
    @TaskLocal public static var steps: any LayerSteps = Reference()
}

/// An extended attribute on a directory of the layer — overlayfs reads
/// trusted.overlay.opaque = "y" as `.wh..wh..opq`: nothing below shows through it.
private func setDirectoryAttribute(_ directory: String, _ name: String, _ value: String, in layer: String) throws(ContainerError) {
    try realDirectory(directory, in: layer)
    let target = directory.isEmpty ? "." : directory
    // Rootless (chapter 8: the import runs in the user's own user namespace) the
    // opaque mark is user.overlay.opaque, which a `userxattr` overlay reads.
    let name = overlayAttributeName(name)
    if lsetxattr(target, name, value, value.utf8.count, 0) != 0 {
        throw importFailure("\(SyscallError("lsetxattr \(name)", path: layer + "/" + target))")
    }
}

/// A special file in the layer — overlayfs's whiteout is a character device 0/0 in
/// the place of the name it hides.
private func makeNode(_ name: String, mode: mode_t, device: dev_t, in layer: String) throws(ContainerError) {
    let parent = name.contains("/") ? String(name[..<(name.lastIndex(of: "/") ?? name.endIndex)]) : ""
    try realDirectory(parent, in: layer)
    if mknod(name, mode, device) != 0 {
        throw importFailure("\(SyscallError("mknod (whiteout)", path: layer + "/" + name))")
    }
}
