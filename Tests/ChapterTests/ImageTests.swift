import Foundation
import Testing

/// `scratch image import`, `ls`, `rm` and `run IMAGE` (chapter 5), on images that
/// Debian's umoci and skopeo build offline in the test, and on hostile layouts.
extension ContainerTests {
    @Suite final class ImageTests {
        /// This test's SCRATCH_HOME and its images; removed in deinit.
        let home: String
        let images: String

        init() throws {
            home = try Support.temporaryDirectory()
            images = home + "/made"
        }

        deinit { try? FileManager.default.removeItem(atPath: home) }

        func scratch(_ arguments: [String]) -> Support.Output {
            Support.run([Support.scratch] + arguments, environment: ["SCRATCH_HOME": home])
        }

        func shell(_ script: String) -> Support.Output {
            Support.run(["bash", "-euo", "pipefail", "-c", script], environment: ["SCRATCH_HOME": home, "IMAGES": images])
        }

        /// Four tags in one OCI layout, made with umoci from the busybox rootfs: base;
        /// two adds /opt/app/two, /opt/app/sub/old and /etc/gone; three deletes
        /// /etc/gone and replaces /opt/app/sub (umoci writes whiteouts); four adds a
        /// layer with an opaque whiteout on /opt/app/sub. Also a docker-archive of four
        /// (skopeo) and the layout as a tar.
        func makeImages() throws {
            let made = shell(
                """
                mkdir -p "$IMAGES" && cd "$IMAGES"
                umoci init --layout oci
                umoci new --image oci:base
                umoci unpack --image oci:base b >/dev/null
                rm -rf b/rootfs && scratch rootfs build "$IMAGES/b/rootfs" >/dev/null
                umoci repack --image oci:base b
                umoci config --image oci:base --config.cmd sh --config.env FOO=bar --config.workingdir /root
                rm -rf b && umoci unpack --image oci:base b >/dev/null
                mkdir -p b/rootfs/opt/app/sub && echo two > b/rootfs/opt/app/two
                echo old > b/rootfs/opt/app/sub/old && echo gone > b/rootfs/etc/gone
                umoci repack --image oci:two b
                rm -rf b && umoci unpack --image oci:two b >/dev/null
                rm b/rootfs/etc/gone && rm -rf b/rootfs/opt/app/sub && mkdir b/rootfs/opt/app/sub && echo new > b/rootfs/opt/app/sub/new
                umoci repack --image oci:three b && rm -rf b
                mkdir -p o/opt/app/sub && touch o/opt/app/sub/.wh..wh..opq && echo opq > o/opt/app/sub/only
                tar -C o -cf opq.tar opt && umoci raw add-layer --image oci:three --tag four opq.tar
                skopeo copy -q oci:"$IMAGES/oci":four docker-archive:"$IMAGES/four.tar":test/docker:1
                tar -C oci -cf oci.tar .
                """)
            try #require(made.status == 0, "umoci/skopeo (apt-get install umoci skopeo): \(made.stdout)\(made.stderr)")
        }

        @Test("umoci's layers import once each and run: files from every layer, whiteouts, an opaque directory")
        func importAndRun() throws {
            try makeImages()
            for tag in ["base", "two", "three", "four"] {
                let imported = scratch(["image", "import", images + "/oci", "test:" + tag])
                #expect(imported.status == 0 && imported.stdout.hasPrefix("imported test:\(tag)"), "\(imported.stdout)\(imported.stderr)")
            }
            // Each layer once: four images, four layers.
            let layers = try FileManager.default.contentsOfDirectory(atPath: home + "/layers").filter { !$0.hasPrefix(".") }
            #expect(layers.count == 4, "\(layers)")
            let two = scratch(["run", "--rm", "test:two", "--", "sh", "-c", "cat /opt/app/two /opt/app/sub/old /etc/gone; ls /bin/busybox"])
            #expect(two.stdout == "two\nold\ngone\n/bin/busybox\n", "\(two.stdout)\(two.stderr)")
            let three = scratch(["run", "--rm", "test:three", "--", "sh", "-c", "ls /opt/app/sub; test ! -e /etc/gone && echo deleted"])
            #expect(three.stdout == "new\ndeleted\n", "\(three.stdout)\(three.stderr)")
            let four = scratch(["run", "--rm", "test:four", "--", "ls", "/opt/app/sub"])
            #expect(four.stdout == "only\n", "opaque: only the top layer's content: \(four.stdout)\(four.stderr)")
            // The image's own command (Cmd: sh) when none is given.
            let own = Support.run(
                ["sh", "-c", "echo 'echo from-cmd' | \(Support.scratch) run --rm test:base --"], environment: ["SCRATCH_HOME": home])
            #expect(own.stdout == "from-cmd\n", "\(own.stdout)\(own.stderr)")
            let record = try String(contentsOfFile: home + "/images/test/four", encoding: .utf8)
            #expect(record.contains("env=FOO=bar") && record.contains("cmd=sh") && record.contains("workdir=/root"), "\(record)")
            let list = scratch(["image", "ls"])
            #expect(list.stdout.contains("test:four") && list.stdout.contains("test:base"), "\(list.stdout)\(list.stderr)")
        }

