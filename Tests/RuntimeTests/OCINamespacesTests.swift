import Foundation
import Runtime
import Testing

/// Chapter 10's `linux.namespaces` and id maps on real containers, checked from
/// outside: /proc/PID/ns/*, /proc/PID/uid_map, the Uid line of /proc/PID/status, the
/// caller's mountinfo before and after. Part of OCILifecycleTests (its fixtures, its
/// serial order); every container is deleted and every process ended on every path.
extension OCILifecycleTests {
    /// The namespace file `kind` of `pid` ("mnt:[4026531841]"), or nil.
    func namespace(_ kind: String, of pid: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(kind)")
    }

    /// The pid `state` reports for `id`.
    func statePID(_ id: String) throws -> Int? {
        let state = try scratch(["state", id])
        let object = try JSONSerialization.jsonObject(with: Data(state.stdout.utf8)) as? [String: Any]
        return object?["pid"] as? Int
    }

    static var ownNamespaces: [[String: Any]] { [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"], ["type": "cgroup"]] }

    @Test("a user namespace with linux.uidMappings/gidMappings: the maps written, root inside is host 100000, the rootfs's root is nobody")
    func userNamespaceWithMappings() throws {
        let id = "userns-\(getpid())"
        let bundle = try makeBundle(args: ["sh", "-c", "stat -c %u:%g /bin; id -u; sleep 30"]) { config in
            config["linux"] = [
                "namespaces": Self.ownNamespaces + [["type": "user"], ["type": "network"]],
                "uidMappings": [["containerID": 0, "hostID": 100_000, "size": 65536]],
                "gidMappings": [["containerID": 0, "hostID": 100_000, "size": 1000], ["containerID": 1000, "hostID": 200_000, "size": 10]],
            ]
        }
        defer { cleanUp(id, bundle: bundle) }
        let created = try scratch(["create", "--bundle", bundle, id])
        try #require(created.status == 0, "\(created.stderr)")
        let pid = "\(try #require(try statePID(id)))"
        #expect(namespace("user", of: pid) != namespace("user", of: "self"))
        let uidMap = (try? String(contentsOfFile: "/proc/\(pid)/uid_map", encoding: .utf8)) ?? ""
        let gidMap = (try? String(contentsOfFile: "/proc/\(pid)/gid_map", encoding: .utf8)) ?? ""
        #expect(uidMap.split(whereSeparator: \.isWhitespace) == ["0", "100000", "65536"], "\(uidMap)")
        #expect(gidMap.split(whereSeparator: \.isWhitespace) == ["0", "100000", "1000", "1000", "200000", "10"], "\(gidMap)")
        // Root writes the maps: setgroups stays allowed, as runc leaves it.
        #expect((try? String(contentsOfFile: "/proc/\(pid)/setgroups", encoding: .utf8)) == "allow\n")
        #expect(try scratch(["start", id]).status == 0)
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map(String.init) ?? ""
        #expect(uidLine.split(whereSeparator: \.isWhitespace) == ["Uid:", "100000", "100000", "100000", "100000"], "\(uidLine)")
        _ = try scratch(["delete", "--force", id])
        #expect(!FileManager.default.fileExists(atPath: try Self.directory.get() + "/root/" + id))

        // run --bundle: the rootfs (owned by the host's root) is the overflow id inside.
        let run = try makeBundle(args: [
            "sh", "-c", "stat -c %u:%g /bin; id -u; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
        ]) { config in
            config["linux"] = [
                "namespaces": Self.ownNamespaces + [["type": "user"]],
                "uidMappings": [["containerID": 0, "hostID": 100_000, "size": 65536]],
                "gidMappings": [["containerID": 0, "hostID": 100_000, "size": 65536]],
                "resources": ["pids": ["limit": 50]],
            ]
        }
        defer { cleanUp(id + "-run", bundle: run) }
        let output = try scratch(["run", "--bundle", run, id + "-run"])
        #expect(output.status == 0, "\(output.stderr)")
        // The cgroup tree (v1 here) is bound from the host's in a user namespace.
        #expect(output.stdout == "65534:65534\n0\n50\n", "\(output.stdout)\(output.stderr)")

        // The same with the bundle's own sysfs (a network namespace lets a user namespace
        // mount one), as runtime-tools' configs list it: that sysfs has no cgroup mounts
        // under it, so the tree is bound before the pivot, from the host's.
        let ownSysfs = try makeBundle(args: ["sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"]) {
            config in
            config["linux"] = [
                "namespaces": Self.ownNamespaces + [["type": "user"], ["type": "network"]],
                "uidMappings": [["containerID": 0, "hostID": 100_000, "size": 65536]],
                "gidMappings": [["containerID": 0, "hostID": 100_000, "size": 65536]],
                "resources": ["pids": ["limit": 51]],
            ]
            config["mounts"] = [
                ["destination": "/proc", "type": "proc", "source": "proc"],
                ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]],
            ]
        }
        defer { cleanUp(id + "-sysfs", bundle: ownSysfs) }
        let sysfsOutput = try scratch(["run", "--bundle", ownSysfs, id + "-sysfs"])
        #expect(sysfsOutput.status == 0 && sysfsOutput.stdout == "51\n", "\(sysfsOutput.stdout)\(sysfsOutput.stderr)")
    }

