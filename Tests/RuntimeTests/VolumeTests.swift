import Foundation
import RunOptions
import Runtime
import Testing

/// Chapter 6's volumes: the flags as read (no root needed), then real containers with
/// `scratch run` (root): bind mounts rw and ro, a symlinked target in the image, file
/// binds, tmpfs, named volumes, and every kind of bad input.
@Suite struct VolumeFlagTests {
    @Test("-v reads a host path, a volume name, and a mode")
    func shortForm() throws {
        let bind = try Mount.volumeFlag("/srv/data/:/data//x/.:ro")
        #expect(bind.kind == .bind && bind.source == "/srv/data" && bind.target == "/data/x" && bind.readOnly)
        let volume = try Mount.volumeFlag("pgdata:/var/lib/db:nocopy")
        #expect(volume.kind == .volume && volume.source == "pgdata" && !volume.readOnly && volume.options == ["nocopy"])
        #expect(try Mount.volumeFlag("/a:/b:rw").readOnly == false)
    }

    @Test("--tmpfs and --mount read Docker's options; sizes become bytes")
    func tmpfsAndLongForm() throws {
        let tmpfs = try Mount.tmpfsFlag("/run:size=64m,mode=1777,exec")
        #expect(tmpfs.kind == .tmpfs && tmpfs.target == "/run" && tmpfs.options == ["size=67108864", "mode=1777", "exec"])
        let long = try Mount.mountFlag("type=bind,src=/srv,dst=/data,readonly")
        #expect(long.kind == .bind && long.source == "/srv" && long.target == "/data" && long.readOnly)
        let sized = try Mount.mountFlag("type=tmpfs,target=/t,tmpfs-size=1k,tmpfs-mode=700")
        #expect(sized.options == ["size=1024", "mode=700"])
        let named = try Mount.mountFlag("type=volume,source=cache,target=/c,volume-nocopy")
        #expect(named.kind == .volume && named.options == ["nocopy"])
    }

    @Test("the fast path and ArgumentParser read the volume flags alike, repeated")
    func bothReaders() throws {
        let arguments = ["-v", "/a:/b", "--volume", "n1:/c:ro", "--tmpfs", "/t", "--mount", "type=tmpfs,target=/m", "-v", "/d:/e", "--", "true"]
        let fast = try #require(RunRequest(plainArguments: arguments))
        #expect(fast == (try RunOptions.parse(arguments).request))
        #expect(fast.volumes == ["/a:/b", "n1:/c:ro", "/d:/e"] && fast.tmpfs == ["/t"] && fast.mounts == ["type=tmpfs,target=/m"])
        #expect(RunRequest(plainArguments: ["-v"]) == nil)
    }

    @Test(
        "bad flags are refused with the flag and its value named",
        arguments: [
            ("-v", "::", "the source"), ("-v", "rel/x:/x", "neither an absolute host path"), ("-v", "./rel:/x", "neither"),
            ("-v", "/h:/c:xyz", "unknown mode \"xyz\""), ("-v", "/h", "SOURCE:TARGET"), ("-v", "/h:c", "absolute path"),
            ("-v", "/h:/", "cannot be /"), ("-v", "/h:/proc", "/proc"), ("-v", "/h:/x/../dev", "/dev"), ("-v", "/h:/sys/fs", "/sys"),
            ("-v", "/h:/c:ro,rw", "ro and rw"), ("--tmpfs", "/t:size=lots", "size="), ("--tmpfs", "/t:mode=999", "mode="),
            ("--tmpfs", "/t:uid=1", "unknown tmpfs option"), ("--mount", "type=bind,source=rel,target=/x", "absolute"),
            ("--mount", "type=nfs,target=/x", "bind, volume and tmpfs"), ("--mount", "source=/h", "no target"),
            ("--mount", "type=volume,target=/x", "source=NAME"), ("--mount", "type=bind,source=/h,target=/x,speed=9", "unknown key"),
        ])
    func badFlags(_ flag: String, _ value: String, _ expected: String) {
        let request = RunRequest(plainArguments: [flag, value, "--", "true"])
        let error = #expect(throws: ContainerError.self) { try request?.spec(stage: .complete, programName: "scratch") }
        #expect(error?.exitCode == 125)
        #expect(error?.reason.hasPrefix("\(flag) ") == true && error?.reason.contains(expected) == true, "\(String(describing: error))")
    }

