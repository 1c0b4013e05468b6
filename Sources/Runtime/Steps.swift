import Glibc
import Syscalls

// The functions a learner writes, one protocol per chapter (ARCHITECTURE.md, "The
// learner/reference switch").
//
// The creation story (Parent.swift, Child.swift) calls these protocols, never the
// reference directly, so the same story runs with the learner's code, with the
// reference (`Steps.reference`), or with a mix. The mix is made a whole chapter at a
// time: `skip` swaps one chapter's value, so no function can be left half-swapped.
//
// To add a function to a chapter: declare it in the chapter's protocol below, and
// write the reference's version in the chapter's file (`extension Reference`). The
// exercise's type then fails to compile, in the learner's own file, until it has one.

/// Chapter 0 — a container is a process: what its user sees when it ends.
public protocol ExitStatusSteps: Sendable {
    /// The exit code a user sees for a child that ended with `status` (128+N for signal N).
    func exitCode(for status: WaitStatus) throws -> Int32
    /// The exit code for a command that execve(2) refused with `errno` (126 or 127).
    func execFailureExitCode(errno: Int32) throws -> Int32
}

/// Chapter 1 — the UTS namespace.
public protocol HostnameSteps: Sendable {
    /// The clone flags that give the child a hostname of its own.
    func hostnameNamespace() throws -> CloneFlags
    /// Runs in the child: set the container's hostname.
    func setContainerHostname(_ name: String) throws
}

/// Chapter 2 — the PID namespace.
public protocol ProcessTreeSteps: Sendable {
    /// The clone flags that give the child process ids of its own (it becomes PID 1).
    func processTreeNamespace() throws -> CloneFlags
    /// Runs as PID 1 with `--init`: forward signals to the command, reap every child,
    /// and return the command's exit code once it ends. `steps` are the runtime's
    /// effective steps: the exit code comes from `steps.exitStatus`, whoever wrote it.
    func runInit(command: pid_t, signals: SignalSet, steps: Steps) throws -> Int32
}

/// Chapter 3 — a root of its own.
public protocol RootFilesystemSteps: Sendable {
    /// Runs in the child: make `rootfs` the new `/` with pivot_root, and drop the old one.
    func pivotToRootfs(_ rootfs: String) throws
    /// Runs in the child, after the pivot: a /proc for the new PID namespace.
    func mountProc() throws
}

/// Chapter 4 — cgroups.
public protocol CgroupSteps: Sendable {
    /// The control files (name and value) that set `limits` on a host in `mode`, in
    /// the order to write them.
    func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) throws -> [CgroupFile]
    /// Runs in the parent: make the container's group, `groups` (one directory per
    /// hierarchy), with `controllers` enabled for it on v2.
    func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws
    /// Runs in the parent: move process `pid` into the container's cgroup, whose
    /// directory in every hierarchy is in `directories`.
    func joinCgroup(_ directories: [String], pid: pid_t) throws
    /// Runs in the parent, on every way out: remove the container's group.
    func removeCgroup(_ groups: [String]) throws
}

/// Chapter 5 — layers: the overlay a container runs on, and the layers it is made of.
public protocol LayerSteps: Sendable {
    /// The data of the overlay mount (`mount -t overlay overlay -o DATA`). `lower` are
    /// the image's layers bottom first, as its manifest lists them (paths relative to
    /// the directory the runtime mounts from); `upper` and `work` are the container's
    /// own directories.
    func overlayOptions(lower: [String], upper: String, work: String) throws -> String
    /// What overlayfs needs in a layer in place of the OCI layer entry `name` (a path
    /// relative to the layer's root, checked: no `/` in front, no `..`). The importer
    /// does what the answer says, inside the layer's directory and nowhere else.
    func overlayEntry(for name: String) throws -> LayerEntry
}