        @Test("skopeo's docker-archive and the layout as a tar import, sharing the layers already stored")
        func dockerArchiveAndTar() throws {
            try makeImages()
            #expect(scratch(["image", "import", images + "/oci", "test:four"]).status == 0)
            let docker = scratch(["image", "import", images + "/four.tar"])
            #expect(docker.stdout.hasPrefix("imported test/docker:1: 4 layers (4 already stored)"), "\(docker.stdout)\(docker.stderr)")
            let tar = scratch(["image", "import", images + "/oci.tar", "fromtar:two"])
            #expect(tar.status == 0, "\(tar.stderr)")
            #expect(scratch(["run", "--rm", "test/docker:1", "--", "cat", "/opt/app/two"]).stdout == "two\n")
            let layers = try FileManager.default.contentsOfDirectory(atPath: home + "/layers").filter { !$0.hasPrefix(".") }
            #expect(layers.count == 4, "\(layers)")
        }

        @Test("image rm is refused while a container uses the image, then removes its unshared layers")
        func imageRemove() throws {
            try makeImages()
            #expect(scratch(["image", "import", images + "/oci", "test:base"]).status == 0)
            #expect(scratch(["image", "import", images + "/oci", "test:two"]).status == 0)
            let kept = scratch(["run", "--hostname", "user", "test:two", "--", "true"])
            #expect(kept.status == 0, "\(kept.stderr)")
            let id = try #require(scratch(["ps", "-a"]).stdout.split(separator: "\n").first { $0.hasSuffix(" user") }).prefix(12)
            let refused = scratch(["image", "rm", "test:two"])
            #expect(refused.status == 125 && refused.stderr.contains("in use by container \(id)"), "\(refused.stderr)")
            #expect(scratch(["rm", String(id)]).status == 0)
            let removed = scratch(["image", "rm", "test:two"])
            #expect(removed.status == 0 && removed.stdout.contains("1 layer"), "\(removed.stdout)\(removed.stderr)")
            #expect(scratch(["run", "--rm", "test:two", "--", "true"]).status == 125)
            #expect(scratch(["run", "--rm", "test:base", "--", "true"]).status == 0)
        }

        static let hostile: [(kind: String, words: String)] = [
            ("dotdot", "has a path with '..'"), ("absolute", "has an absolute path"), ("symlink", "Cannot extract through symlink"),
            ("hardlink", "has a path with '..'"), ("whiteout-symlink", "not a directory"),
            ("hardlink-symlink", "Cannot extract through symlink"),
            // overlayfs's own xattrs, planted: a redirect steering the overlay's lookups.
            ("overlay-xattr", "carries the xattr trusted.overlay.redirect"),
        ]

        @Test("a layer that would write outside itself is refused: exit 125, nothing left", arguments: hostile)
        func hostileLayer(_ kind: String, _ words: String) throws {
            let target = home + "/outside"
            let made = shell(
                "mkdir -p \(target) && python3 - \"$IMAGES/\(kind)\" \(kind) <<'EOF'\n\(Self.evilLayout.replacingOccurrences(of: "/tmp/layers-fx-target", with: target).replacingOccurrences(of: "/tmp/layers-fx-absolute", with: target + "/absolute"))\nEOF"
            )
            try #require(made.status == 0, "\(made.stderr)")
            let result = scratch(["image", "import", images + "/" + kind, "evil:1"])
            #expect(result.status == 125 && result.stderr.contains(words), "\(result.stderr)")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []).isEmpty, "written outside")
            #expect(!FileManager.default.fileExists(atPath: images + "/escaped"))
            let left = (try? FileManager.default.contentsOfDirectory(atPath: home + "/layers")) ?? []
            #expect(left.filter { !$0.hasPrefix(".") }.isEmpty, "\(left)")
            #expect(!FileManager.default.fileExists(atPath: home + "/images/evil/1"))
        }

