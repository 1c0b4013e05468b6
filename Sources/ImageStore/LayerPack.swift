import CArchive
import Glibc
import Runtime
import Syscalls

// Packing one layer: the reverse of LayerUnpack. A directory of the store (or a
// container's upper directory) becomes an OCI layer tar, its overlayfs whiteouts
// turned back into OCI ones:
//
//   overlayfs (on disk)                        OCI (in the tar)
//   NAME, a character device 0/0               .wh.NAME, an empty file
//   DIR with trusted.overlay.opaque = "y"      DIR/, then DIR/.wh..wh..opq
//
// overlayfs's other xattrs (trusted.overlay.origin, .impure, ...) describe this host's
// inodes and mean nothing elsewhere: they are left out. Every other xattr (file
// capabilities, say) is kept, as are owners, modes, times and hard links.
//
// The walk goes by descriptor (openat with O_NOFOLLOW, fstat on what was opened): a
// running container can swap a directory of its upper layer for a symlink to / while
// we read, and a path-based walk would follow it into the host's files.

/// What a packed layer is, by digest.
struct PackedLayer {
    /// sha256 of the blob as written (compressed or not): the manifest's digest.
    var digest: String
    /// sha256 of the uncompressed tar: the config's diff_id.
    var diffID: String
    /// The blob's size in bytes.
    var size: Int
}