    @Test("seeding a volume never writes through a link that a container sharing it planted there")
    func seedingIgnoresPlantedLinks() throws {
        // Before, `cp -a IMAGE/. DATA/` opened DATA/f -> OUTSIDE/f and wrote the image's
        // f over the file outside (a host file, in a real run).
        let base = NSTemporaryDirectory() + "/seed-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        for directory in ["image/sub", "data", "outside"] {
            try FileManager.default.createDirectory(atPath: base + "/" + directory, withIntermediateDirectories: true)
        }
        try "image".write(toFile: base + "/image/f", atomically: false, encoding: .utf8)
        try "image".write(toFile: base + "/image/sub/g", atomically: false, encoding: .utf8)
        try "host".write(toFile: base + "/outside/f", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: base + "/data/f", withDestinationPath: base + "/outside/f")
        try seedCopy(from: base + "/image", into: base + "/data", staging: base + "/seed")
        #expect(try String(contentsOfFile: base + "/outside/f", encoding: .utf8) == "host")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: base + "/data/f") == base + "/outside/f")
        #expect(try String(contentsOfFile: base + "/data/sub/g", encoding: .utf8) == "image")
        #expect(!FileManager.default.fileExists(atPath: base + "/seed"))
    }
}

/// Real containers. Serialized (each starts several on a 2-core host); every test's
/// files live under its own temporary directory, removed on every path.
@Suite(.serialized, .enabled(if: geteuid() == 0, "needs root: containers need namespaces and mounts"))
final class VolumeTests {
    /// SCRATCH_HOME shared by the suite (the busybox image is built once in it) and
    /// removed at exit; each test's host directories are its own.
    static let home: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("volume-tests-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // The path as made, not recomputed at exit: another suite in this process
        // (ChapterTests' Support) changes TMPDIR meanwhile.
        atexit { try? FileManager.default.removeItem(atPath: VolumeTests.home) }
        return path
    }()

    let work: String