        @Test("a layer that is a FIFO, a 20 MiB config, a tag naming the store's own files: refused at once, nothing imported")
        func hostileLayouts() throws {
            // Before: the FIFO hung the import forever with the store's lock held; the
            // config was read whole into memory; `ok:1.config.json` overwrote ok:1's
            // config with a record.
            let made = shell(
                """
                python3 - "$IMAGES/ok" ok <<'EOF'
                \(Self.evilLayout)
                EOF
                mkdir "$IMAGES/fifo" && cd "$IMAGES/fifo" && mkfifo layer.tar
                printf '{"rootfs":{"type":"layers","diff_ids":["sha256:%064d"]}}' 1 > config.json
                echo '[{"Config":"config.json","RepoTags":["fifo:1"],"Layers":["layer.tar"]}]' > manifest.json
                tar -cf ../fifo.tar * && cd .. && cp -a ok huge
                manifest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"][7:])' huge/index.json)
                config=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["digest"][7:])' huge/blobs/sha256/$manifest)
                truncate -s 20M huge/blobs/sha256/$config
                """)
            try #require(made.status == 0, "\(made.stderr)")
            let cases = [
                (["fifo.tar"], "is not a regular file"), (["huge", "huge:1"], "File too large"),
                (["ok", "ok:1.config.json"], "the store's own files"), (["ok", "ok:1.new"], "the store's own files"),
                (["ok", "a/./b:1"], "each part starting with a letter or digit"), (["ok", "ok:" + String(repeating: "t", count: 129)], "too long"),
            ]
            for (arguments, words) in cases {
                let result = Support.run(
                    ["timeout", "60", Support.scratch, "image", "import", images + "/" + arguments[0]] + arguments.dropFirst(),
                    environment: ["SCRATCH_HOME": home])
                #expect(result.status == 125 && result.stderr.contains(words), "\(arguments): \(result.status) \(result.stderr)")
            }
            let left = (try? FileManager.default.contentsOfDirectory(atPath: home + "/layers")) ?? []
            #expect(left.filter { !$0.hasPrefix(".") }.isEmpty, "\(left)")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: home + "/images")) ?? []).isEmpty)
        }

        @Test("the layers and the volumes are root's alone (0700): an image's set-uid program is not the host users'")
        func privateStore() throws {
            // Before: layers/ and volumes/ were 0755, and with SCRATCH_HOME in a
            // directory others can enter, `su nobody -c $SCRATCH_HOME/layers/<id>/suid`
            // ran an image's set-uid-root program as root on the host.
            for directory in ["layers", "volumes"] {
                try FileManager.default.createDirectory(
                    atPath: home + "/" + directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            }
            let made = shell("python3 - \"$IMAGES/ok\" ok <<'EOF'\n\(Self.evilLayout)\nEOF")
            try #require(made.status == 0, "\(made.stderr)")
            let imported = scratch(["image", "import", images + "/ok", "ok:1"])
            #expect(imported.status == 0, "\(imported.stderr)")
            let created = scratch(["volume", "create", "private"])
            #expect(created.status == 0, "\(created.stderr)")
            for directory in ["layers", "volumes"] {
                let mode = try FileManager.default.attributesOfItem(atPath: home + "/" + directory)[.posixPermissions] as? Int
                #expect(mode == 0o700, "\(directory): \(String(mode ?? 0, radix: 8))")
            }
        }

        @Test("image export never writes through a symlink planted at its TARGET.new-PID work directory")
        func exportWorkDirectoryIsItsOwn() throws {
            // Before: `out.new-PID -> victim` (PID guessable; here fixed by a PID
            // namespace) got the blobs, index.json and oci-layout written into victim.
            let made = shell(
                """
                python3 - "$IMAGES/ok" ok <<'EOF'
                \(Self.evilLayout)
                EOF
                mkdir -p "$IMAGES/victim" "$IMAGES/expo"
                for pid in 1 2 3 4 5 6 7 8; do ln -s "$IMAGES/victim" "$IMAGES/expo/out.new-$pid"; done
                """)
            try #require(made.status == 0, "\(made.stderr)")
            #expect(scratch(["image", "import", images + "/ok", "ok:1"]).status == 0)
            let result = Support.run(
                ["unshare", "--pid", "--fork", Support.scratch, "image", "export", "ok:1", images + "/expo/out"], environment: ["SCRATCH_HOME": home])
            #expect(result.status == 125 && result.stderr.contains("something is already there"), "\(result.status) \(result.stderr)")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: images + "/victim")) ?? ["?"]).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: images + "/expo/out"))
        }

        @Test("run reads records only under images/, and layers only by their sha256")
        func recordsStayInTheStore() throws {
            // Before: `run ../../../x:y` read a record from outside the store, and its
            // `layer=../../..` mounted that host directory under the container.
            let made = shell("python3 - \"$IMAGES/ok\" ok <<'EOF'\n\(Self.evilLayout)\nEOF")
            try #require(made.status == 0, "\(made.stderr)")
            #expect(scratch(["image", "import", images + "/ok", "ok:1"]).status == 0)
            let layer = try #require(
                try String(contentsOfFile: home + "/images/ok/1", encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("layer=") })
            try "layer=../../made\n\(layer)\n".write(toFile: home + "/images/ok/evil", atomically: false, encoding: .utf8)
            let tampered = scratch(["run", "--rm", "ok:evil", "--", "true"])
            #expect(tampered.status == 125 && tampered.stderr.contains("which is not a sha256"), "\(tampered.stderr)")
            let outside = scratch(["run", "--rm", "../ok:1", "--", "true"])
            #expect(outside.status == 125 && outside.stderr.contains("is not an image name"), "\(outside.stderr)")
        }

