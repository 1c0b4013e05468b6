import Foundation
import Glibc

/// Waits until a Swift file under a folder (the exercises) is saved.
///
/// inotify(7) tells at once and costs nothing while nothing happens; where it is not
/// available (some network and container filesystems, an exhausted
/// max_user_watches), a poll of the files' modification times every half second.
/// One waiter at a time (it is moved to another thread only whole, as the tests do).
public final class ExerciseWatcher: @unchecked Sendable {
    public let folder: String
    /// True when inotify could not be used.
    public private(set) var polling: Bool
    private var descriptor: Int32 = -1
    private var snapshot: [String: Double] = [:]

    public init(folder: String, forcePolling: Bool = false) {
        self.folder = folder
        self.polling = forcePolling
        if !forcePolling { startInotify() }
        if polling { snapshot = modificationTimes() }
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    private func startInotify() {
        let fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else {
            polling = true
            return
        }
        // An editor saves in place (close after write) or writes a new file and renames
        // it over the old one (moved to): both mean "saved".
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE)
        for directory in [folder] + subdirectories() where inotify_add_watch(fd, directory, mask) < 0 {
            close(fd)
            polling = true
            return
        }
        descriptor = fd
    }

    /// Blocks until a `.swift` file changed, then lets a burst of saves settle (an editor
    /// may write several files, or one twice) and returns the names seen.
    public func waitForChange() -> [String] {
        polling ? waitByPolling() : waitByInotify()
    }

    /// Forgets the saves seen so far (the caller is about to look at the files
    /// themselves): only a save after this wakes `waitForChange`.
    public func drain() {
        if polling {
            snapshot = modificationTimes()
        } else {
            while true {
                var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&waiting, 1, 0) > 0 else { break }
                _ = readEvents(timeoutMilliseconds: 0)
            }
        }
    }

    private func waitByInotify() -> [String] {
        var names: [String] = []
        while names.isEmpty {
            names = readEvents(timeoutMilliseconds: -1)
        }
        while true {
            let more = readEvents(timeoutMilliseconds: 150)
            if more.isEmpty { break }
            names += more
        }
        return Array(Set(names)).sorted()
    }

    /// The .swift names of the events that arrive within the timeout (-1: forever).
    private func readEvents(timeoutMilliseconds: Int32) -> [String] {
        var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&waiting, 1, timeoutMilliseconds)
        guard ready > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return [] }
        var names: [String] = []
        var offset = 0
        // struct inotify_event: wd, mask, cookie, len (4 bytes each), then len bytes of
        // name, NUL-padded.
        while offset + 16 <= count {
            let length = Int(buffer[offset + 12]) | Int(buffer[offset + 13]) << 8 | Int(buffer[offset + 14]) << 16 | Int(buffer[offset + 15]) << 24
            let nameBytes = buffer[(offset + 16)..<min(offset + 16 + length, count)].prefix { $0 != 0 }
            let name = String(decoding: nameBytes, as: UTF8.self)
            if name.hasSuffix(".swift") { names.append(name) }
            offset += 16 + length
        }
        return names
    }

    private func waitByPolling() -> [String] {
        while true {
            usleep(500_000)
            let now = modificationTimes()
            let changed = Set(now.keys).union(snapshot.keys).filter { now[$0] != snapshot[$0] }
            snapshot = now
            if !changed.isEmpty { return changed.map { ($0 as NSString).lastPathComponent }.sorted() }
        }
    }

    private func subdirectories() -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + relative, isDirectory: &isDirectory), isDirectory.boolValue {
                found.append(folder + "/" + relative)
            }
        }
        return found
    }

    private func modificationTimes() -> [String: Double] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [:] }
        var times: [String: Double] = [:]
        while let relative = walker.nextObject() as? String {
            guard relative.hasSuffix(".swift") else { continue }
            var information = stat()
            if stat(folder + "/" + relative, &information) == 0 {
                times[relative] = Double(information.st_mtim.tv_sec) + Double(information.st_mtim.tv_nsec) / 1e9
            }
        }
        return times
    }
}
