import Glibc
import Runtime
import Syscalls

// TODO(merge): runInStandInHost — the workbook's own stand-in host replaces this
// small copy once both branches are merged; the reports below use its words.

/// Runs the container as `workbook run` does, inside a stand-in host: new UTS and
/// mount namespaces (propagation private), so a mutant can neither rename the machine
/// nor leave a mount on it. What it would have changed is reported on stderr in the
/// learner's terms, and cgroups it left under scratch/ are removed.
func runInLocalStandInHost(_ spec: ContainerSpec, stage: Stage, steps: Steps) -> Never {
    typealias Unshare = @convention(c) (Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "unshare") else {
        report("cannot find unshare(2) in libc")
        exit(125)
    }
    let unshare = unsafeBitCast(symbol, to: Unshare.self)
    // CLONE_NEWUTS | CLONE_NEWNS
    if unshare(0x0400_0000 | 0x0002_0000) != 0 {
        report("unshare(CLONE_NEWUTS|CLONE_NEWNS): \(String(cString: strerror(errno)))")
        exit(125)
    }
    do {
        try mount(source: nil, target: "/", type: nil, flags: [.recursive, .private])
    } catch {
        report("make / private in the stand-in host: \(error)")
        exit(125)
    }
    let hostnameBefore = currentHostname()
    let mountsBefore = mountTable()
    let groupsBefore = readControlFile("/proc/self/cgroup") ?? ""

    let code = runContainer(spec, stage: stage, steps: steps)

    let hostnameAfter = currentHostname()
    if hostnameAfter != hostnameBefore {
        report(
            "your runtime renamed the host: its hostname was \(hostnameBefore), your runtime made it \(hostnameAfter) "
                + "(only the stand-in host changed; without it the machine would have been renamed)")
    }
    let mountsAfter = mountTable()
    let added = mountsAfter.filter { !mountsBefore.contains($0) }
    let removed = mountsBefore.filter { !mountsAfter.contains($0) }
    if !added.isEmpty || !removed.isEmpty {
        report(
            "your runtime left mounts on the host: "
                + (added.isEmpty ? "" : "new: " + added.joined(separator: "; "))
                + (removed.isEmpty ? "" : " gone: " + removed.joined(separator: "; ")))
    }
    let left = leftGroups(id: spec.id)
    if !left.isEmpty {
        // A joinCgroup that moved the runtime itself put this very process there: move
        // it back first, or the group stays busy.
        for line in groupsBefore.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let tree = fields[1].isEmpty ? "unified" : String(fields[1])
            for directory in ["/sys/fs/cgroup/\(tree)\(fields[2])", "/sys/fs/cgroup\(fields[2])"]
            where fileKind(directory + "/cgroup.procs") != nil {
                try? writeControlFile(directory + "/cgroup.procs", String(getpid()))
                break
            }
        }
        for directory in left { _ = try? removeDirectory(directory) }
        for directory in left { _ = try? removeDirectory(parentDirectory(of: directory)) }
        report("your runtime left cgroups on the host: " + left.joined(separator: ", ") + " (removed now)")
    }
    exit(code)
}

func report(_ text: String) { writeToStandardError("mutant-runtime: \(text)\n") }

func currentHostname() -> String { (try? hostname()) ?? "?" }

func mountTable() -> [String] {
    let text = readControlFile("/proc/self/mountinfo") ?? ""
    return text.split(separator: "\n").map { line in
        let fields = line.split(separator: " ")
        return fields.count > 4 ? fields[4...].joined(separator: " ") : String(line)
    }
}

/// The container's group `scratch/ID`, in every tree where it is still there.
func leftGroups(id: String) -> [String] {
    var parents = ["/sys/fs/cgroup/scratch"]
    for tree in (try? listDirectory("/sys/fs/cgroup")) ?? [] { parents.append("/sys/fs/cgroup/\(tree)/scratch") }
    return parents.map { $0 + "/" + id }.filter { fileKind($0) != nil }
}
