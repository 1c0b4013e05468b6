import Foundation
import Glibc
import Runtime

// Chapter 6 — configuration: what differs between one run of an image and the next
// comes in through variables and volumes. The checks run containers with `-e`,
// `--env-file`, `-v`, `-w`, `--user` and a config file, and look from inside (the
// variables, the cwd, the ids, a write's errno) and from the host (the volume's
// source after the container ended). The image's Env comes from a one-layer image
// made offline with umoci, as chapter 5's checks make theirs.

/// Chapter 6's image: busybox, with an Env of its own.
let configurationImageName = "config-test:1"

/// The image's Env, as the checks expect to see it.
let configurationImageEnv = ["PATH=/opt/image/bin:/usr/bin:/bin", "FROM_IMAGE=image", "CHANGED=image"]

/// `$1` the directory to make the layout in, `$2` the busybox rootfs.
let configurationImageScript = """
    [ -x "$2/bin/busybox" ] || { echo "no busybox rootfs at $2" >&2; exit 3; }
    cd "$1"
    umoci init --layout layout
    umoci new --image layout:1
    umoci unpack --image layout:1 bundle >/dev/null
    cp -a "$2/." bundle/rootfs/
    umoci repack --image layout:1 bundle
    rm -rf bundle
    umoci config --image layout:1 \(configurationImageEnv.map { "--config.env '\($0)'" }.joined(separator: " "))
    """

extension CheckContext {
    /// Chapter 6's image, made and imported on first use (once per check run).
    func chapter6Image() -> PreparedImage {
        imageLock.lock()
        defer { imageLock.unlock() }
        if let configurationImage { return configurationImage }
        let result = makeChapter6Image()
        configurationImage = result
        return result
    }

    private func makeChapter6Image() -> PreparedImage {
        makeImportedImage(
            in: "config-image", script: configurationImageScript, name: configurationImageName,
            what: "the test image (busybox with an Env)",
            imported: "the test image imported (chapter 5's import; `workbook check 5` must pass first)")
    }

    /// Runs a container of chapter 6's image, to the end.
    func runConfigurationImage(_ command: [String], options: [String]) -> RunResult {
        startImage(command, options: options, image: configurationImageName).wait(timeout: hangSeen ? 3 : 15)
    }

    /// Runs a container on the check's busybox rootfs (a copy of its own), with
    /// `extraEnvironment` added to the runtime's own and `prepare` given the copy first.
    /// `wrapper` goes in front of the runtime's command line.
    func runConfigured(
        _ command: [String], options: [String] = [], extraEnvironment: [String: String] = [:], prepare: ((String) -> Void)? = nil,
        wrapper: [String] = [], timeout: Double = 10
    ) -> RunResult {
        let runRootfs = rootfsForRun()
        prepare?(runRootfs)
        var environment = self.environment
        environment.merge(extraEnvironment) { $1 }
        let running = RunningProcess(
            wrapper + commandLine(command, options: options, rootfs: runRootfs), environment: environment, outputDirectory: workDirectory)
        if runRootfs != rootfs { running.removeAfterwards = runRootfs }
        running.onTimeout = { [weak self] in self?.hangSeen = true }
        return running.wait(timeout: hangSeen ? min(timeout, 3) : timeout)
    }

    /// A fresh directory of this check run, on the host, holding `files` (name: content).
    func hostDirectory(_ name: String, files: [String: String] = [:]) throws -> String {
        let path = workDirectory + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (file, content) in files {
            try Data(content.utf8).write(to: URL(fileURLWithPath: path + "/" + file))
        }
        return path
    }
}

/// The `K=V` lines of `env`'s output.
private func variables(_ output: String) -> [String] { output.split(separator: "\n").map(String.init) }

private func value(_ name: String, in output: String) -> String? {
    variables(output).first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
}

