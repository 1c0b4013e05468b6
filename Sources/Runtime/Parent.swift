import Glibc
import Syscalls

// The container's start, the runtime's side. It reads top to bottom as DESIGN.md's
// list: check, prepare, clone, set up from outside, let go, wait, clean up.
//
// Everything here runs on one thread, synchronously: no Dispatch, no async. A
// threaded process cannot enter a user namespace (chapter 8), and clone(2) copies
// only the calling thread, so a lock held by another thread would stay held in the
// child forever. (Go runtimes such as runc re-exec themselves to escape this; we
// never started a thread, so we need not.)

/// Runs a container and returns the exit code its user should see.
public func runContainer(_ spec: ContainerSpec, stage: Stage, steps: Steps = .reference) -> Int32 {
    do {
        return try startAndWait(spec, stage: stage, steps: steps)
    } catch {
        writeToStandardError("\(spec.programName): \(error)\n")
        return (error as? ContainerError)?.exitCode ?? ExitCode.runtimeFailed
    }
}

func startAndWait(_ spec: ContainerSpec, stage: Stage, steps: Steps) throws -> Int32 {
    // A write to a pipe whose reader died must fail with EPIPE, not kill the runtime
    // with SIGPIPE. (The child resets every disposition before exec.)
    ignoreSignal(SIGPIPE)
    // 1. Check the request before anything exists on the host.
    try spec.validate(stage: stage)

    // 2. Prepare what lives outside the container: its cgroup, limits set.
    var cgroup: Cgroup?
    if stage.includes(.cgroups) {
        let mode = try step("find the cgroup mode") { try detectCgroupMode() }
        let files = try step("choose the cgroup's limits") { try steps.cgroups.cgroupFiles(for: spec.limits, mode: mode) }
        cgroup = try step("create the cgroup") { try createCgroup(named: spec.id, mode: mode, setting: files, steps: steps) }
    }
    // 7. Clean up what step 2 made, on every path out of here (it runs last).
    defer { if let cgroup { cleanUpCgroup(cgroup, steps: steps, programName: spec.programName) } }

    // 3. Clone the child into its new namespaces.
    var namespaces: CloneFlags = []
    if stage.includes(.hostname) {
        namespaces.formUnion(try step("choose namespaces") { try steps.hostname.hostnameNamespace() })
    }
    if stage.includes(.processTree) {
        namespaces.formUnion(try step("choose namespaces") { try steps.processTree.processTreeNamespace() })
    }
    if stage.includes(.rootFilesystem) {
        namespaces.insert(.newMount)
    }
    // Block the signals we forward before the child exists: one that came between
    // clone and the wait below would otherwise kill the runtime and orphan the child.
    try step("block signals") { try blockSignals(runtimeSignals) }
    let channel = try step("create the setup pipes") { try SetupChannel() }
    let child = try step("clone the container's process") {
        try clone(flags: namespaces) {
            containerMain(spec, stage: stage, steps: steps, channel: channel)
        }
    }
    channel.parentCloseChildEnds()
    // Should a step below fail, the child must be gone before its cgroup can go.
    var reaped = false
    defer { if !reaped { killAndReap(child) } }

    // 4. Set up from outside — the cgroup (uid maps, network come in later
    //    chapters) — then let the child go on. It waits for this before anything else,
    //    so everything it does happens inside its limits.
    if let cgroup {
        try step("put the container in its cgroup") { try steps.cgroups.joinCgroup(cgroup.directories, pid: child) }
    }
    // If the child died already (killed from outside before it read this), the write
    // fails with EPIPE; that is no runtime error: its exit status, read below, says
    // what happened to it.
    try? channel.letChildGo()

    // 5. The child sets itself up and execs; its report is empty when exec worked.
    let failure = try step("wait for the container to start") { try channel.readReport() }

    // 6. Wait for the container, forwarding signals, and report how it ended.
    let status = try step("wait for the container") { try waitForwardingSignals(to: child) }
    reaped = true
    if let cgroup, let limit = spec.limits.memoryBytes, let kills = oomKillCount(cgroup), kills > 0 {
        writeToStandardError(
            "\(spec.programName): the container ran out of memory: the kernel's OOM killer killed \(kills == 1 ? "a process" : "\(kills) processes") in it (--memory \(describeBytes(limit)))\n"
        )
    }
    if !failure.isEmpty {
        writeToStandardError("\(spec.programName): \(failure)\n")
        if case .exited(let code) = status { return code }
    }
    return try step("report the exit status") { try steps.exitStatus.exitCode(for: status) }
}

/// Step 7 for the cgroup: remove it, and say so if that failed (the run's own exit
/// status stands).
func cleanUpCgroup(_ cgroup: Cgroup, steps: Steps, programName: String) {
    if let problem = removeCgroupForSure(cgroup, steps: steps) {
        writeToStandardError("\(programName): remove the cgroup: \(problem)\n")
    }
}

/// For a start that failed half-way: SIGKILL the child (it may still be waiting for
/// the go-ahead) and reap it, so no zombie stays and its cgroup empties.
func killAndReap(_ child: pid_t) {
    try? sendSignal(SIGKILL, to: child)
    _ = try? waitpid(child)
}