    @Test("bad maps and namespaces: exit 1, the property named, nothing left")
    func badNamespaceConfigs() throws {
        let base = try Self.directory.get()
        let maps: [[String: Any]] = [["containerID": 0, "hostID": 100_000, "size": 65536]]
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            (
                "linux.uidMappings: given, but",
                {
                    $0["uidMappings"] = maps
                    $0["gidMappings"] = maps
                }
            ),
            (
                "linux.gidMappings: missing",
                {
                    $0["namespaces"] = Self.ownNamespaces + [["type": "user"]]
                    $0["uidMappings"] = maps
                }
            ),
            (
                "linux.uidMappings[0] and [1] overlap",
                {
                    $0["namespaces"] = Self.ownNamespaces + [["type": "user"]]
                    $0["uidMappings"] = maps + [["containerID": 10, "hostID": 300_000, "size": 5]]
                    $0["gidMappings"] = maps
                }
            ),
            (
                "linux.gidMappings: container id 0 is not mapped",
                {
                    $0["namespaces"] = Self.ownNamespaces + [["type": "user"]]
                    $0["uidMappings"] = maps
                    $0["gidMappings"] = [["containerID": 1, "hostID": 100_000, "size": 10]]
                }
            ),
            (
                "linux.uidMappings[0].size: 0",
                {
                    $0["namespaces"] = Self.ownNamespaces + [["type": "user"]]
                    $0["uidMappings"] = [["containerID": 0, "hostID": 100_000, "size": 0]]
                    $0["gidMappings"] = maps
                }
            ),
            (
                "linux.namespaces[5].path: joining a user namespace",
                { $0["namespaces"] = Self.ownNamespaces + [["type": "user", "path": "/proc/1/ns/user"]] }
            ),
            (
                "a user namespace without a mount namespace",
                {
                    $0["namespaces"] = [["type": "pid"], ["type": "user"]]
                    $0["uidMappings"] = maps
                    $0["gidMappings"] = maps
                }
            ),
        ]
        for (index, (message, edit)) in cases.enumerated() {
            let id = "badns-\(index)-\(getpid())"
            let bundle = try makeBundle(args: ["true"]) { config in
                var linux: [String: Any] = [:]
                edit(&linux)
                config["linux"] = linux
            }
            defer { cleanUp(id, bundle: bundle) }
            let refused = try scratch(["create", "--bundle", bundle, id])
            #expect(refused.status == 1 && refused.stderr.contains(message), "\(message): \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: base + "/root/" + id))
        }
    }

    @Test("a mount namespace joined by path: the container's is the one named (unshare --mount's), the caller's mounts unchanged")
    func joinMountNamespace() throws {
        let base = try Self.directory.get()
        let id = "joinmnt-\(getpid())"
        // Without --fork, unshare execs sleep in the new namespace: its pid is ours.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        holder.arguments = ["--mount", "--propagation", "private", "sleep", "60"]
        try holder.run()
        defer {
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
        let sleeper = "\(holder.processIdentifier)"
        #expect(eventually { namespace("mnt", of: sleeper).map { $0 != namespace("mnt", of: "self") } ?? false })
        let target = try #require(namespace("mnt", of: sleeper))
        let bundle = try makeBundle(args: ["sleep", "30"]) { config in
            config["linux"] = ["namespaces": [["type": "pid"], ["type": "mount", "path": "/proc/\(sleeper)/ns/mnt"]]]
        }
        defer { cleanUp(id, bundle: bundle) }
        let created = try scratch(["create", "--bundle", bundle, id])
        try #require(created.status == 0, "\(created.stderr)")
        let pid = "\(try #require(try statePID(id)))"
        #expect(namespace("mnt", of: pid) == target)
        // Nothing of the container's in the caller's table.
        let during = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(!during.contains(bundle), "\(during)")
        #expect(try scratch(["delete", "--force", id]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: base + "/root/" + id))
    }

    @Test("no namespaces listed: every one the caller's; the mounts made there, chroot not pivot_root, unmounted at delete and when create fails")
    func sharedMountNamespace() throws {
        let base = try Self.directory.get()
        let id = "hostmnt-\(getpid())"
        let bundle = try makeBundle(args: ["sleep", "30"]) { config in config["linux"] = nil }
        try "here\n".write(toFile: bundle + "/rootfs/marker", atomically: false, encoding: .utf8)
        let failing = try makeBundle(args: ["no-such-command"]) { config in config["linux"] = nil }
        defer {
            cleanUp(id, bundle: bundle)
            cleanUp(id + "-fail", bundle: failing)
        }
        // In a mount namespace of the test's own, private: the runtime's caller. What
        // it shows before and after must be the same table.
        let script = """
            set -u
            scratch="$1"; root="$2"; bundle="$3"; failing="$4"; id="$5"
            table() { grep -F "$bundle" /proc/self/mountinfo | wc -l; }
            echo "before $(table)"
            "$scratch" --root "$root" create --bundle "$bundle" "$id" || exit 10
            pid=$("$scratch" --root "$root" state "$id" | sed -n 's/.*"pid": \\([0-9]*\\).*/\\1/p')
            for kind in mnt ipc uts pid cgroup net; do
              [ "$(readlink /proc/$pid/ns/$kind)" = "$(readlink /proc/self/ns/$kind)" ] && echo "same $kind"
            done
            echo "during $(table)"
            grep -c '^host-mount=' "$root/$id/state"
            "$scratch" --root "$root" exec "$id" cat /marker
            "$scratch" --root "$root" delete --force "$id"
            echo "after $(table)"
            "$scratch" --root "$root" create --bundle "$failing" "$id-fail" 2>/dev/null && echo "created?"
            echo "failed $(grep -F "$failing" /proc/self/mountinfo | wc -l)"
            """
        let run = ConfigurationTests.run(
            [
                "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", ConfigurationTests.scratch, base + "/root", bundle,
                failing, id,
            ],
            home: base + "/home")
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "before 0", "\(run.stdout)")
        for kind in ["mnt", "ipc", "uts", "pid", "cgroup", "net"] { #expect(lines.contains("same \(kind)"), "\(kind): \(run.stdout)") }
        let during = lines.first { $0.hasPrefix("during ") }.flatMap { Int($0.dropFirst(7)) } ?? 0
        #expect(during >= 4, "the rootfs bind, /proc, /dev, /sys at least: \(run.stdout)")
        #expect(lines.contains("\(during)"), "every mount recorded: \(run.stdout)")
        #expect(lines.contains("here"), "exec sees the container's root: \(run.stdout)\(run.stderr)")
        #expect(lines.contains("after 0") && lines.contains("failed 0") && !lines.contains("created?"), "\(run.stdout)\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base + "/root/" + id))
        #expect(!FileManager.default.fileExists(atPath: base + "/root/" + id + "-fail"))
    }
}