        @Test("a tampered blob, a truncated archive, a missing blob, a missing file: exit 125, nothing imported")
        func badArchives() throws {
            try makeImages()
            let broken = shell(
                """
                cd "$IMAGES"
                cp -a oci tampered && blob=$(ls -S tampered/blobs/sha256 | head -1)
                printf X | dd of=tampered/blobs/sha256/$blob bs=1 seek=100 conv=notrunc 2>/dev/null
                head -c 100000 oci.tar > truncated.tar
                cp -a oci missing && rm missing/blobs/sha256/$blob
                """)
            try #require(broken.status == 0, "\(broken.stderr)")
            let cases = [
                ("tampered", "the manifest says"), ("truncated.tar", "Truncated tar archive"), ("missing", "missing"),
                ("no-such-file", "does not exist"),
            ]
            for (name, words) in cases {
                let result = scratch(["image", "import", images + "/" + name, "bad:base"])
                #expect(result.status == 125 && result.stderr.contains(words), "\(name): \(result.stderr)")
            }
            let left = (try? FileManager.default.contentsOfDirectory(atPath: home + "/layers")) ?? []
            #expect(left.filter { !$0.hasPrefix(".") }.isEmpty, "\(left)")
            #expect(!FileManager.default.fileExists(atPath: home + "/images/bad"))
        }

        /// An OCI layout of one uncompressed layer made to escape (python3's tarfile:
        /// a test's hostile input, not the product's tar).
        static let evilLayout = #"""
            import hashlib, io, json, os, sys, tarfile
            # evil.py DIR KIND: an OCI layout of one uncompressed layer made to escape.
            out, kind = sys.argv[1], sys.argv[2]
            os.makedirs(out + "/blobs/sha256", exist_ok=True)
            def blob(data):
                d = hashlib.sha256(data).hexdigest()
                open(f"{out}/blobs/sha256/{d}", "wb").write(data)
                return d
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT if kind == "overlay-xattr" else tarfile.GNU_FORMAT) as t:
                def add(name, type=tarfile.REGTYPE, link="", data=b"x", pax={}):
                    i = tarfile.TarInfo(name); i.type = type; i.linkname = link; i.pax_headers = pax
                    if type == tarfile.REGTYPE: i.size = len(data); t.addfile(i, io.BytesIO(data))
                    else: t.addfile(i)
                add("ok")
                if kind == "dotdot": add("../escaped")
                if kind == "absolute": add("/tmp/layers-fx-absolute")
                if kind == "symlink": add("evil", tarfile.SYMTYPE, "/tmp/layers-fx-target"); add("evil/planted")
                if kind == "hardlink": add("hard", tarfile.LNKTYPE, "../../../etc/passwd")
                if kind == "whiteout-symlink": add("evil", tarfile.SYMTYPE, "/tmp/layers-fx-target"); add("evil/.wh.x")
                if kind == "hardlink-symlink": add("evil", tarfile.SYMTYPE, "/tmp/layers-fx-target"); add("hard", tarfile.LNKTYPE, "evil/x")
                if kind == "overlay-xattr": add("d", pax={"SCHILY.xattr.trusted.overlay.redirect": "/etc"})
            layer = buf.getvalue()
            ld = blob(layer)
            config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": ["sha256:" + ld]}}).encode()
            cd = blob(config)
            manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + ld, "size": len(layer)}]}).encode()
            md = blob(manifest)
            open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
            json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + md, "size": len(manifest)}]}, open(out + "/index.json", "w"))
            """#
    }
}
