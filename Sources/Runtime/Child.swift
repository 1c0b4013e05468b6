import CLinux
import Glibc
import Syscalls

// The container's start, the child's side: it runs in the new namespaces, does its
// setup, and becomes the user's command. Any failure goes back to the parent over the
// report pipe with the step's name; the parent prints it.

/// The first code the cloned child runs. Never returns to the caller's code: it
/// execs the command, or exits with the code its failure means.
func containerMain(
    _ spec: ContainerSpec, stage: Stage, steps: Steps, confinement: Confinement?, cgroup: Cgroup?, bridge: BridgeAttachment?,
    channel: ChildEnds
) -> Int32 {
    // If the runtime dies (even of SIGKILL), take the container down with it rather
    // than leave it running with nobody to wait for it or clean up after it. This is
    // no help if the runtime died before this line: the kernel sends nothing then.
    // The go-ahead pipe covers that race: its writer gone, the read below ends at once.
    //
    // Chapter 10: not for a container made by `create`. That runtime exits as soon as
    // the container waits on its exec fifo, and the container must outlive it.
    if channel.execFifo == nil { setParentDeathSignal(SIGKILL) }
    // Wait until the parent has set up what it sets up from outside.
    guard channel.waitForParent() else { return ExitCode.runtimeFailed }
    do {
        // Chapter 10: namespaces a bundle names by path (a network namespace Podman
        // made first, say) are joined now, before any setup happens in them.
        try step("join the namespaces linux.namespaces names by path") { try joinBundleNamespaces(spec.oci?.joinedNamespaces ?? []) }
        // Chapter 10, a bundle's user namespace made by root: we are still the host's
        // root, which its maps leave unmapped — the overflow id inside, whose files a
        // filesystem mounted in the namespace refuses to make (EOVERFLOW). Become the
        // namespace's root, the host id its maps give container 0 (runc's init does
        // the same). Our capabilities in the namespace stay: the kernel clears them
        // only when root becomes someone else, and this is the other way.
        if spec.oci?.namespaces?.contains(.newUser) == true {
            try step("become root of the user namespace (linux.uidMappings' container id 0)") { try becomeNamespaceRoot() }
        }
        // Chapter 7: a cgroup namespace of its own, now that the parent has put us in
        // our cgroup: its root is that group, so /proc/self/cgroup says "/" and the
        // host's cgroup tree above it is out of sight.
        if stage.includes(.leastPrivilege) && !spec.hostCgroupNamespace {
            try step("enter a cgroup namespace of its own") { try unshareNamespaces(.newCgroup) }
        }
        // Chapter 9: the network first, while the child is fully root and nothing
        // filters its calls. A netlink socket acts in the namespace it was opened in:
        // this one is opened here, in the container's.
        if stage.includes(.network) && spec.network.hasOwnNamespace {
            let netlink = try step("open a netlink socket in the container's network namespace") { try Netlink() }
            try step("bring up lo") { try steps.network.bringUpLoopback(netlink: netlink) }
            if let bridge {
                try step("configure \(bridge.pair.nameInside) (address \(bridge.address), default route via \(bridgeGateway))") {
                    try steps.network.configureContainerSide(bridge.pair, address: bridge.address, gateway: bridgeGateway, netlink: netlink)
                }
            }
        }
        try setUpContainer(spec, stage: stage, steps: steps, confinement: confinement, cgroup: cgroup)
        // Chapter 7, the last steps before the command, in this order (runc's too):
        //  1. The bounding set is cut at the end of setUpContainer: each drop needs
        //     CAP_SETPCAP, which only a process still fully root has.
        //  2. The user change (chapter 6's --user) comes next: setuid to a non-root user
        //     clears the permitted and effective sets (we never set PR_SET_KEEPCAPS),
        //     and needs CAP_SETUID/CAP_SETGID, which capset below might have removed.
        //  3. capset: root keeps the container's set in permitted and effective; a
        //     non-root user, whose sets the kernel emptied, stays with none — as in
        //     Docker. Inheritable and ambient stay empty (CVE-2022-24769).
        //  4. no_new_privs, then 5. seccomp, last: the filter would refuse the setup's
        //     own calls (mount, unshare) had it come earlier, and the kernel takes a
        //     filter only from a process with no_new_privs or CAP_SYS_ADMIN. With
        //     no-new-privileges=false there is neither by now, so the filter is loaded
        //     before step 1 instead (as runc does); capset and prctl are in its allowlist.
        // Under --init all of it happens before the fork: PID 1, our own code, is
        // confined like the command.
        //
        // Chapter 6: who the command runs as, where, and with which variables. With a
        // root of its own, the user comes from the image's /etc/passwd (User.swift says
        // why only after the pivot); before chapter 3 there is no image to ask.
        var home = "/root"
        if stage.includes(.rootFilesystem) {
            let user = try step("find the user") { try findContainerUser(spec.user, extraGroups: spec.additionalGroups) }
            home = user.home
            if spec.oci?.permittedCapabilities != nil && confinement != nil {
                try step("keep the capabilities across the change of user") { try keepCapabilitiesAcrossSetuid() }
            }
            try step("become the user") { try becomeUser(user) }
            if let directory = spec.workingDirectory {
                try step("enter the working directory") { try enterWorkingDirectory(directory) }
            }
        }
        let sources = spec.environmentSources
        let environment = try step("build the environment") {
            try steps.configuration.environment(
                image: sources.image, config: sources.config, envFileLines: sources.envFileLines, flags: sources.flags,
                defaults: defaultEnvironment(hostname: spec.effectiveHostname, home: home))
        }
        if let confinement {
            try step("set the capabilities") { try steps.privileges.setCapabilities(confinement.capabilities) }
            if let oci = spec.oci,
                oci.inheritableCapabilities != 0 || oci.ambientCapabilities != 0 || oci.permittedCapabilities != nil
                    || oci.effectiveCapabilities != nil
            {
                try step("set process.capabilities") {
                    try setBundleCapabilities(
                        effective: oci.effectiveCapabilities, permitted: oci.permittedCapabilities,
                        inheritable: oci.inheritableCapabilities, ambient: oci.ambientCapabilities)
                }
            }
            if confinement.noNewPrivileges {
                try step("set no_new_privs") { try setNoNewPrivileges() }
                if let filter = confinement.seccomp {
                    try step("load the seccomp filter") { try loadSeccompFilter(filter) }
                }
            }
        }
        if stage.includes(.processTree) && spec.useInit {
            return runCommandUnderInit(spec, environment: environment, steps: steps, channel: channel)
        }
        if let fifo = channel.execFifo, let oci = spec.oci {
            return waitForStartThenExec(spec, oci: oci, fifo: fifo, environment: environment, steps: steps, channel: channel)
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
func setUpContainer(
    _ spec: ContainerSpec, stage: Stage, steps: Steps, confinement: Confinement? = nil, cgroup: Cgroup? = nil
) throws {
    if stage.includes(.rootFilesystem), let rootfs = spec.rootfs {
        // Chapter 10: a bundle that lists no mount namespace shares its caller's, the
        // host's: "/" there is not ours to make private (HostMounts.swift).
        let sharesMounts = spec.oci?.sharesMountNamespace == true
        if sharesMounts {
            try step("bind the rootfs onto itself, private (no mount namespace of its own)") { try bindRootfsPrivately(rootfs) }
        } else {
            try step("make mounts private") { try makeMountsPrivate() }
        }
        // Chapter 5: the image's layers and the container's own, merged on the mount
        // point that `rootfs` names. In this mount namespace only: it goes with it.
        if let layers = spec.layers {
            try step("mount the overlay") { try mountContainerLayers(layers, steps: steps) }
        }
        // Chapter 6: the volumes, inside the rootfs, while the host's paths are still
        // in reach. Each target is resolved in the rootfs, never through the host.
        if !spec.mounts.isEmpty {
            try step("mount the volumes") { try mountVolumes(spec.mounts, rootfs: rootfs, steps: steps) }
        }
        // Chapter 10: a bundle's mounts, every one in the config's order, here for the
        // same reason (BundleMounts.swift). /proc, /dev and /sys are checked first: a
        // procfs over a rootfs's /proc that links to /etc would land on its /etc.
        let bundleMounts = spec.oci?.mounts ?? []
        let listed = Set(bundleMounts.map(\.destination))
        if !bundleMounts.isEmpty {
            try step("check the rootfs's /proc, /dev and /sys") { try checkKernelMountPoints(readOnly: spec.readOnlyRootfs, root: rootfs) }
            try mountBundleMounts(bundleMounts, rootfs: rootfs, cgroup: cgroup, hostCgroupNamespace: spec.hostCgroupNamespace)
        }
        // runc's rule: a /dev the config mounts (not binds) gets the usual nodes.
        let populatesDev = bundleMounts.contains { $0.destination == "/dev" && $0.kind != .bind }
        // Chapter 8: in a user namespace /proc, /dev and /sys are mounted here, before
        // the pivot. The kernel lets a user namespace mount a procfs only while a
        // procfs is fully visible in its mount namespace (mount_too_revealing: else a
        // fresh one would show what the host had masked over), and after the pivot
        // the host's is gone; /dev and /sys are bound from the host's, reachable only
        // now. The mount points are checked first, as below: each name in the rootfs
        // is looked at without following a link.
        let rootless = inUserNamespace()
        if rootless {
            try step("check the rootfs's /proc, /dev and /sys") { try checkKernelMountPoints(readOnly: spec.readOnlyRootfs, root: rootfs) }
            if !listed.contains("/proc") {
                try step("mount /proc") {
                    try mount(source: "proc", target: rootfs + "/proc", type: "proc", flags: [.noSuid, .noDev, .noExec])
                }
            }
            if populatesDev {
                try step("fill the bundle's /dev with the host's device nodes") { try populateDev(root: rootfs) }
            } else if !listed.contains("/dev") {
                try step("mount /dev from the host's device nodes") { try mountDev(root: rootfs) }
            }
            if !listed.contains("/sys") {
                try step("bind the host's /sys read-only (no network namespace of its own for sysfs)") { try mountSys(root: rootfs) }
            }
            // Chapter 10, a bundle's user namespace: its linux.devices here too, the
            // host's nodes bound (mknod is refused in a user namespace).
            if let devices = spec.oci?.devices, !devices.isEmpty {
                try step("bind linux.devices from the host") { try makeConfigDevices(devices, root: rootfs) }
            }
        }
        // Chapter 7's read-only /sys/fs/cgroup, unless the bundle mounts its own; in a
        // bundle's user namespace on v1 it is made here, before the pivot (see
        // mountCgroupTree), the others after it.
        let mountsCgroupTree =
            confinement != nil && !spec.hostCgroupNamespace && !listed.contains(cgroupRoot)
            && !bundleMounts.contains(where: { $0.kind == .cgroup })
        let cgroupTreeBeforePivot = rootless && mountsCgroupTree && cgroup?.mode == .v1
        if cgroupTreeBeforePivot, let cgroup {
            try step("mount /sys/fs/cgroup read-only") { try mountCgroupTree(cgroup, root: rootfs) }
        }
        // Chapter 10: createContainer hooks, in the container's mount namespace with its
        // mounts made, before the pivot (runtime-spec; runc's order too).
        if let oci = spec.oci, !oci.hooks.createContainer.isEmpty {
            let state =
                "{\"ociVersion\": \"\(ociVersion)\", \"id\": \(jsonString(spec.id)), \"status\": \"creating\", \"pid\": \(getpid()), \"bundle\": \(jsonString(oci.bundle))}\n"
            for (index, hook) in oci.hooks.createContainer.enumerated() {
                try step("run hooks.createContainer[\(index)] (\(hook.path))") { try runHook(hook, input: Array(state.utf8)) }
            }
        }
        if spec.chrootOnly {
            try step("chroot into the rootfs") { try chrootToRootfs(rootfs) }
        } else if sharesMounts {
            // Never pivot_root in a mount namespace that is not the container's: it
            // would move the root of every process there whose root is "/".
            try step("chroot into the rootfs (no mount namespace of its own: no pivot_root)") { try chrootToRootfs(rootfs) }
        } else {
            // In a mount namespace joined by path (chapter 10) this is the same pivot,
            // with a wider reach: pivot_root(2) moves the root and working directory of
            // every process whose root was the old one — the namespace's other
            // processes too (runtime-tools' `unshare --mount sleep`) — onto the rootfs,
            // and the old root's detach takes the host's tree from them as well. The
            // namespace becomes the container's, as runc makes it: the spec's path
            // names the container's mount namespace, not one to borrow.
            try step("pivot to the rootfs") { try steps.rootFilesystem.pivotToRootfs(rootfs) }
        }
        // Chapter 10: the root mount's propagation as the config asks (every mount was
        // made private first, so "shared" starts a peer group of the container's own).
        if let propagation = spec.oci?.rootfsPropagation {
            try step("set linux.rootfsPropagation on /") { try mount(source: nil, target: "/", type: nil, flags: propagation) }
        }
        try setDeferredPropagation(bundleMounts)
        // From here on "/" is the rootfs: a path can no longer lead to the host. But a
        // rootfs's own /proc that is a symlink to its /etc would have /proc mounted
        // over /etc: each of these must be a plain directory.
        if !rootless {
            try step("check the rootfs's /proc, /dev and /sys") { try checkKernelMountPoints(readOnly: spec.readOnlyRootfs) }
            if !listed.contains("/proc") { try step("mount /proc") { try steps.rootFilesystem.mountProc() } }
            if populatesDev {
                try step("fill the bundle's /dev") { try populateDev() }
            } else if !listed.contains("/dev") {
                try step("mount /dev") { try mountDev() }
            }
            if let devices = spec.oci?.devices, !devices.isEmpty {
                try step("make linux.devices") { try makeConfigDevices(devices) }
            }
            if !listed.contains("/sys") { try step("mount /sys") { try mountSys() } }
        }
        // Before a read-only remount, and as root: a -w the image lacks is made here.
        if let directory = spec.workingDirectory {
            try step("make the working directory") { try makeWorkingDirectory(directory) }
        }
        // Chapter 10: a bundle's sysctls, in /proc/sys as this container's namespaces
        // see it — before chapter 7 makes it read-only.
        for setting in spec.oci?.sysctl ?? [] {
            let path = "/proc/sys/" + setting.key.split(separator: ".").joined(separator: "/")
            try step("set linux.sysctl \(setting.key)") { try writeControlFile(path, setting.value) }
        }
        // Chapter 7: the host kernel's files that no namespace covers.
        if confinement != nil {
            try step("mask paths in /proc and /sys") { try maskPaths(spec.oci?.maskedPaths ?? maskedPaths) }
            try step("make /proc/sys and its like read-only") { try makePathsReadOnly(spec.oci?.readonlyPaths ?? readOnlyPaths) }
            if let cgroup, mountsCgroupTree, !cgroupTreeBeforePivot {
                try step("mount /sys/fs/cgroup read-only") { try mountCgroupTree(cgroup) }
            }
        }
        if spec.readOnlyRootfs {
            try step("make the rootfs read-only") { try makeRootReadOnly() }
        }
    }
    // Chapter 10: a bundle that keeps the host's UTS namespace (or joins one) keeps its
    // hostname too: setting one would rename the host.
    if stage.includes(.hostname) && spec.oci?.namespaces.map({ $0.contains(.newUTS) }) != false {
        try step("set the hostname") { try steps.hostname.setContainerHostname(spec.effectiveHostname) }
    }
    if let confinement {
        if !confinement.noNewPrivileges, let filter = confinement.seccomp {
            try step("load the seccomp filter") { try loadSeccompFilter(filter) }
        }
        try step("cut the bounding set") { try steps.privileges.dropBoundingSet(keeping: confinement.capabilities) }
    }
}

/// Chapter 10: setns(2) into each namespace the bundle names by path (a pid namespace
/// is `create`'s to join, before the clone). Every file is opened first, while its path
/// resolves where the config meant it to; the mount namespace is entered last, since
/// from there on paths resolve in it.
func joinBundleNamespaces(_ joins: [OCIJoin]) throws {
    let ordered = joins.filter { $0.type != "pid" && $0.type != "mount" } + joins.filter { $0.type == "mount" }
    var opened: [(join: OCIJoin, fd: Int32)] = []
    defer { for entry in opened { closeDescriptor(entry.fd) } }
    for join in ordered {
        let fd = open(join.path, O_RDONLY | O_CLOEXEC)
        if fd == -1 { throw SyscallError("open", path: join.path) }
        opened.append((join, fd))
    }
    for entry in opened where cl_setns(entry.fd, entry.join.flag.rawValue) == -1 {
        let code = errno
        throw SyscallError(
            "setns", path: "\(entry.join.path) (linux.namespaces, \(entry.join.type))", errno: code,
            hint: code == EINVAL ? "the file is not a \(entry.join.type) namespace" : nil)
    }
}

/// setgid, setgroups and setuid to 0 of our user namespace (with CAP_SETUID and
/// CAP_SETGID in it, each sets the real, effective and saved id together).
func becomeNamespaceRoot() throws(SyscallError) {
    if setgid(0) == -1 { throw SyscallError("setgid", path: "0") }
    // No supplementary group of the host's (unmapped ones show as the overflow id).
    if setgroups(0, nil) == -1 { throw SyscallError("setgroups", path: "[]") }
    if setuid(0) == -1 { throw SyscallError("setuid", path: "0") }
}

/// The last step: execve the command in this very process.
func becomeCommand(_ command: [String], environment: [String], steps: Steps) throws -> Never {
    // The command starts as a fresh process would: every signal's action the default
    // (an ignored one would stay ignored across execve), and no signal blocked — not
    // the runtime's block of the forwarded signals, and not the mask the runtime
    // inherited (a thread of a threaded supervisor may start it with nearly every
    // signal blocked, and a container that cannot be sent SIGTERM hangs). Dispositions
    // first: a signal still pending would otherwise run the old action on unblock.
    resetSignalDispositions()
    try step("unblock signals") { try unblockAllSignals() }
    try step("close inherited descriptors") { try closeInheritedDescriptorsOnExec() }
    do {
        try execCommand(command, environment: environment)
    } catch {
        let code = try step("choose the exit code for a failed exec") {
            try steps.exitStatus.execFailureExitCode(errno: error.errno)
        }
        throw ContainerError(step: "run the command", reason: "\(error)", exitCode: code)
    }
}

/// Chapter 10: the container is made; `create` learns so when the report pipe closes
/// with nothing said. Then wait on the exec fifo for `start`, and exec. From here on an
/// error goes to the container's standard error: `create` has gone.
func waitForStartThenExec(
    _ spec: ContainerSpec, oci: OCILaunch, fifo: Int32, environment: [String], steps: Steps, channel: ChildEnds
) -> Int32 {
    do {
        // runc looks the command up before it says "created": a typo in args[0] fails
        // `create`, not a later `start` that has no one to tell.
        try findCommand(spec.command[0], environment: environment)
        if let socket = channel.consoleSocket {
            try step("set up the terminal") { try sendTerminal(over: socket, size: oci.consoleSize) }
            closeDescriptor(socket)
        }
    } catch {
        channel.reportFailure(error)
        return error.exitCode
    }
    // Everything the caller of `create` left open goes now, not at the exec: the
    // container outlives `create`, and a descriptor it holds while it waits keeps the
    // caller's pipe open (Foundation's Process, waiting for the end of one, would wait
    // for the container). runc's init starts with 0, 1 and 2 only.
    for fd in openDescriptors() where fd > 2 && fd != fifo && fd != channel.report { closeDescriptor(fd) }
    channel.closeReport()
    do {
        try step("wait for start on the exec fifo") { try steps.lifecycle.waitForStart(execFifo: fifo) }
        closeDescriptor(fifo)
        if !oci.hooks.startContainer.isEmpty {
            let state =
                "{\"ociVersion\": \"\(ociVersion)\", \"id\": \(jsonString(spec.id)), \"status\": \"running\", \"pid\": \(getpid()), \"bundle\": \(jsonString(oci.bundle))}\n"
            for (index, hook) in oci.hooks.startContainer.enumerated() {
                try step("run hooks.startContainer[\(index)] (\(hook.path))") { try runHook(hook, input: Array(state.utf8)) }
            }
        }
        if let mask = oci.umask { umask(mask) }
        try becomeCommand(spec.command, environment: environment, steps: steps)
    } catch {
        writeToStandardError("\(spec.programName): \(error)\n")
        return (error as? ContainerError)?.exitCode ?? ExitCode.runtimeFailed
    }
}

/// Chapter 10, `process.terminal`: a pty from the container's own devpts, its master
/// sent to the tool above over the console socket (SCM_RIGHTS: the kernel copies the
/// descriptor into the receiver), its slave our controlling terminal and our 0, 1, 2.
func sendTerminal(over socket: Int32, size: (rows: UInt16, columns: UInt16)?) throws {
    var name = [CChar](repeating: 0, count: 128)
    let master = cl_open_pty(&name, UInt32(name.count))
    if master == -1 { throw SyscallError("open", path: "/dev/ptmx") }
    defer { closeDescriptor(master) }
    let slavePath = String(cString: name)
    let slave = open(slavePath, O_RDWR | O_NOCTTY)
    if slave == -1 { throw SyscallError("open", path: slavePath) }
    if let size, cl_set_window_size(master, size.rows, size.columns) == -1 { throw SyscallError("ioctl(TIOCSWINSZ)", path: slavePath) }
    if cl_send_fd(socket, master, "/dev/ptmx") == -1 { throw SyscallError("sendmsg(SCM_RIGHTS)", path: "the console socket") }
    // A session of our own, so the pty can become its controlling terminal.
    if setsid() == -1 { throw SyscallError("setsid") }
    if cl_set_controlling_terminal(slave) == -1 { throw SyscallError("ioctl(TIOCSCTTY)", path: slavePath) }
    for target in Int32(0)...2 where dup2(slave, target) == -1 { throw SyscallError("dup2", path: slavePath) }
    if slave > 2 { closeDescriptor(slave) }
}

/// With --init: we stay PID 1 and run the command as our child.
///
/// The command gets a process group of its own and, when the runtime held the
/// terminal, the terminal: Ctrl-C then reaches the command once, from the kernel,
/// and not a second time through the runtime's forwarding.
func runCommandUnderInit(_ spec: ContainerSpec, environment: [String], steps: Steps, channel: ChildEnds) -> Int32 {
    // Init is running: the container has started. The report pipe closes here, before
    // the fork, so the runtime sees its end-of-file now — had the command held the
    // last copy, a signal sent once the command printed could still find the runtime
    // "setting up". From here on errors, the command's failed exec included, go to
    // standard error, and the exit code says 126 or 127.
    channel.closeReport()
    let terminalHolder = getpgrp()
    let pid: pid_t
    do {
        pid = try step("start the command under init") { try forkProcess() }
    } catch {
        writeToStandardError("\(spec.programName): \(error)\n")
        return error.exitCode
    }
    if pid == 0 {
        setProcessGroup(0, 0)
        giveTerminal(to: getpgrp(), onlyIfHeldBy: terminalHolder)
        do {
            try becomeCommand(spec.command, environment: environment, steps: steps)
        } catch let error as ContainerError {
            writeToStandardError("\(spec.programName): \(error)\n")
            exitImmediately(error.exitCode)
        } catch {
            writeToStandardError("\(spec.programName): \(error)\n")
            exitImmediately(ExitCode.runtimeFailed)
        }
    }
    setProcessGroup(pid, pid)
    do {
        return try step("run init") { try steps.processTree.runInit(command: pid, signals: runtimeSignals, steps: steps) }
    } catch {
        writeToStandardError("\(spec.programName): \(error)\n")
        return error.exitCode
    }
}