let chapter6Checks: [Check] = [
    Check(
        "host-env-absent", chapter: 6, "the host's variables are absent unless passed with -e; -e K passes the host's K",
        hints: [
            "The container's environment is built from its own sources only: the image's Env, the config file, the env files, -e, and the defaults. The runtime's own process has the host's variables (an SSH agent's socket, tokens): the child must not pass them on.",
            "execve(2) gives the new program exactly the environment it is handed. Build the list from the sources you are given; never start from this process's environment (`environ`, ProcessInfo). A bare `-e K` arrives in `flags` already as K=<host's value>.",
            "Start from `image`, merge `config`, the env files' variables and `flags` in that order (each replacing the same name in place), then put in front the `defaults` whose names are unset: `defaults.filter { !names.contains(name($0)) } + merged`.",
        ]
    ) { context in
        let result = context.runConfigured(
            ["env"], options: ["-e", "WORKBOOK_PASSED"],
            extraEnvironment: ["WORKBOOK_HOST_ONLY": "leaked", "WORKBOOK_PASSED": "passed"])
        var saw = describe(result)
        let leaked = value("WORKBOOK_HOST_ONLY", in: result.stdout)
        if leaked != nil {
            saw += " — WORKBOOK_HOST_ONLY, set only in the runtime's own environment, reached the container: the host's environment was inherited"
        }
        return expect(
            result.status == 0 && leaked == nil && value("WORKBOOK_PASSED", in: result.stdout) == "passed"
                && value("PATH", in: result.stdout) != nil,
            "env to show WORKBOOK_PASSED=passed (from -e WORKBOOK_PASSED) and a PATH, and no WORKBOOK_HOST_ONLY (the runtime's own variable)",
            saw: saw)
    },

    Check(
        "e-overrides-image-env", chapter: 6, "-e replaces the image's Env for the same name and keeps the image's others",
        hints: [
            "Docker's order, lowest first: the image's Env, the config file's process.env, --env-file, -e. A later source wins a name.",
            "Merging source B over A: for each variable of B, if A has the same name (the part before the first `=`), replace it there; otherwise append it. Do it for each source in order, starting from `image`.",
            "var merged = image; for source in [config, fileVariables, flags] { for v in source { if let i = merged.firstIndex(where: { name($0) == name(v) }) { merged[i] = v } else { merged.append(v) } } }",
        ]
    ) { context in
        if case .problem(let outcome) = context.chapter6Image() { return outcome }
        let result = context.runConfigurationImage(["env"], options: ["--rm", "-e", "CHANGED=flag", "-e", "ADDED=flag"])
        var saw = describe(result)
        let changed = variables(result.stdout).filter { $0.hasPrefix("CHANGED=") }
        if changed.count > 1 {
            saw +=
                " — CHANGED is set twice (\(changed.joined(separator: ", "))): a variable that replaces another must take its place, not be added beside it"
        } else if changed.first == "CHANGED=image" {
            saw += " — the image's CHANGED=image won over -e CHANGED=flag: -e must be merged after (over) the image's Env"
        }
        return expect(
            result.status == 0 && changed == ["CHANGED=flag"] && value("FROM_IMAGE", in: result.stdout) == "image"
                && value("ADDED", in: result.stdout) == "flag",
            "CHANGED=flag once (-e over the image's CHANGED=image), FROM_IMAGE=image kept, ADDED=flag", saw: saw)
    },

    Check(
        "defaults-fill-gaps", chapter: 6, "the defaults come in only for names nobody set: the image's PATH is kept, HOME and HOSTNAME are added",
        hints: [
            "PATH, HOSTNAME and HOME are defaults: what a container gets when neither the image nor the user said anything. An image that sets its own PATH (its programs in /opt/image/bin) must keep it.",
            "Take from `defaults` only the variables whose names no source set, and each variable once: two PATH entries in one environment are two answers, and which one a program reads depends on the program.",
            "let names = Set(merged.map(name)); return defaults.filter { !names.contains(name($0)) } + merged",
        ]
    ) { context in
        if case .problem(let outcome) = context.chapter6Image() { return outcome }
        let result = context.runConfigurationImage(["env"], options: ["--rm", "--hostname", "box"])
        var saw = describe(result)
        let paths = variables(result.stdout).filter { $0.hasPrefix("PATH=") }
        if paths.count > 1 {
            saw += " — PATH is set \(paths.count) times: a default must not be added when the image has the name"
        } else if paths.first == "PATH=" + defaultPath {
            saw += " — PATH is the default, not the image's: the defaults override the image's PATH; they should only fill gaps"
        }
        return expect(
            result.status == 0 && paths == ["PATH=/opt/image/bin:/usr/bin:/bin"] && value("HOME", in: result.stdout) == "/root"
                && value("HOSTNAME", in: result.stdout) == "box",
            "PATH=/opt/image/bin:/usr/bin:/bin (the image's, once), HOME=/root and HOSTNAME=box (defaults)", saw: saw)
    },

    Check(
        "env-file-format", chapter: 6, "--env-file skips comments and blank lines, keeps quotes, takes K from the host, and -e wins over it",
        hints: [
            "Docker's env file: one `K=V` or `K` per line; lines starting with `#` (after leading spaces) and blank lines are skipped; nothing is unquoted — it is not a shell script.",
            "For each line: drop leading spaces and tabs; skip it if empty or starting with `#`; a line with `=` is a variable as it is; a bare `K` becomes K=<the host's value> when the host has K (`environmentValue(K)`) and is left out when not.",
            "let line = String(raw.drop { $0 == \" \" || $0 == \"\\t\" }); if line.isEmpty || line.hasPrefix(\"#\") { continue }; if line.contains(\"=\") { vars.append(line) } else if let v = environmentValue(line) { vars.append(line + \"=\" + v) }",
        ]
    ) { context in
        let file = context.workDirectory + "/vars.env"
        let text =
            "# a comment=not a variable\n\nPLAIN=plain\n   INDENTED=yes\n\t# indented comment\nQUOTED=\"kept\"\nFROM_HOST\nNOT_ON_HOST\nOVERRIDDEN=file\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        let result = context.runConfigured(
            ["env"], options: ["--env-file", file, "-e", "OVERRIDDEN=flag"], extraEnvironment: ["FROM_HOST": "host"])
        let lines = variables(result.stdout)
        var saw = describe(result)
        if let comment = lines.first(where: { $0.contains("#") }) {
            saw += " — a comment line became a variable (\(quote(comment))): lines starting with # are skipped"
        } else if lines.contains("") || lines.contains(where: { $0.hasPrefix(" ") || $0.hasPrefix("\t") }) {
            saw += " — a blank or indented line went in as it was: skip blank lines, drop leading whitespace"
        } else if lines.contains("NOT_ON_HOST") || lines.contains("FROM_HOST") {
            saw += " — a bare K went in as it was: it takes the host's value, or is left out when the host has none"
        }
        let expected = ["PLAIN=plain", "INDENTED=yes", "QUOTED=\"kept\"", "FROM_HOST=host", "OVERRIDDEN=flag"]
        let fileNames = ["PLAIN", "INDENTED", "QUOTED", "FROM_HOST", "NOT_ON_HOST", "OVERRIDDEN"]
        let seen = lines.filter { line in fileNames.contains { line == $0 || line.hasPrefix($0 + "=") } || line.contains("#") || line.isEmpty }
        return expect(
            result.status == 0 && Set(seen) == Set(expected) && seen.count == expected.count,
            "exactly \(expected.joined(separator: " ")) from the file and -e, nothing from its comments or blank lines", saw: saw)
    },

    Check(
        "rw-volume-on-host", chapter: 6, "a file written into a -v volume is in the host directory after the container ended",
        hints: [
            "A bind mount shows the same directory at a second place: what the container writes under /data is written into the host's directory, and stays when the container's mount namespace goes.",
            "Bind-mount the source on the target: mount(source, target, nil, MS_BIND | MS_REC). The target must be the place inside the rootfs: `openInRoot(root, target)` and `descriptorPath` of it.",
            "let place = try openInRoot(root, target); try mount(source: source, target: descriptorPath(place), type: nil, flags: [.bind, .recursive])",
        ]
    ) { context in
        let source = try context.hostDirectory("rw-volume", files: ["seed": "from the host\n"])
        let result = context.runConfigured(["sh", "-c", "cat /data/seed && echo written > /data/new"], options: ["-v", source + ":/data"])
        let written = try? String(contentsOfFile: source + "/new", encoding: .utf8)
        return all(
            expect(
                result.status == 0 && result.stdout == "from the host\n", "the container to read the host's seed file at /data/seed",
                saw: describe(result)),
            expect(
                written == "written\n", "\(source)/new on the host to hold \"written\"",
                saw: written.map { quote($0) } ?? "no file \(source)/new on the host"))
    },

    Check(
        "volume-brings-submounts", chapter: 6, "a mount under a -v source on the host comes along into the container (a recursive bind)",
        hints: [
            "A host directory may have other filesystems mounted under it (a tmpfs, a disk, another bind). A plain bind mount takes the source's own mount only: under it, the container sees the empty directories the submounts sit on.",
            "MS_REC with MS_BIND binds the whole tree of mounts under the source, as Docker's -v does (`rbind` in an OCI config).",
            "try mount(source: source, target: descriptorPath(place), type: nil, flags: [.bind, .recursive])",
        ]
    ) { context in
        let source = try context.hostDirectory("tree-volume", files: ["top": "top\n"])
        try FileManager.default.createDirectory(atPath: source + "/sub", withIntermediateDirectories: false)
        // The runtime runs in a mount namespace of this check's own, where a tmpfs is
        // mounted on the source's sub: the host's mount table is never touched.
        let wrapper = [
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            "mount -t tmpfs tmpfs \"$0/sub\" && echo 'from the submount' > \"$0/sub/file\" && exec \"$@\"", source,
        ]
        let result = context.runConfigured(["sh", "-c", "cat /data/top /data/sub/file"], options: ["-v", source + ":/data"], wrapper: wrapper)
        var saw = describe(result)
        if result.stdout == "top\n" {
            saw += " — /data/sub is the empty directory the host's tmpfs sits on: the bind was not recursive"
        }
        return expect(
            result.status == 0 && result.stdout == "top\nfrom the submount\n",
            "top, then the file of the tmpfs mounted on the source's sub (on the runtime's side)", saw: saw)
    },

    Check(
        "ro-volume-erofs", chapter: 6, "a write into a :ro volume fails with EROFS (read-only file system), and the host file is unchanged",
        hints: [
            "`:ro` is enforced by the kernel, on the mount: a write fails with EROFS whoever the writer is, root included.",
            "MS_RDONLY given with MS_BIND is ignored: a bind mount is made read-write, and becomes read-only only through a second call, a remount of that mount (MS_REMOUNT | MS_BIND | MS_RDONLY), which must also keep the flags the mount already has (nosuid, nodev, noexec).",
            "let mounted = try openInRoot(root, target); let keep = try lockedMountFlags(mounted); try mount(source: nil, target: descriptorPath(mounted), type: nil, flags: keep.union([.remount, .bind, .readOnly]))",
        ]
    ) { context in
        let source = try context.hostDirectory("ro-volume", files: ["seed": "original\n"])
        let result = context.runConfigured(
            ["sh", "-c", "cat /data/seed; echo changed > /data/seed; echo new > /data/new; grep ' /data ' /proc/mounts"],
            options: ["-v", source + ":/data:ro"])
        let seed = try? String(contentsOfFile: source + "/seed", encoding: .utf8)
        let made = FileManager.default.fileExists(atPath: source + "/new")
        var saw = describe(result)
        if seed != "original\n" || made {
            saw += " — the volume was writable: the host's \(source) changed"
        }
        return expect(
            result.stdout.hasPrefix("original\n") && result.stderr.contains("Read-only file system") && seed == "original\n" && !made,
            "the seed readable, both writes refused with \"Read-only file system\" (EROFS), and \(source) unchanged on the host", saw: saw)
    },

    Check(
        "symlink-target-inside", chapter: 6,
        "a volume whose target is, in the image, a symlink to a host path is mounted inside the rootfs, never over the host",
        hints: [
            "The image is not yours: /vol-link in it is a symbolic link to an absolute path that also exists on the host. Looked up by the host's rules (a path made of the rootfs's path and the target), the link leads out of the rootfs and the volume lands on the host's directory.",
            "Resolve the target as the container will see it: openat2(2) with RESOLVE_IN_ROOT on a descriptor of the rootfs treats it as `/`, so absolute links and `..` stay inside. Syscalls has it: `openInRoot(root, target)`. Then mount on that very descriptor (`descriptorPath`), so nothing is looked up twice.",
            "let place = try openInRoot(root, target); try mount(source: source, target: descriptorPath(place), type: nil, flags: [.bind, .recursive]) — never `descriptorPath(root) + target`, never rootfs + target.",
        ]
    ) { context in
        // On the host: a directory the image's link names. The stand-in host (and the
        // container's own mount namespace) keep a mistake from covering it for real;
        // the check looks at what the container sees.
        let hostSide = try context.hostDirectory("host-side", files: ["host-marker": "host\n"])
        let source = try context.hostDirectory("link-volume", files: ["from-volume": "volume\n"])
        let result = context.runConfigured(
            ["sh", "-c", "cat /vol-link/from-volume; echo through-link > /vol-link/written; ls \(hostSide)"],
            options: ["-v", source + ":/vol-link"],
            prepare: { rootfs in _ = symlink(hostSide, rootfs + "/vol-link") })
        let written = try? String(contentsOfFile: source + "/written", encoding: .utf8)
        let hostFiles = (try? FileManager.default.contentsOfDirectory(atPath: hostSide)) ?? []
        var saw = describe(result)
        if result.status == 0 && (result.stdout.contains("host-marker") || !result.stdout.hasPrefix("volume\n")) {
            saw +=
                " — the container does not see the volume at /vol-link: the mount followed the image's link by the host's rules, onto the host's \(hostSide), and the container's /vol-link leads to the rootfs's own \(hostSide)"
        }
        return all(
            expect(
                result.status == 0 && result.stdout.hasPrefix("volume\n") && written == "through-link\n",
                "the volume's from-volume readable through /vol-link, and a write through it in \(source) on the host", saw: saw),
            expect(hostFiles == ["host-marker"], "the host's \(hostSide) untouched", saw: hostFiles.joined(separator: ", ")))
    },

    Check(
        "workdir-cwd", chapter: 6, "-w sets the command's working directory, made when the image lacks it",
        hints: [
            "The runtime makes a missing -w directory after the pivot (as root, before any read-only remount) and enters it before the exec.",
            "This check runs your chapter 6 code too: a container starts only once `environment` returns.",
            "Implement `environment` (the last hint of host-env-absent); -w itself is the runtime's (WorkingDirectory.swift).",
        ]
    ) { context in
        let result = context.runConfigured(["pwd"], options: ["-w", "/srv/work/dir"])
        return expect(result.status == 0 && result.stdout == "/srv/work/dir\n", "pwd to print /srv/work/dir", saw: describe(result))
    },

    Check(
        "user-ids", chapter: 6, "--user UID:GID runs the command with that uid and gid",
        hints: [
            "--user UID:GID needs no /etc/passwd entry: the ids are set as given (setgroups, setgid, then setuid — setuid last, since it takes away the right to the others).",
            "This check runs your chapter 6 code too: a container starts only once `environment` returns.",
            "Implement `environment` (the last hint of host-env-absent); --user itself is the runtime's (User.swift).",
        ]
    ) { context in
        let result = context.runConfigured(["sh", "-c", "id -u; id -g; echo $HOME"], options: ["--user", "1234:5678"])
        return expect(
            result.status == 0 && result.stdout == "1234\n5678\n/\n", "1234, 5678 and HOME=/ (no passwd entry for 1234)",
            saw: describe(result))
    },

    Check(
        "config-and-flags", chapter: 6, "a config file's args, env and cwd apply, and the flags override it (-e over process.env, -w over cwd)",
        hints: [
            "`run --config config.json` reads an OCI runtime-spec config: process.args, process.env, process.cwd, ... The flags on the command line are laid over it.",
            "The config's process.env comes after the image's Env and before --env-file and -e: it arrives in `config`. Merge it in its place.",
            "var merged = image; for source in [config, fileVariables, flags] { merge source over merged }; then the defaults for unset names.",
        ]
    ) { context in
        let config = context.workDirectory + "/config.json"
        let json = """
            {"ociVersion": "1.0.2", "process": {"args": ["sh", "-c", "pwd; echo $FROM_CONFIG $BOTH"], "env": ["FROM_CONFIG=config", "BOTH=config"], "cwd": "/srv/config"}, "root": {"path": "rootfs"}}
            """
        try Data(json.utf8).write(to: URL(fileURLWithPath: config))
        let fromFile = context.runConfigured([], options: ["--config", config])
        let overridden = context.runConfigured([], options: ["--config", config, "-e", "BOTH=flag", "-w", "/srv/flag"])
        var saw = describe(overridden)
        if overridden.stdout.hasSuffix("config config\n") {
            saw += " — BOTH kept the config's value: -e must be merged over the config's process.env"
        }
        return all(
            expect(
                fromFile.status == 0 && fromFile.stdout == "/srv/config\nconfig config\n",
                "the config alone: /srv/config, then FROM_CONFIG=config BOTH=config", saw: describe(fromFile)),
            expect(
                overridden.status == 0 && overridden.stdout == "/srv/flag\nconfig flag\n",
                "with -e BOTH=flag -w /srv/flag: /srv/flag, then config flag", saw: saw))
    },
]