    init() throws {
        work = VolumeTests.home + "/work-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    deinit {
        // Stopped containers a test kept: their ids are their layers' names in our home.
        for id in (try? FileManager.default.contentsOfDirectory(atPath: VolumeTests.home + "/containers")) ?? [] {
            _ = VolumeTests.run([VolumeTests.scratch, "rm", id])
        }
        try? FileManager.default.removeItem(atPath: work)
    }

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// `scratch` beside this test binary (or a level up from the bundle).
    static let scratch: String = {
        var directory = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")
            .deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("scratch").path) && directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("scratch").path
    }()

    static func run(_ arguments: [String], home: String = VolumeTests.home, directory: String? = nil) -> Output {
        let process = Process()
        let arguments = isolatedNetwork(arguments)
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        environment["SCRATCH_HOME"] = home
        process.environment = environment
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        let err = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { return Output(status: -1, stdout: "", stderr: "\(error)") }
        // Small outputs only: read to the end, then wait.
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    func scratch(_ arguments: [String], directory: String? = nil) -> Output {
        VolumeTests.run([VolumeTests.scratch] + arguments, directory: directory)
    }

    func makeDirectory(_ name: String) throws -> String {
        let path = work + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test("a file written to a rw volume is on the host after the container exits")
    func readWrite() throws {
        let host = try makeDirectory("rw")
        let run = scratch(["run", "--rm", "-v", "\(host):/data", "--", "sh", "-c", "echo written > /data/out"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(contents(host + "/out") == "written\n")
    }

    @Test("a write to a :ro volume fails with EROFS, and the host file is unchanged")
    func readOnly() throws {
        let host = try makeDirectory("ro")
        try "before\n".write(toFile: host + "/file", atomically: false, encoding: .utf8)
        let run = scratch([
            "run", "--rm", "-v", "\(host):/data:ro", "--", "sh", "-c",
            "echo after > /data/file; echo status=$?; touch /data/new; grep ' /data ' /proc/mounts",
        ])
        #expect(run.status == 0)
        #expect(run.stdout.contains("status=1") && run.stderr.contains("Read-only file system"), "\(run.stdout)\(run.stderr)")
        // The mount itself says ro (the remount took), not just a permission check.
        #expect(run.stdout.contains(" ro,") || run.stdout.contains(" ro "), "\(run.stdout)")
        #expect(contents(host + "/file") == "before\n")
        #expect(!FileManager.default.fileExists(atPath: host + "/new"))
    }

    @Test("ro is recursive: a host mount under the source is read-only inside too (mount_setattr)")
    func readOnlyRecursive() throws {
        let host = try makeDirectory("tree")
        let sub = try makeDirectory("tree/sub")
        let mounted = VolumeTests.run(["/bin/mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", sub])
        try #require(mounted.status == 0, "\(mounted.stderr)")
        defer { _ = VolumeTests.run(["/bin/umount", "-l", sub]) }
        let run = scratch(["run", "--rm", "-v", "\(host):/data:ro", "--", "sh", "-c", "touch /data/sub/x || echo refused"])
        #expect(run.stdout == "refused\n" && run.stderr.contains("Read-only file system"), "\(run.stdout)\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sub + "/x"))
        // Without ro the same submount is writable: the recursive bind brought it.
        let writable = scratch(["run", "--rm", "-v", "\(host):/data", "--", "touch", "/data/sub/y"])
        #expect(writable.status == 0 && FileManager.default.fileExists(atPath: sub + "/y"), "\(writable.stderr)")
    }

    @Test("a target that is a symlink in the image to a host path is mounted inside the rootfs; the host path is untouched")
    func symlinkedTarget() throws {
        let rootfs = work + "/rootfs"
        let build = VolumeTests.run([VolumeTests.scratch, "rootfs", "build", rootfs])
        try #require(build.status == 0, "\(build.stderr)")
        // The victim: a host directory the image's links name, absolutely and by `..`.
        let victim = try makeDirectory("victim")
        try "host\n".write(toFile: victim + "/keep", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: rootfs + "/data", withDestinationPath: victim)
        try FileManager.default.createSymbolicLink(atPath: rootfs + "/up", withDestinationPath: "../../../../../../../.." + victim)
        let source = try makeDirectory("source")
        try "volume\n".write(toFile: source + "/seen", atomically: false, encoding: .utf8)
        let run = scratch([
            "run", "--rm", "--rootfs", rootfs, "-v", "\(source):/data", "-v", "\(source):/up/sub", "--", "sh", "-c",
            "cat /data/seen; echo x > /data/written",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "volume\n")
        // The host's victim holds what it held; the mount points were made inside the rootfs.
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim) == ["keep"])
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: rootfs + victim, isDirectory: &isDirectory) && isDirectory.boolValue)
        #expect(contents(source + "/written") == "x\n")
        // Nothing of ours stays mounted on the host.
        #expect(!(contents("/proc/self/mountinfo") ?? "").contains(work))
    }

    @Test("the same attack from an image (umoci): the overlay's /data -> host path gets the volume inside the rootfs")
    func symlinkedTargetInAnImage() throws {
        let victim = try makeDirectory("image-victim")
        try "host\n".write(toFile: victim + "/keep", atomically: false, encoding: .utf8)
        let bin = URL(fileURLWithPath: VolumeTests.scratch).deletingLastPathComponent().path
        let made = VolumeTests.run([
            "/bin/bash", "-euo", "pipefail", "-c",
            """
            export PATH="$1:$PATH"; cd "$2"
            umoci init --layout oci >/dev/null && umoci new --image oci:evil >/dev/null
            umoci unpack --image oci:evil b >/dev/null && rm -rf b/rootfs && scratch rootfs build b/rootfs >/dev/null
            ln -s "$3" b/rootfs/data && umoci repack --image oci:evil b >/dev/null
            scratch image import oci evil:1 >/dev/null
            """, "bash", bin, work, victim,
        ])
        try #require(made.status == 0, "umoci (apt-get install umoci): \(made.stdout)\(made.stderr)")
        let source = try makeDirectory("image-source")
        let run = scratch(["run", "--rm", "-v", "\(source):/data", "evil:1", "--", "sh", "-c", "readlink /data; echo in > /data/written"])
        #expect(run.status == 0 && run.stdout == victim + "\n", "\(run.stdout)\(run.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim) == ["keep"])
        #expect(contents(source + "/written") == "in\n")
        _ = scratch(["image", "rm", "evil:1"])
    }

    @Test("file binds: a host file at a path the image lacks, read-only")
    func fileBind() throws {
        let host = try makeDirectory("files")
        try "hello from the host\n".write(toFile: host + "/greeting", atomically: false, encoding: .utf8)
        let run = scratch([
            "run", "--rm", "-v", "\(host)/greeting:/etc/new/greeting:ro", "--", "sh", "-c",
            "cat /etc/new/greeting; [ -f /etc/new/greeting ] && echo file; echo x >> /etc/new/greeting || echo refused",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "hello from the host\nfile\nrefused\n", "\(run.stdout)\(run.stderr)")
        #expect(contents(host + "/greeting") == "hello from the host\n")
    }

    @Test("--tmpfs and --mount type=tmpfs: the size holds, noexec by default")
    func tmpfs() throws {
        let run = scratch([
            "run", "--rm", "--tmpfs", "/scratchpad:size=1m,mode=1777", "--mount", "type=tmpfs,target=/other,tmpfs-size=2m", "--", "sh", "-c",
            "df -k /scratchpad /other | tail -2; stat -c %a /scratchpad; dd if=/dev/zero of=/scratchpad/big bs=1k count=2048 2>&1 | grep -o 'No space left on device'; grep ' /scratchpad ' /proc/mounts",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count >= 5, "\(run.stdout)")
        #expect(lines.first?.split(separator: " ").dropFirst().first == "1024", "\(run.stdout)")
        #expect(lines.dropFirst().first?.split(separator: " ").dropFirst().first == "2048", "\(run.stdout)")
        #expect(lines.contains("1777"), "\(run.stdout)")
        #expect(run.stdout.contains("No space left on device"), "\(run.stdout)")
        #expect(run.stdout.contains("noexec") && run.stdout.contains("size=1024k"), "\(run.stdout)")
    }

    @Test("a named volume: seeded from the image, kept across runs, listed, refused by rm while a container uses it, left by gc")
    func namedVolume() throws {
        let name = "vt-\(getpid())-\(UUID().uuidString.prefix(6).lowercased())"
        defer { _ = scratch(["volume", "rm", name]) }
        // First use: the image's /etc is copied into the empty volume.
        let first = scratch(["run", "--rm", "-v", "\(name):/etc", "--", "sh", "-c", "cat /etc/passwd | head -1; echo kept > /etc/mine"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.hasPrefix("root:"), "\(first.stdout)")
        let data = VolumeTests.home + "/volumes/\(name)/data"
        #expect(FileManager.default.fileExists(atPath: data + "/passwd"))
        // A second run elsewhere sees the first run's write.
        let second = scratch(["run", "--rm", "--mount", "type=volume,source=\(name),target=/mnt", "--", "cat", "/mnt/mine"])
        #expect(second.status == 0 && second.stdout == "kept\n", "\(second.stdout)\(second.stderr)")
        #expect(scratch(["volume", "ls", "-q"]).stdout.split(separator: "\n").contains(Substring(name)))
        // A stopped container (run without --rm) keeps it in use.
        let kept = scratch(["run", "-v", "\(name):/v", "--", "true"])
        #expect(kept.status == 0, "\(kept.stderr)")
        let ids = try FileManager.default.contentsOfDirectory(atPath: VolumeTests.home + "/containers")
        try #require(ids.count == 1, "\(ids)")
        let refused = scratch(["volume", "rm", name])
        #expect(refused.status == 125 && refused.stderr.contains("in use by container \(ids[0])"), "\(refused.stderr)")
        // gc removes what dead runtimes left; a volume is no leftover.
        _ = scratch(["gc"])
        #expect(FileManager.default.fileExists(atPath: data + "/mine"))
        #expect(scratch(["rm", ids[0]]).status == 0)
        let removed = scratch(["volume", "rm", name])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: VolumeTests.home + "/volumes/\(name)"))
        #expect(scratch(["volume", "rm", name]).status == 125)
    }

    @Test(
        "bad input: exit 125, the flag and path named, nothing made on the host",
        arguments: [
            ["-v", "::"], ["-v", "relative/dir:/x"], ["-v", "/tmp:/c:xyz"], ["-v", "/does/not/exist-\(getpid()):/x"], ["-v", "/tmp:/"],
            ["-v", "/tmp:/proc"], ["-v", "/tmp:/dev"], ["-v", "/tmp:/sys"], ["--tmpfs", "/t:size=0"],
            ["--mount", "type=bind,source=/does/not/exist,target=/x"], ["-v", "/tmp:/a", "--tmpfs", "/a"],
        ])
    func badInput(_ flags: [String]) throws {
        // A home that does not exist: had anything been made (the default image, a
        // volume, a layer), it would exist after.
        let home = work + "/untouched-home"
        let run = VolumeTests.run([VolumeTests.scratch, "run", "--rm"] + flags + ["--", "true"], home: home)
        #expect(run.status == 125, "\(flags): \(run.stderr)")
        #expect(run.stderr.contains(flags[flags.count - 2] + " "), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: home), "\(flags) made \(home)")
    }

    @Test("-v NAME:/x where ./NAME exists here is refused as ambiguous: say which one was meant")
    func ambiguousName() throws {
        _ = try makeDirectory("relative")
        let home = work + "/untouched-home"
        let run = VolumeTests.run([VolumeTests.scratch, "run", "--rm", "-v", "relative:/x", "--", "true"], home: home, directory: work)
        #expect(run.status == 125 && run.stderr.contains("./relative exists here"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: home))
    }
}
