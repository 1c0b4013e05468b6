import Glibc
import Syscalls

/// The functions a learner writes, one group per chapter.
///
/// The creation story (Parent.swift, Child.swift) calls these instead of calling the
/// reference directly, so the same story runs with the learner's code, with the
/// reference (`Steps.reference`), or with a mix: a chapter the learner skipped uses
/// the reference, and being stuck on one chapter never blocks the next.
public struct Steps: Sendable {
    // Chapter 0: a container is a process.
    /// The exit code a user sees for a child that ended with `status` (128+N for signal N).
    public var exitCode: @Sendable (_ status: WaitStatus) throws -> Int32
    /// The exit code for a command that execve(2) refused with `errno` (126 or 127).
    public var execFailureExitCode: @Sendable (_ errno: Int32) throws -> Int32

    // Chapter 1: the UTS namespace.
    /// The clone flags that give the child a hostname of its own.
    public var hostnameNamespace: @Sendable () throws -> CloneFlags
    /// Runs in the child: set the container's hostname.
    public var setHostname: @Sendable (_ name: String) throws -> Void

    // Chapter 2: the PID namespace.
    /// The clone flags that give the child process ids of its own (it becomes PID 1).
    public var processTreeNamespace: @Sendable () throws -> CloneFlags
    /// Runs as PID 1 with `--init`: forward signals to the command, reap every child,
    /// and return the command's exit code once it ends.
    public var runInit: @Sendable (_ command: pid_t, _ signals: SignalSet) throws -> Int32

    // Chapter 3: a root of its own.
    /// Runs in the child: make `rootfs` the new `/` with pivot_root, and drop the old one.
    public var pivotToRootfs: @Sendable (_ rootfs: String) throws -> Void
    /// Runs in the child, after the pivot: a /proc for the new PID namespace.
    public var mountProc: @Sendable () throws -> Void

    // Chapter 4: cgroups.
    /// The control files (name and value) that set `limits` on a host in `mode`, in
    /// the order to write them.
    public var cgroupFiles: @Sendable (_ limits: ResourceLimits, _ mode: CgroupMode) throws -> [CgroupFile]
    /// Runs in the parent: make the container's group, `groups` (one directory per
    /// hierarchy), with `controllers` enabled for it on v2.
    public var makeCgroup: @Sendable (_ groups: [String], _ mode: CgroupMode, _ controllers: [String]) throws -> Void
    /// Runs in the parent: move process `pid` into the container's cgroup, whose
    /// directory in every hierarchy is in `directories`.
    public var joinCgroup: @Sendable (_ directories: [String], _ pid: pid_t) throws -> Void
    /// Runs in the parent, on every way out: remove the container's group.
    public var removeCgroup: @Sendable (_ groups: [String]) throws -> Void

    public init(
        exitCode: @escaping @Sendable (WaitStatus) throws -> Int32,
        execFailureExitCode: @escaping @Sendable (Int32) throws -> Int32,
        hostnameNamespace: @escaping @Sendable () throws -> CloneFlags,
        setHostname: @escaping @Sendable (String) throws -> Void,
        processTreeNamespace: @escaping @Sendable () throws -> CloneFlags,
        runInit: @escaping @Sendable (pid_t, SignalSet) throws -> Int32,
        pivotToRootfs: @escaping @Sendable (String) throws -> Void,
        mountProc: @escaping @Sendable () throws -> Void,
        cgroupFiles: @escaping @Sendable (ResourceLimits, CgroupMode) throws -> [CgroupFile],
        makeCgroup: @escaping @Sendable ([String], CgroupMode, [String]) throws -> Void,
        joinCgroup: @escaping @Sendable ([String], pid_t) throws -> Void,
        removeCgroup: @escaping @Sendable ([String]) throws -> Void
    ) {
        self.exitCode = exitCode
        self.execFailureExitCode = execFailureExitCode
        self.hostnameNamespace = hostnameNamespace
        self.setHostname = setHostname
        self.processTreeNamespace = processTreeNamespace
        self.runInit = runInit
        self.pivotToRootfs = pivotToRootfs
        self.mountProc = mountProc
        self.cgroupFiles = cgroupFiles
        self.makeCgroup = makeCgroup
        self.joinCgroup = joinCgroup
        self.removeCgroup = removeCgroup
    }

    /// The reference runtime's own functions.
    public static let reference = Steps(
        exitCode: Runtime.exitCode(for:),
        execFailureExitCode: Runtime.execFailureExitCode(errno:),
        hostnameNamespace: Runtime.hostnameNamespace,
        setHostname: Runtime.setContainerHostname(_:),
        processTreeNamespace: Runtime.processTreeNamespace,
        runInit: Runtime.runInit(command:signals:),
        pivotToRootfs: Runtime.pivotToRootfs(_:),
        mountProc: Runtime.mountProc,
        cgroupFiles: Runtime.cgroupFiles(for:mode:),
        makeCgroup: Runtime.makeCgroup(_:mode:controllers:),
        joinCgroup: Runtime.joinCgroup(_:pid:),
        removeCgroup: Runtime.removeCgroup(_:)
    )

    /// These steps with one chapter's functions taken from `other`.
    public func replacing(chapter: Int, from other: Steps) -> Steps {
        var result = self
        switch chapter {
        case 0:
            result.exitCode = other.exitCode
            result.execFailureExitCode = other.execFailureExitCode
        case 1:
            result.hostnameNamespace = other.hostnameNamespace
            result.setHostname = other.setHostname
        case 2:
            result.processTreeNamespace = other.processTreeNamespace
            result.runInit = other.runInit
        case 3:
            result.pivotToRootfs = other.pivotToRootfs
            result.mountProc = other.mountProc
        case 4:
            result.cgroupFiles = other.cgroupFiles
            result.makeCgroup = other.makeCgroup
            result.joinCgroup = other.joinCgroup
            result.removeCgroup = other.removeCgroup
        default:
            break
        }
        return result
    }
}
