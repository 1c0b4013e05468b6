import Glibc
import Syscalls

// The container's start, the child's side: it runs in the new namespaces, does its
// setup, and becomes the user's command. Any failure goes back to the parent over the
// report pipe with the step's name; the parent prints it.

/// The first code the cloned child runs. Never returns to the caller's code: it
/// execs the command, or exits with the code its failure means.
func containerMain(
    _ spec: ContainerSpec, stage: Stage, steps: Steps, channel: SetupChannel
) -> Int32 {
    // If the runtime dies (even of SIGKILL), take the container down with it rather
    // than leave it running with nobody to wait for it or clean up after it.
    setParentDeathSignal(SIGKILL)
    // Wait until the parent has set up what it sets up from outside.
    guard channel.waitForParent() else { return ExitCode.runtimeFailed }
    channel.report.readEnd.close()
    do {
        try setUpContainer(spec, stage: stage, steps: steps)
        let environment = containerEnvironment(hostname: spec.effectiveHostname)
        if stage.includes(.processTree) && spec.useInit {
            return try runCommandUnderInit(
                spec.command, environment: environment, steps: steps,
                channel: channel)
        }
        try becomeCommand(spec.command, environment: environment, steps: steps)
    } catch let error as ContainerError {
        channel.reportFailure(error)
        return error.exitCode
    } catch {
        channel.reportFailure(ContainerError(step: "start the container", reason: "\(error)"))
        return ExitCode.runtimeFailed
    }
}

/// Everything between "the parent said go" and the exec, in order.
func setUpContainer(_ spec: ContainerSpec, stage: Stage, steps: Steps) throws {
    if stage.includes(.rootFilesystem), let rootfs = spec.rootfs {
        try step("make mounts private") { try makeMountsPrivate() }
        if spec.chrootOnly {
            try step("chroot into the rootfs") { try chrootToRootfs(rootfs) }
        } else {
            try step("pivot to the rootfs") { try steps.rootFilesystem.pivotToRootfs(rootfs) }
        }
        try step("mount /proc") { try steps.rootFilesystem.mountProc() }
        try step("mount /dev") { try mountDev() }
        try step("mount /sys") { try mountSys() }
        if spec.readOnlyRootfs {
            try step("make the rootfs read-only") { try makeRootReadOnly() }
        }
    }
    if stage.includes(.hostname) {
        try step("set the hostname") { try steps.hostname.setContainerHostname(spec.effectiveHostname) }
    }
}

/// The last step: execve the command in this very process.
func becomeCommand(_ command: [String], environment: [String], steps: Steps) throws -> Never {
    // The command starts with no signal blocked, as a fresh process should: not with
    // the runtime's block of the forwarded signals, and not with the mask the runtime
    // inherited — one started by a thread of a threaded program (a test harness, a
    // supervisor) may inherit a mask that blocks nearly everything, and a container
    // that cannot be sent SIGTERM hangs.
    try step("unblock signals") { try unblockAllSignals() }
    resetSignalDispositions()
    do {
        try execCommand(command, environment: environment)
    } catch {
        let code = try step("choose the exit code for a failed exec") { try steps.exitStatus.execFailureExitCode(errno: error.errno) }
        throw ContainerError(step: "run the command", reason: "\(error)", exitCode: code)
    }
}

/// With --init: we stay PID 1 and run the command as our child.
func runCommandUnderInit(
    _ command: [String], environment: [String], steps: Steps, channel: SetupChannel
) throws -> Int32 {
    let pid = try step("start the command under init") { try forkProcess() }
    if pid == 0 {
        do {
            try becomeCommand(command, environment: environment, steps: steps)
        } catch let error as ContainerError {
            channel.reportFailure(error)
            exitImmediately(error.exitCode)
        } catch {
            exitImmediately(ExitCode.runtimeFailed)
        }
    }
    // Our copy of the report pipe must close, or the parent never sees end-of-file.
    channel.report.writeEnd.close()
    return try step("run init") { try steps.processTree.runInit(command: pid, signals: runtimeSignals, steps: steps) }
}