/// Writes `directory` as an OCI layer tar (gzip'd with `gzip`) to `blob`, which must
/// not exist. On failure `blob` is removed.
func packLayer(_ directory: String, into blob: String, gzip: Bool, step: String) throws(ContainerError) -> PackedLayer {
    let root = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if root == -1 { throw ContainerError(step: step, reason: "\(SyscallError("open", path: directory))") }
    defer { close(root) }
    let output = open(blob, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    if output == -1 { throw ContainerError(step: step, reason: "\(SyscallError("open", path: blob))") }
    do {
        let stream = try TarStream(output: output, path: blob, gzip: gzip, step: step)
        let packer = try LayerPacker(stream: stream, step: step, source: directory)
        try packer.walk(root, prefix: "")
        try packer.finish()
        try stream.finish()
        close(output)
        return PackedLayer(digest: stream.blobHash.hexDigest(), diffID: stream.tarHash.hexDigest(), size: stream.written)
    } catch {
        close(output)
        _ = unlink(blob)
        throw error
    }
}

/// The bytes of the tar on their way to the file: hashed as the tar (diff_id), then
/// through gzip if asked, hashed again as the blob (digest), written. One pass, no
/// second read of a file that may be gigabytes.
final class TarStream {
    let output: Int32
    let path: String
    let tarHash = SHA256()
    let blobHash = SHA256()
    var written = 0
    var writeError: Int32 = 0
    /// libarchive's "raw" format with the gzip filter: a compressor fed by hand.
    private var compressor: OpaquePointer?
    private let step: String

    init(output: Int32, path: String, gzip: Bool, step: String) throws(ContainerError) {
        self.output = output
        self.path = path
        self.step = step
        guard gzip else { return }
        guard let compressor = archive_write_new() else { throw ContainerError(step: step, reason: "libarchive: out of memory") }
        self.compressor = compressor
        archive_write_set_format_raw(compressor)
        archive_write_add_filter_gzip(compressor)
        // No time in the gzip header: the same layer packs to the same digest.
        archive_write_set_filter_option(compressor, "gzip", "timestamp", nil)
        // Padding would be written after the gzip trailer: none.
        archive_write_set_bytes_in_last_block(compressor, 1)
        let opened = archive_write_open2(
            compressor, Unmanaged.passUnretained(self).toOpaque(), nil,
            { _, context, buffer, length in
                guard let context, let buffer else { return -1 }
                let stream = Unmanaged<TarStream>.fromOpaque(context).takeUnretainedValue()
                return stream.writeBlob(buffer, length) ? length : -1
            }, nil, nil)
        let entry = archive_entry_new()
        defer { archive_entry_free(entry) }
        archive_entry_set_filetype(entry, 0o100000)  // AE_IFREG
        archive_entry_set_pathname(entry, "layer.tar")
        guard opened == ARCHIVE_OK, archive_write_header(compressor, entry) == ARCHIVE_OK else {
            throw ContainerError(step: step, reason: "gzip through libarchive: \(archiveError(compressor))")
        }
    }

    deinit { if let compressor { archive_write_free(compressor) } }

    /// The tar's bytes, from the tar writer.
    func writeTar(_ bytes: UnsafeRawPointer, _ count: Int) -> Bool {
        tarHash.update(bytes, count: count)
        guard let compressor else { return writeBlob(bytes, count) }
        return archive_write_data(compressor, bytes, count) == count
    }

    /// The blob's bytes (the tar itself, or gzip's output).
    func writeBlob(_ bytes: UnsafeRawPointer, _ count: Int) -> Bool {
        blobHash.update(bytes, count: count)
        var offset = 0
        while offset < count {
            let done = write(output, bytes + offset, count - offset)
            if done == -1 && errno == EINTR { continue }
            if done <= 0 {
                writeError = errno
                return false
            }
            offset += done
        }
        written += count
        return true
    }

    /// Flushes gzip's last block and trailer.
    func finish() throws(ContainerError) {
        if let compressor, archive_write_close(compressor) != ARCHIVE_OK {
            throw ContainerError(step: step, reason: "\(path): \(failure(compressor))")
        }
    }

    /// libarchive's message, or the write's errno when that is what failed (a full disk).
    func failure(_ archive: OpaquePointer) -> String {
        writeError != 0 ? "\(SyscallError("write", path: path, errno: writeError))" : archiveError(archive)
    }
}

/// The tar writer and the walk over one layer directory.
final class LayerPacker {
    private let writer: OpaquePointer
    private let stream: TarStream
    private let step: String
    private let source: String
    private let buffer: UnsafeMutableRawPointer
    private static let chunk = 1 << 17
    /// The first name seen of each file with several links: later ones become hard links to it.
    private var linked: [String: String] = [:]

    init(stream: TarStream, step: String, source: String) throws(ContainerError) {
        guard let writer = archive_write_new() else { throw ContainerError(step: step, reason: "libarchive: out of memory") }
        self.writer = writer
        self.stream = stream
        self.step = step
        self.source = source
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.chunk, alignment: 16)
        // pax: long names, large files, sub-second times and xattrs, all read by umoci,
        // skopeo, Docker and our own import ("restricted": a plain ustar header where
        // one is enough).
        archive_write_set_format_pax_restricted(writer)
        archive_write_set_bytes_in_last_block(writer, 1)
        let opened = archive_write_open2(
            writer, Unmanaged.passUnretained(stream).toOpaque(), nil,
            { _, context, bytes, length in
                guard let context, let bytes else { return -1 }
                let stream = Unmanaged<TarStream>.fromOpaque(context).takeUnretainedValue()
                return stream.writeTar(bytes, length) ? length : -1
            }, nil, nil)
        if opened != ARCHIVE_OK { throw ContainerError(step: step, reason: "libarchive: \(archiveError(writer))") }
    }

    deinit {
        archive_write_free(writer)
        buffer.deallocate()
    }

    /// The tar's end (two zero blocks).
    func finish() throws(ContainerError) {
        if archive_write_close(writer) != ARCHIVE_OK { throw failure("the end of the tar") }
    }

    private func failure(_ name: String) -> ContainerError {
        ContainerError(step: step, reason: "\(source)/\(name): \(stream.failure(writer))")
    }

    private func syscallFailure(_ call: String, _ name: String) -> ContainerError {
        ContainerError(step: step, reason: "\(SyscallError(call, path: source + "/" + name))")
    }

    /// Every entry of the directory open at `directory`, sorted by name (the same tree
    /// packs to the same tar), depth first. `prefix` is its path in the layer ("" or "a/b/").
    func walk(_ directory: Int32, prefix: String) throws(ContainerError) {
        for name in try names(directory, prefix: prefix) {
            try Interruption.shared.check(step: step)
            let path = prefix + name
            var info = stat()
            if fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == -1 { throw syscallFailure("fstatat", path) }
            switch info.st_mode & S_IFMT {
            case S_IFCHR where info.st_rdev == 0:
                // overlayfs's whiteout: NAME was deleted in this layer.
                try writeWhiteout(prefix + ".wh." + name, like: info)
            case S_IFDIR:
                let fd = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if fd == -1 { throw syscallFailure("openat", path) }
                defer { close(fd) }
                if fstat(fd, &info) == -1 { throw syscallFailure("fstat", path) }
                let xattrs = try extendedAttributes(fd, path: path)
                try writeHeader(path, info, xattrs: xattrs.kept)
                try finishEntry(path)
                // Opaque: the layers below have nothing in DIR any more. OCI says so
                // with an entry inside it, before DIR's own content.
                if xattrs.opaque { try writeWhiteout(path + "/.wh..wh..opq", like: info) }
                try walk(fd, prefix: path + "/")
            case S_IFREG:
                // O_NONBLOCK, and the type checked again on what was opened: a running
                // container can swap the file for a FIFO after the fstatat, and open(2)
                // on a FIFO waits for a writer — the commit would hang holding the
                // store's lock.
                let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
                if fd == -1 { throw syscallFailure("openat", path) }
                defer { close(fd) }
                if fstat(fd, &info) == -1 { throw syscallFailure("fstat", path) }
                if info.st_mode & S_IFMT != S_IFREG {
                    throw ContainerError(
                        step: step, reason: "\(source)/\(path) changed while it was read (no longer a file) — stop the container first")
                }
                let xattrs = try extendedAttributes(fd, path: path)
                let key = "\(info.st_dev):\(info.st_ino)"
                if info.st_nlink > 1, let first = linked[key] {
                    try writeHeader(path, info, xattrs: [], hardLink: first)
                    try finishEntry(path)
                    continue
                }
                if info.st_nlink > 1 { linked[key] = path }
                try writeHeader(path, info, xattrs: xattrs.kept)
                try copyData(fd, size: Int(info.st_size), path: path)
                try finishEntry(path)
            case S_IFLNK:
                var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let count = readlinkat(directory, name, &target, Int(PATH_MAX))
                if count == -1 { throw syscallFailure("readlinkat", path) }
                let link = String(decoding: target.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                try writeHeader(path, info, xattrs: [], symlink: link)
                try finishEntry(path)
            case S_IFCHR, S_IFBLK, S_IFIFO:
                try writeHeader(path, info, xattrs: [])
                try finishEntry(path)
            default:
                // A socket: a tar cannot hold one, and it means nothing without its
                // listener (Docker leaves them out too).
                continue
            }
        }
    }

    /// The names in a directory, refusing those that are not UTF-8: a tar's pax names
    /// are, and a name changed on the way would be another file.
    private func names(_ directory: Int32, prefix: String) throws(ContainerError) -> [String] {
        let copy = dup(directory)
        guard copy != -1, let stream = fdopendir(copy) else {
            if copy != -1 { close(copy) }
            throw syscallFailure("fdopendir", prefix.isEmpty ? "." : prefix)
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            let name = String(validating: bytes, as: UTF8.self)
            guard let name else {
                throw ContainerError(step: step, reason: "\(source)/\(prefix): a name that is not UTF-8 — rename it; a layer's names must be")
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// The xattrs to keep, and whether the directory is opaque. Refuses the overlayfs
    /// features whose meaning is elsewhere than in the upper directory itself: a
    /// renamed directory with `redirect` (its content is still under the old name
    /// below) and `metacopy` (the data is still below). Both are off by default.
    private func extendedAttributes(_ fd: Int32, path: String) throws(ContainerError) -> (kept: [(String, [UInt8])], opaque: Bool) {
        var list = [UInt8](repeating: 0, count: 65536)
        let length = flistxattr(fd, &list, list.count)
        if length == -1 {
            if errno == ENOTSUP { return ([], false) }
            throw syscallFailure("flistxattr", path)
        }
        var kept: [(String, [UInt8])] = []
        var opaque = false
        for raw in list.prefix(max(length, 0)).split(separator: 0) {
            let rawName = String(decoding: raw, as: UTF8.self)
            var value = [UInt8](repeating: 0, count: 65536)
            let size = fgetxattr(fd, rawName, &value, value.count)
            if size == -1 { throw syscallFailure("fgetxattr \(rawName)", path) }
            let bytes = Array(value.prefix(size))
            // Rootless (chapter 8) the overlay was mounted with `userxattr`: its marks
            // are user.overlay.*, read here as the trusted.* ones they stand for.
            let name = rawName.hasPrefix("user.overlay.") && runsInUserNamespace() ? "trusted." + rawName.dropFirst("user.".count) : rawName
            if name == "trusted.overlay.redirect" || name == "trusted.overlay.metacopy" {
                throw ContainerError(
                    step: step,
                    reason:
                        "\(source)/\(path) has \(name): overlayfs's redirect_dir or metacopy is on, and this layer's content is partly in the layers below — mount without them (redirect_dir=off,metacopy=off) to commit"
                )
            }
            if name == "trusted.overlay.opaque" { opaque = bytes == Array("y".utf8) }
            if name.hasPrefix("trusted.overlay.") { continue }
            kept.append((name, bytes))
        }
        return (kept, opaque)
    }

    private func writeWhiteout(_ path: String, like info: stat) throws(ContainerError) {
        var plain = info
        plain.st_mode = S_IFREG | 0o644
        plain.st_size = 0
        plain.st_uid = 0
        plain.st_gid = 0
        try writeHeader(path, plain, xattrs: [])
        try finishEntry(path)
    }

    private func writeHeader(
        _ path: String, _ info: stat, xattrs: [(String, [UInt8])], symlink: String? = nil, hardLink: String? = nil
    ) throws(ContainerError) {
        guard let entry = archive_entry_new() else { throw ContainerError(step: step, reason: "libarchive: out of memory") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname_utf8(entry, path)
        archive_entry_set_mode(entry, info.st_mode)
        archive_entry_set_uid(entry, la_int64_t(info.st_uid))
        archive_entry_set_gid(entry, la_int64_t(info.st_gid))
        archive_entry_set_mtime(entry, info.st_mtim.tv_sec, info.st_mtim.tv_nsec)
        let kind = info.st_mode & S_IFMT
        if kind == S_IFCHR || kind == S_IFBLK { archive_entry_set_rdev(entry, dev_t(info.st_rdev)) }
        archive_entry_set_size(entry, kind == S_IFREG && hardLink == nil ? la_int64_t(info.st_size) : 0)
        if let symlink { archive_entry_set_symlink_utf8(entry, symlink) }
        if let hardLink { archive_entry_set_hardlink_utf8(entry, hardLink) }
        for (name, value) in xattrs { value.withUnsafeBytes { archive_entry_xattr_add_entry(entry, name, $0.baseAddress, $0.count) } }
        let status = archive_write_header(writer, entry)
        if status != ARCHIVE_OK && status != ARCHIVE_WARN { throw failure(path) }
    }

    /// The file's first `size` bytes (its size when the header was written: a file a
    /// running container grows meanwhile is cut there, one it shrinks is padded by
    /// libarchive with zeros — the tar stays well-formed either way).
    private func copyData(_ fd: Int32, size: Int, path: String) throws(ContainerError) {
        var left = size
        while left > 0 {
            try Interruption.shared.check(step: step)
            let count = read(fd, buffer, min(Self.chunk, left))
            if count == -1 && errno == EINTR { continue }
            if count == -1 { throw syscallFailure("read", path) }
            if count == 0 { break }
            if archive_write_data(writer, buffer, count) != count { throw failure(path) }
            left -= count
        }
    }

    private func finishEntry(_ path: String) throws(ContainerError) {
        let status = archive_write_finish_entry(writer)
        if status != ARCHIVE_OK && status != ARCHIVE_WARN { throw failure(path) }
    }
}