/// Chapter 6 — configuration: the environment the command gets, and a bind-mounted
/// volume, read-only when asked.
public protocol ConfigurationSteps: Sendable {
    /// The variables the command starts with, from their sources. Each source is a list
    /// of `K=V` in the order it was given; a later source's variable replaces an
    /// earlier one's of the same name: `image` (the image's Env), then `config` (a
    /// config file's process.env), then `envFileLines` (the lines of every --env-file
    /// as written, comments and blank lines included; checked already), then `flags`
    /// (-e, a bare `-e K` already given the host's value). `defaults` (PATH, HOSTNAME,
    /// HOME, TERM) only for the names no source set. Nothing else: not the runtime's
    /// own variables.
    func environment(image: [String], config: [String], envFileLines: [String], flags: [String], defaults: [String]) throws -> [String]
    /// Runs in the child, before the pivot: bind-mount the host's `source` (a file or a
    /// directory, with every mount under it) on `target`, a path inside the rootfs that
    /// `root` is a descriptor of (the runtime has made it already, resolved in the
    /// root), and make it read-only when `readOnly`.
    func mountBindVolume(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws
}

/// One entry of an image layer as the importer writes it (chapter 5's `overlayEntry`).
/// Paths are relative to the layer's root; "" (or ".") is the root itself.
public enum LayerEntry: Sendable, Equatable {
    /// The tar's entry, written as the tar has it, at `path`.
    case asIs(String)
    /// mknod(2): a special file at `path`; `mode` holds its type (`S_IFCHR`, `S_IFREG`,
    /// ...) and permission bits, `device` its device number (major and minor in one).
    case node(path: String, mode: mode_t, device: dev_t)
    /// setxattr(2) of the extended attribute `name` = `value` on the directory `path`
    /// (made if the tar has not made it yet).
    case xattr(path: String, name: String, value: String)
}

/// Chapter 7 — least privilege: what the container keeps of root's power.
public protocol PrivilegeSteps: Sendable {
    /// Runs in the child, still fully root (before the user change): drop from the
    /// bounding set every capability not in `keep`, up to the kernel's last.
    func dropBoundingSet(keeping keep: CapabilitySet) throws
    /// Runs in the child after the user change: effective and permitted = `keep` (as
    /// far as the process still has it), inheritable and ambient empty.
    func setCapabilities(_ keep: CapabilitySet) throws
    /// Runs in the parent, before anything exists: the classic-BPF program that
    /// filters a container with `capabilities` as `profile` says.
    func compileSeccompFilter(_ profile: SeccompProfile, capabilities: CapabilitySet) throws -> [UInt8]
}

/// Chapter 10 — speaking OCI: the lifecycle's state machine. `create` makes the
/// container and leaves its first process waiting on the exec fifo; `start` lets it
/// go; `state` says where it is; `delete` removes what is left.
public protocol LifecycleSteps: Sendable {
    /// Runs in `create`, before the clone: make the exec fifo at `path` (a named pipe
    /// only root may read), which the container's first process will wait on.
    func makeExecFifo(at path: String) throws
    /// Runs in the container's first process, its setup done, just before the exec:
    /// block until `start` opens the fifo, through `execFifo` (an `O_PATH` descriptor
    /// of it, opened before the pivot), then write one byte to say "going".
    func waitForStart(execFifo: Int32) throws
    /// Runs in `start`: open the fifo at `path` for reading (without blocking: the
    /// container may have died), wait for the byte the container `pid` writes, then
    /// remove the fifo — from then on the container is running.
    func releaseContainer(execFifo path: String, pid: pid_t) throws
    /// The status `state` reports: `recorded` is what `create` last wrote
    /// (`.creating`, or `.created` once its process waits on the fifo), `alive` whether
    /// that process is still there (not a zombie), `execFifoExists` whether the fifo is.
    func status(recorded: ContainerStatus, alive: Bool, execFifoExists: Bool) throws -> ContainerStatus
    /// Runs in `delete`, once the container's processes and cgroup are gone: remove its
    /// state directory `directory` and everything in it.
    func removeContainer(directory: String) throws
}

/// An OCI container's status, as `state` prints it (runtime-spec, runtime.md).
public enum ContainerStatus: String, Sendable, Equatable {
    case creating, created, running, stopped
}

/// The reference runtime's side of every chapter. Each chapter's file holds its part
/// (`extension Reference: HostnameSteps` in Hostname.swift, and so on).
public struct Reference: Sendable {
    public init() {}
}

/// The functions the creation story calls: one value per chapter.
public struct Steps: Sendable {
    public var exitStatus: any ExitStatusSteps
    public var hostname: any HostnameSteps
    public var processTree: any ProcessTreeSteps
    public var rootFilesystem: any RootFilesystemSteps
    public var cgroups: any CgroupSteps
    public var layers: any LayerSteps
    public var configuration: any ConfigurationSteps
    public var privileges: any PrivilegeSteps
    public var lifecycle: any LifecycleSteps

    public init(
        exitStatus: any ExitStatusSteps, hostname: any HostnameSteps, processTree: any ProcessTreeSteps,
        rootFilesystem: any RootFilesystemSteps, cgroups: any CgroupSteps, layers: any LayerSteps,
        configuration: any ConfigurationSteps, privileges: any PrivilegeSteps, lifecycle: any LifecycleSteps
    ) {
        self.exitStatus = exitStatus
        self.hostname = hostname
        self.processTree = processTree
        self.rootFilesystem = rootFilesystem
        self.cgroups = cgroups
        self.layers = layers
        self.configuration = configuration
        self.privileges = privileges
        self.lifecycle = lifecycle
    }

    /// The reference runtime's own functions, every chapter.
    public static let reference = Steps(
        exitStatus: Reference(), hostname: Reference(), processTree: Reference(), rootFilesystem: Reference(),
        cgroups: Reference(), layers: Reference(), configuration: Reference(), privileges: Reference(),
        lifecycle: Reference())

    /// The chapters that have learner functions, in order. (Chapters 8 and 9 have
    /// none yet: `replacing` leaves the steps as they are for them.)
    public static let chapters = 0...10

    /// These steps with chapter `chapter`'s value taken from `other`, whole.
    public func replacing(chapter: Int, from other: Steps) -> Steps {
        var result = self
        switch chapter {
        case 0: result.exitStatus = other.exitStatus
        case 1: result.hostname = other.hostname
        case 2: result.processTree = other.processTree
        case 3: result.rootFilesystem = other.rootFilesystem
        case 4: result.cgroups = other.cgroups
        case 5: result.layers = other.layers
        case 6: result.configuration = other.configuration
        case 7: result.privileges = other.privileges
        case 10: result.lifecycle = other.lifecycle
        default: break
        }
        return result
    }

    /// Whose code runs for each chapter: the type's name ("Reference", "YourHostname"),
    /// for messages and for the tests that prove a swap moves one chapter only.
    public var authors: [Int: String] {
        [
            0: "\(type(of: exitStatus))", 1: "\(type(of: hostname))", 2: "\(type(of: processTree))",
            3: "\(type(of: rootFilesystem))", 4: "\(type(of: cgroups))", 5: "\(type(of: layers))",
            6: "\(type(of: configuration))", 7: "\(type(of: privileges))", 10: "\(type(of: lifecycle))",
        ]
    }
}
