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
    // 1. Check the request before anything exists on the host.
    try spec.validate(stage: stage)

    // 2. Prepare what lives outside the container. (Cgroups join here in chapter 4.)

    // 3. Clone the child into its new namespaces.
    var namespaces: CloneFlags = []
    if stage.includes(.hostname) {
        namespaces.formUnion(try step("choose namespaces") { try steps.hostnameNamespace() })
    }
    if stage.includes(.processTree) {
        namespaces.formUnion(try step("choose namespaces") { try steps.processTreeNamespace() })
    }
    if stage.includes(.rootFilesystem) {
        namespaces.insert(.newMount)
    }
    // Block the signals we forward before the child exists: one that came between
    // clone and the wait below would otherwise kill the runtime and orphan the child.
    let savedMask = try step("block signals") { try blockSignals(runtimeSignals) }
    let channel = try step("create the setup pipes") { try SetupChannel() }
    let child = try step("clone the container's process") {
        try clone(flags: namespaces) {
            containerMain(spec, stage: stage, steps: steps, channel: channel, savedMask: savedMask)
        }
    }
    channel.parentCloseChildEnds()

    // 4. Set up from outside (cgroup, uid maps, network come in later chapters),
    //    then let the child go on.
    try step("let the container start") { try channel.letChildGo() }

    // 5. The child sets itself up and execs; its report is empty when exec worked.
    let failure = try step("wait for the container to start") { try channel.readReport() }

    // 6. Wait for the container, forwarding signals, and report how it ended.
    let status = try step("wait for the container") { try waitForwardingSignals(to: child) }
    if !failure.isEmpty {
        writeToStandardError("\(spec.programName): \(failure)\n")
        if case .exited(let code) = status { return code }
    }

    // 7. Clean up what step 2 made. (Nothing yet; chapter 4 adds the cgroup.)
    return try step("report the exit status") { try steps.exitCode(status) }
}
