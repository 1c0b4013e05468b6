import Foundation
import Glibc
import Syscalls

// The progress bar of `scratch image import`, on standard error when it is a
// terminal: one line, redrawn in place (\r, then erase to the end of the line).
//
// It does not sit in the unpacker's read loop: a thread looks, ten times a second, at
// how far the kernel's file offset of the blob being read has come, in
// /proc/self/fdinfo — the way `pv -d PID:FD` watches another program's descriptor.
// The unpacker stays one plain loop, and a bar can never slow it or make it fail.

public final class ImportProgress: @unchecked Sendable {
    private struct Layer {
        var index: Int
        var count: Int
        var blob: String
        var size: Int
        var name: String
    }

    private let lock = NSLock()
    private var layer: Layer?
    private var totalBytes = 0
    private var finishedBytes = 0
    private var stopping = false
    private var drew = false
    private let stopped = DispatchSemaphore(value: 0)
    private var started = false

    public init() {}

    /// Called with the blobs' total size, before the first layer is read.
    func begin(totalBytes: Int) {
        lock.withLock { self.totalBytes = totalBytes }
        if started { return }
        started = true
        Thread.detachNewThread { [self] in
            while true {
                let stop = lock.withLock { stopping }
                if stop { break }
                draw()
                usleep(100_000)
            }
            stopped.signal()
        }
    }

    func startLayer(index: Int, count: Int, blob: String, name: String) {
        var info = stat()
        let size = stat(blob, &info) == 0 ? Int(info.st_size) : 0
        lock.withLock { layer = Layer(index: index, count: count, blob: blob, size: size, name: name) }
    }

    func endLayer() {
        lock.withLock {
            finishedBytes += layer?.size ?? 0
            layer = nil
        }
    }

    /// Stops the thread and erases the bar, so what is printed next starts a clean line.
    func finish() {
        guard started else { return }
        lock.withLock { stopping = true }
        stopped.wait()
        started = false
        if lock.withLock({ drew }) { writeToStandardError("\r\u{1B}[K") }
    }

    private func draw() {
        let (current, total, finished) = lock.withLock { (layer, totalBytes, finishedBytes) }
        guard let current else { return }
        let offset = min(blobOffset(current.blob) ?? 0, current.size)
        let width = 24
        let filled = current.size > 0 ? width * offset / current.size : width
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        let percent = total > 0 ? 100 * (finished + offset) / total : 100
        let line =
            "layer \(current.index)/\(current.count) \(current.name.prefix(12)) [\(bar)] \(megabytes(offset))/\(megabytes(current.size)) MB, \(percent)% of \(megabytes(total)) MB"
        writeToStandardError("\r" + line + "\u{1B}[K")
        lock.withLock { drew = true }
    }

    private func megabytes(_ bytes: Int) -> String {
        let tenths = (bytes * 10 + 524_288) / 1_048_576
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// How far this process has read the file at `path`: the `pos:` of the descriptor
    /// open on it.
    private func blobOffset(_ path: String) -> Int? {
        guard let descriptors = try? listDirectory("/proc/self/fd") else { return nil }
        for fd in descriptors where (try? symlinkTarget("/proc/self/fd/" + fd)) == path {
            let info = readControlFile("/proc/self/fdinfo/" + fd) ?? ""
            let position = info.split(separator: "\n").first { $0.hasPrefix("pos:") }
            return position.flatMap { Int($0.dropFirst(4).trimmingCharacters(in: .whitespaces)) }
        }
        return nil
    }
}
