import Glibc
import Syscalls

// The container's start, the runtime's side. It reads top to bottom as the list in
// ARCHITECTURE.md: check, record and prepare, clone, set up from outside, let go,
// wait, clean up.
//
// Everything here runs on one thread, synchronously: no Dispatch, no async. clone(2)
// copies only the calling thread, so a lock held by another thread would stay held in
// the child forever; and a threaded process may not unshare(2) or setns(2) into a user
// namespace (chapter 8). runc, written in Go (always threaded), does its namespace
// work in C before the Go runtime starts and re-executes itself for it; we never
// start a thread, so we need neither.

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
    // 0. Signals: from now on they wait in the signalfd for the wait loop, and none can
    //    kill the runtime half-way with something made on the host and not cleaned up.
    try step("take over signals") { try takeOverSignals() }
    let signals = try step("create the signalfd") { try SignalDescriptor(runtimeSignals) }
    // 1. Check the request before anything exists on the host.
    try spec.validate(stage: stage)
    let cniList = try spec.readCNINetwork()
    // Chapter 7: the seccomp profile compiled now (or found in the cache), so a profile
    // libseccomp refuses is bad input that leaves nothing behind.
    let confinement = try step("compile the seccomp filter") { try plannedConfinement(spec, stage: stage, steps: steps) }
    // Chapter 8: whether the kernel allows a user namespace, and which ids it maps.
    let idMaps = spec.userNamespace ? try step("plan the user namespace") { try planUserNamespace(mapping: spec.userNamespaceMap) } : nil
    if idMaps != nil { pinRootlessPaths() }
    try stopIfInterrupted()
    removeLeftovers()

    // 2. Record the container, then prepare what lives outside it: its cgroup.
    var cgroup: Cgroup?
    var limitFiles: [CgroupFile] = []
    // Chapter 8: rootless, a group only for limits, and only in a subtree delegated to
    // the user (CgroupDelegation.swift; step 1 refused the limits where there is none).
    let delegation =
        stage.includes(.cgroups) && isRootless(spec) && !spec.limits.isEmpty
        ? delegatedCgroup(needing: spec.limits.controllers) : nil
    if stage.includes(.cgroups) && (!isRootless(spec) || delegation != nil) {
        let mode = try step("find the cgroup mode") { try detectCgroupMode() }
        limitFiles = try step("choose the cgroup's limits") { try steps.cgroups.cgroupFiles(for: spec.limits, mode: mode) }
        // Chapter 7: on v1 the devices controller's files; v2 has a program instead (below).
        if confinement != nil && mode == .v1 { limitFiles += deviceCgroupFilesV1() }
        if case .delegated(let parent, let controllers) = delegation {
            cgroup = delegatedCgroupLayout(named: spec.id, parent: parent, controllers: controllers)
        } else {
            cgroup = try step("plan the cgroup") { try planCgroup(named: spec.id, mode: mode, setting: limitFiles) }
        }
    }
    var state = spec.state(cgroups: cgroup?.directories ?? [])
    state.capabilities = confinement?.capabilities.bits
    state.noNewPrivileges = confinement?.noNewPrivileges ?? false
    state.seccompFilter = confinement?.seccomp?.key
    let record = try step("record the container in \(stateRoot)") { try StateRecord(state) }
    // 7. (It runs last, after the cgroup's cleanup below.) The record and the
    //    container's layer go when all else has gone — unless the container ran to its
    //    end without --rm: then it stays, stopped, until `scratch rm`.
    var keptWithExitCode: Int32?
    defer {
        if let code = keptWithExitCode {
            record.markStopped(state, exitCode: code)
        } else {
            if let layers = spec.layers { removeContainerLayer(layers) }
            record.remove()
        }
    }
    if let layers = spec.layers {
        try step("make the container's layer") { try makeContainerLayer(layers) }
    }
    // Chapter 6: named volumes, made on first use (recorded in the state above).
    if !spec.namedVolumes.isEmpty {
        try step("make the named volumes") { try makeNamedVolumes(spec.namedVolumes) }
    }
    // Chapter 9, bridge mode: the container's place on the host — the bridge and its
    // NAT table on first use, an address, the published ports. Released on every way
    // out (the defer), by the next run or `scratch gc` if this runtime is killed.
    var spec = spec
    var bridge: BridgeAttachment?
    if stage.includes(.network) && spec.network == .bridge {
        bridge = try step("join the bridge \(bridgeName)") { try joinBridge(containerID: spec.id, ports: spec.publishedPorts) }
    }
    defer {
        if let bridge {
            for problem in leaveBridge(bridge) { writeToStandardError("\(spec.programName): leave the bridge: \(problem)\n") }
        }
    }
    // Its name and address for its /etc, as Docker writes them: bound in by the child
    // with the volumes, so the image's own files stay untouched.
    if stage.includes(.network) && stage.includes(.rootFilesystem) && spec.network.hasOwnNamespace && spec.rootfs != nil {
        let files = try step("write the container's /etc/hosts, /etc/hostname and /etc/resolv.conf") {
            try writeNetworkFiles(spec, address: bridge?.address.address, directory: record.directory)
        }
        spec.mounts = files + spec.mounts
    }
    if let cgroup {
        try step("create the cgroup") { try createCgroup(cgroup, setting: limitFiles, steps: steps) }
    }
    // 7. Clean up what step 2 made, on every path out of here.
    defer { if let cgroup { cleanUpCgroup(cgroup, steps: steps, programName: spec.programName) } }
    // (Rootless there is no device program: loading one needs CAP_BPF or CAP_SYS_ADMIN
    // on the host, and the container's /dev holds only the host's nodes, bound.)
    if let cgroup, cgroup.mode == .v2, confinement != nil, !isRootless(spec), let group = cgroup.directories.first {
        try step("attach the device program to the cgroup") { try attachDeviceProgram(toGroup: group) }
    }

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
    // Chapter 7: System V IPC and POSIX queues of its own. (Its cgroup namespace the
    // child makes itself, once it is in its cgroup: a cgroup namespace's root is the
    // group its maker was in.)
    if stage.includes(.leastPrivilege) {
        namespaces.insert(.newIPC)
    }
    // Chapter 9: links, addresses, routes and ports of its own (all but --network host).
    if stage.includes(.network) && spec.network.hasOwnNamespace {
        namespaces.formUnion(try step("choose namespaces") { try steps.network.networkNamespace() })
    }
    // Chapter 8: with the others in one clone. The kernel makes the user namespace
    // first, and the others belong to it: root in it may then mount, set the
    // hostname and so on in them — and in nothing of the host's.
    if idMaps != nil {
        namespaces.insert(.newUser)
    }
    try stopIfInterrupted()
    let channel = try step("create the setup pipes") { try SetupChannel() }
    var childEnds = channel.childEnds
    childEnds.parentOnly += [signals.descriptor.raw, record.lockDescriptor]
    let heldTerminal = spec.useInit && ownsTerminal()
    let child = try step("clone the container's process") {
        try clone(flags: namespaces) { [spec, childEnds, cgroup, bridge] in
            containerMain(spec, stage: stage, steps: steps, confinement: confinement, cgroup: cgroup, bridge: bridge, channel: childEnds)
        }
    }
    let ends = channel.parentSide()
    // Should a step below fail, the child must be gone before its cgroup can go.
    var reaped = false
    defer { if !reaped { killAndReap(child) } }
    try step("record the container's pid") { try record.recordPID(child) }
    // Chapter 8: the maps, before the go-ahead — until then the child's ids are
    // unmapped, and the kernel would refuse it even its own files.
    if let idMaps {
        do {
            try steps.userNamespace.writeIDMaps(idMaps, child: child)
        } catch {
            // The maps asked for beside the refusal: a wrong line (a swapped id, host
            // root) reads at once against the caller's ids.
            let reason = (error as? ContainerError)?.reason ?? "\(error)"
            let asked = describeMapLines(idMaps, steps: steps)
            throw ContainerError(step: "write the user namespace's maps", reason: reason + (asked.isEmpty ? "" : " (\(asked))"))
        }
    }

    // 4. Set up from outside — the cgroup, the veth pair — then let the child go on.
    //    It waits for this before anything else, so everything it does happens
    //    inside its limits, and its end of the pair is there when it looks.
    if let cgroup {
        try step("put the container in its cgroup") { try steps.cgroups.joinCgroup(cgroup.directories, pid: child) }
    }
    if let bridge {
        try step("connect the container to the bridge") {
            try steps.network.connectContainer(bridge.pair, toNamespaceOf: child, netlink: Netlink())
        }
    }
    // Chapter 9, CNI: the plugins' ADD, in the child's namespace while it waits; DEL on
    // every way out (before the kill-and-reap above: the namespace is held open for it).
    var cniNetwork: CNIAttachment?
    defer { cniNetwork?.detach(programName: spec.programName) }
    if let list = cniList {
        try stopIfInterrupted()
        cniNetwork = try step("attach the CNI network \(list.name)") {
            try attachCNINetwork(list, containerID: spec.id, pid: child, stateDirectory: record.directory, programName: spec.programName)
        }
    }
    try stopIfInterrupted()
    // If the child died already (killed from outside before it read this), the write
    // fails with EPIPE; that is no runtime error: its exit status, read below, says
    // what happened to it. The pipe stays open while we live: the child tells from it
    // that we did not die before its PR_SET_PDEATHSIG took hold.
    try? ends.goAhead.writeAll([1])

    // 5 and 6. One loop from here to the end: the child's report (empty when the
    //    command was exec'd), the signals to pass on, and its exit.
    let end = try step("wait for the container") { try superviseContainer(child, report: ends.report, signals: signals) }
    reaped = true
    if heldTerminal { giveTerminal(to: getpgrp()) }
    if let signal = end.interruptedBy {
        writeToStandardError(
            "\(spec.programName): interrupted by \(signalName(signal)) while the container was being set up: it was stopped, and what it had made is removed\n"
        )
        return ExitCode.signalBase + signal
    }
    if end.killedAfterInterrupts {
        writeToStandardError(
            "\(spec.programName): the container ignored \(interruptsBeforeKill - 1) interrupts (SIGINT, SIGTERM); the next one was sent as SIGKILL\n")
    }
    if let cgroup, let limit = spec.limits.memoryBytes, let kills = oomKillCount(cgroup), kills > 0 {
        writeToStandardError(
            "\(spec.programName): the container ran out of memory: the kernel's OOM killer killed \(kills == 1 ? "a process" : "\(kills) processes") in it (--memory \(describeBytes(limit)))\n"
        )
    }
    if !end.failure.isEmpty {
        writeToStandardError("\(spec.programName): \(end.failure)\n")
        if case .exited(let code) = end.status { return code }
    }
    let code = try step("report the exit status") { try steps.exitStatus.exitCode(for: end.status) }
    if spec.layers != nil && !spec.removeWhenDone { keptWithExitCode = code }
    return code
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

extension ContainerSpec {
    /// What the state directory records about this container.
    func state(cgroups: [String]) -> ContainerState {
        var state = ContainerState(
            id: id, runtimePID: getpid(), created: secondsSinceEpoch(), command: command, rootfs: rootfs ?? "",
            hostname: effectiveHostname, cgroups: cgroups)
        state.layer = layers?.directory
        state.image = image
        state.environment = environment
        state.user = user
        state.workingDirectory = workingDirectory
        state.volumes = namedVolumes
        return state
    }
}
