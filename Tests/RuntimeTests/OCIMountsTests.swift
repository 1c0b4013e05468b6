import Foundation
import Testing

/// Chapter 10, a bundle's `mounts` (BundleMounts.swift): every entry mounted in the
/// config's order with its propagation, read back from the container's own
/// /proc/self/mountinfo; bad entries refused by `create` with exit 1, naming
/// mounts[N], nothing left. Part of OCILifecycleTests (its fixtures, its serial order).
extension OCILifecycleTests {
    /// One line of mountinfo(5): the mount point (field 5) and the optional fields
    /// between field 7 and the "-" (shared:N, master:N, unbindable).
    struct MountInfoLine {
        var mountPoint: String
        var optional: [String]
        var options: String
        init?(_ line: Substring) {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count > 7, let dash = fields.firstIndex(of: "-") else { return nil }
            (mountPoint, options, optional) = (fields[4], fields[5], Array(fields[6..<dash]))
        }
        func value(_ tag: String) -> String? {
            optional.first { $0.hasPrefix(tag + ":") }.map { String($0.dropFirst(tag.count + 1)) }
        }
    }

    @Test(
        "a bundle's mounts go in the config's order with their propagation: shared:N, a slave of it (master:N), unbindable, private; tmpcopyup; rro")
    func bundleMountsInOrderWithPropagation() throws {
        let id = "mounts-\(getpid())"
        let bundle = try makeBundle(args: ["sh", "-c", "cat /proc/self/mountinfo; cat /m/e/file"]) { config in
            config["mounts"] = [
                ["destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]],
                ["destination": "/m/a", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m", "shared"]],
                // The source is looked up in the container's namespace before the
                // pivot: the shared tmpfs just mounted. A bind of it joins its peer
                // group; `slave` then makes it receive from the group only.
                ["destination": "/m/b", "type": "bind", "source": "rootfs/m/a", "options": ["bind", "slave"]],
                ["destination": "/m/c", "type": "bind", "source": "rootfs/etc", "options": ["rbind", "runbindable", "ro", "mode=755"]],
                ["destination": "/m/d", "type": "tmpfs", "source": "scratchtest", "options": ["private", "nodev", "noexec", "mode=700"]],
                // Podman's tmpfs option: the tmpfs starts with what the image has there.
                ["destination": "/m/e", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "ro"]],
                // runtime-spec 1.1's recursive forms: mount_setattr(2) on the tree.
                ["destination": "/m/f", "type": "tmpfs", "source": "tmpfs", "options": ["rro", "rnoexec"]],
            ]
        }
        defer { cleanUp(id, bundle: bundle) }
        try FileManager.default.createDirectory(atPath: bundle + "/rootfs/m/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: bundle + "/rootfs/m/e", withIntermediateDirectories: true)
        try "copied up\n".write(toFile: bundle + "/rootfs/m/e/file", atomically: false, encoding: .utf8)
        let run = try scratch(["run", "--bundle", bundle, id])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").compactMap(MountInfoLine.init)
        let ours = lines.filter { $0.mountPoint.hasPrefix("/m/") }
        #expect(ours.map(\.mountPoint) == ["/m/a", "/m/b", "/m/c", "/m/d", "/m/e", "/m/f"], "\(run.stdout)")
        #expect(run.stdout.hasSuffix("\ncopied up\n"), "\(run.stdout)")
        guard ours.count == 6 else { return }
        let (a, b, c, d) = (ours[0], ours[1], ours[2], ours[3])
        let group = try #require(a.value("shared"), "\(run.stdout)")
        #expect(b.value("master") == group && b.value("shared") == nil, "\(run.stdout)")
        #expect(c.optional.contains("unbindable") && c.options.hasPrefix("ro"), "\(run.stdout)")
        #expect(d.optional.isEmpty && d.options.contains("nodev") && d.options.contains("noexec"), "\(run.stdout)")
        #expect(ours[4].options.hasPrefix("ro"), "\(run.stdout)")
        #expect(ours[5].options.hasPrefix("ro") && ours[5].options.contains("noexec"), "\(run.stdout)")
        // In order among the others too: /proc (mounts[0]) before them.
        let proc = try #require(lines.firstIndex { $0.mountPoint == "/proc" })
        #expect(proc < (lines.firstIndex { $0.mountPoint == "/m/a" } ?? 0), "\(run.stdout)")
    }

    @Test(
        "bad mounts: an unknown type or option is refused by create (exit 1, mounts[N] named); data the kernel refuses or a link into /proc fails it too; nothing left"
    )
    func badBundleMounts() throws {
        let base = try Self.directory.get()
        let cases: [(mount: [String: Any], expected: String)] = [
            (["destination": "/x", "type": "overlay", "source": "overlay", "options": ["lowerdir=/a"]], "mounts[1].type"),
            (["destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "bogus"]], "mounts[1].options[1]"),
            (["destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"], "mounts[1].destination"),
            (["destination": "/x", "type": "bind", "source": "/nonexistent-\(getpid())", "options": ["rbind"]], "mounts[1].source"),
            // Well formed, but the kernel refuses the size: the child's mount fails.
            (["destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["size=lots"]], "mounts[1]"),
            // The image's /m links to /proc: /m/sys leads into /proc, refused as
            // /proc/sys is (the rootfs gets the link below).
            (["destination": "/m/sys", "type": "tmpfs", "source": "tmpfs"], "leads to /proc/sys in the rootfs, inside /proc"),
        ]
        for (number, entry) in cases.enumerated() {
            let id = "badmount-\(getpid())-\(number)"
            let bundle = try makeBundle(args: ["true"]) { config in
                config["mounts"] = [["destination": "/proc", "type": "proc", "source": "proc"], entry.mount]
            }
            defer { cleanUp(id, bundle: bundle) }
            try FileManager.default.createSymbolicLink(atPath: bundle + "/rootfs/m", withDestinationPath: "/proc")
            let created = try scratch(["create", "--bundle", bundle, id])
            #expect(created.status == 1 && created.stderr.contains(entry.expected), "\(entry.mount): \(created.stderr)")
            #expect(!FileManager.default.fileExists(atPath: base + "/root/\(id)"), "\(entry.mount)")
            #expect(try scratch(["state", id]).status == 1)
        }
    }
}
