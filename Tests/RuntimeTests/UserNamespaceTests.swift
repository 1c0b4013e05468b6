import Foundation
import Testing

@testable import Runtime

/// Chapter 8's plan, from files the test writes: the kernel's switches, /etc/subuid
/// and /etc/subgid, the helpers.
@Suite struct UserNamespaceTests {
    /// Runs `body` with files in a fresh directory; `contents` by file name.
    func withFiles(_ contents: [String: String], _ body: (UserNamespaceFiles) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("userns-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, text) in contents { try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8) }
        var files = UserNamespaceFiles()
        files.maxUserNamespaces = directory + "/max_user_namespaces"
        files.unprivilegedClone = directory + "/unprivileged_userns_clone"
        files.subuid = directory + "/subuid"
        files.subgid = directory + "/subgid"
        files.newuidmap = directory + "/newuidmap"
        files.newgidmap = directory + "/newgidmap"
        try body(files)
    }

    func problem(_ body: () throws(ContainerError) -> IDMaps) -> ContainerError? {
        do {
            _ = try body()
            return nil
        } catch { return error }
    }

    @Test("no range: one id, container 0 the caller")
    func singleID() throws {
        try withFiles(["max_user_namespaces": "15000\n"]) { files in
            let maps = try planUserNamespace(uid: 1001, gid: 1002, name: "ann", files: files)
            #expect(maps.range == nil)
            let lines = try Reference().mapLines(maps)
            #expect(lines.uid == "0 1001 1\n")
            #expect(lines.gid == "0 1002 1\n")
        }
    }

    @Test("a range by name or by uid, and the helpers there: 0 the caller, 1..65536 the range")
    func range() throws {
        try withFiles([
            "subuid": "bob:1:10\nann:200000:65536\n", "subgid": "1001:300000:65536\n", "newuidmap": "", "newgidmap": "",
        ]) { files in
            for helper in [files.newuidmap, files.newgidmap] { chmod(helper, 0o755) }
            let maps = try planUserNamespace(uid: 1001, gid: 1002, name: "ann", files: files)
            let lines = try Reference().mapLines(maps)
            #expect(lines.uid == "0 1001 1\n1 200000 65536\n")
            #expect(lines.gid == "0 1002 1\n1 300000 65536\n")
        }
    }

    @Test("a range too small for 65,536 ids is not used")
    func smallRange() throws {
        try withFiles(["subuid": "ann:200000:1000\n", "subgid": "ann:200000:1000\n"]) { files in
            let maps = try planUserNamespace(uid: 1001, gid: 1001, name: "ann", files: files)
            #expect(maps.range == nil)
        }
    }

    @Test("a range without newuidmap: exit 125, the helper and the package named")
    func missingHelper() throws {
        try withFiles(["subuid": "ann:200000:65536\n", "subgid": "ann:200000:65536\n"]) { files in
            let error = try #require(problem { () throws(ContainerError) in try planUserNamespace(uid: 1001, gid: 1001, name: "ann", files: files) })
            #expect(error.exitCode == 125)
            #expect("\(error)".contains("newuidmap is missing"), "\(error)")
            #expect("\(error)".contains("apt-get install uidmap"), "\(error)")
        }
    }

    @Test("user namespaces disabled: max_user_namespaces 0, or Debian's unprivileged_userns_clone 0 (not for root)")
    func disabled() throws {
        try withFiles(["max_user_namespaces": "0\n"]) { files in
            let error = try #require(problem { () throws(ContainerError) in try planUserNamespace(uid: 0, gid: 0, name: "root", files: files) })
            #expect(error.exitCode == 125)
            #expect("\(error)".contains("max_user_namespaces is 0"), "\(error)")
        }
        try withFiles(["unprivileged_userns_clone": "0\n"]) { files in
            let error = try #require(problem { () throws(ContainerError) in try planUserNamespace(uid: 1001, gid: 1001, name: "ann", files: files) })
            #expect("\(error)".contains("unprivileged_userns_clone is 0"), "\(error)")
            // Root is not refused by Debian's switch.
            _ = try planUserNamespace(uid: 0, gid: 0, name: "root", files: files)
        }
    }

    @Test("--userns-map range without a range: exit 125, usermod and --userns-map single named")
    func rangeAskedWithoutOne() throws {
        try withFiles(["subuid": "bob:200000:65536\n", "subgid": "bob:200000:65536\n"]) { files in
            let error = try #require(
                problem { () throws(ContainerError) in try planUserNamespace(uid: 1001, gid: 1001, name: "ann", files: files, mapping: .range) })
            #expect(error.exitCode == 125)
            #expect("\(error)".contains("usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ann"), "\(error)")
            #expect("\(error)".contains("--userns-map single"), "\(error)")
        }
    }

    @Test("--userns-map single: one id even with a range, and no helper needed")
    func singleDespiteARange() throws {
        try withFiles(["subuid": "ann:200000:65536\n", "subgid": "ann:200000:65536\n"]) { files in
            let maps = try planUserNamespace(uid: 1001, gid: 1002, name: "ann", files: files, mapping: .single)
            #expect(maps.range == nil)
            #expect(try Reference().mapLines(maps).uid == "0 1001 1\n")
        }
    }
}
