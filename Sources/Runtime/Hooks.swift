import Glibc
import Syscalls

// Chapter 10 — hooks (runtime-spec, config.md "POSIX-platform Hooks"): programs the
// tool above asks the runtime to run at points of the lifecycle, each given the
// container's state JSON on its standard input. Podman's network setup once ran this
// way (prestart), and NVIDIA's container toolkit still does (createRuntime).
//
//   prestart, createRuntime   `create`, in the runtime's namespaces, after the clone,
//                             before the container's setup (the container's
//                             namespaces exist: a hook can plug a network into them)
//   createContainer           `create`, in the container's mount namespace, its mounts
//                             made, before the pivot
//   startContainer            `start`, in the container, just before the exec
//   poststart                 `start`, in the runtime's namespaces, after the exec
//   poststop                  `delete`, in the runtime's namespaces
//
// A hook that fails (or outlives its `timeout`) fails its operation, but for
// poststart and poststop: there the spec asks for a warning, and the remaining hooks
// and the lifecycle go on as if it had succeeded (runtime.md, lifecycle steps 9, 12).

public struct OCIHook: Sendable, Equatable {
    public var path: String
    /// argv, argv[0] included (the spec's `args`); empty means [path].
    public var args: [String]
    public var env: [String]
    /// Seconds; nil waits for as long as it takes.
    public var timeout: Int?

    public init(path: String, args: [String] = [], env: [String] = [], timeout: Int? = nil) {
        self.path = path
        self.args = args
        self.env = env
        self.timeout = timeout
    }

    /// One record value: path, timeout, then args and env, separated by control
    /// characters no path or argument of a config holds.
    func encoded() -> String {
        ([path, timeout.map(String.init) ?? ""] + args + ["\u{1E}"] + env).joined(separator: "\u{1F}")
    }

    static func decoded(_ text: String) -> OCIHook? {
        let fields = text.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
        guard fields.count >= 3, let separator = fields.firstIndex(of: "\u{1E}") else { return nil }
        return OCIHook(
            path: fields[0], args: Array(fields[2..<separator]), env: Array(fields[(separator + 1)...]), timeout: Int(fields[1]))
    }
}

public struct OCIHooks: Sendable, Equatable {
    public var prestart: [OCIHook] = []
    public var createRuntime: [OCIHook] = []
    public var createContainer: [OCIHook] = []
    public var startContainer: [OCIHook] = []
    public var poststart: [OCIHook] = []
    public var poststop: [OCIHook] = []

    public init() {}

    var all: [(String, OCIHook)] {
        prestart.map { ("prestart", $0) } + createRuntime.map { ("createRuntime", $0) }
            + createContainer.map { ("createContainer", $0) } + startContainer.map { ("startContainer", $0) }
            + poststart.map { ("poststart", $0) } + poststop.map { ("poststop", $0) }
    }

    mutating func append(_ hook: OCIHook, to kind: String) {
        switch kind {
        case "prestart": prestart.append(hook)
        case "createRuntime": createRuntime.append(hook)
        case "createContainer": createContainer.append(hook)
        case "startContainer": startContainer.append(hook)
        case "poststart": poststart.append(hook)
        case "poststop": poststop.append(hook)
        default: break
        }
    }
}

/// Runs `hooks` one after another, each with the state JSON on its standard input.
/// The status in it is the state machine's answer (chapter 10's `status`) for the
/// moment: `recorded` as `create` wrote it, `alive` and `execFifoExists` as they are
/// at that point of the lifecycle. With `warnOnly` (poststart, poststop) a failing
/// hook is a warning on standard error and the next one runs.
func runHooks(
    _ hooks: [OCIHook], kind: String, record: OCIRecord, recorded: ContainerStatus, alive: Bool, execFifoExists: Bool, steps: Steps,
    warnOnly: Bool = false
) throws(ContainerError) {
    guard !hooks.isEmpty else { return }
    let status: ContainerStatus
    do {
        status = try step("tell the container's status for hooks.\(kind)") {
            try steps.lifecycle.status(recorded: recorded, alive: alive, execFifoExists: execFifoExists)
        }
    } catch {
        guard warnOnly else { throw error }
        writeToStandardError("scratch: warning: hooks.\(kind) not run: \(error)\n")
        return
    }
    let state = Array(ociStateJSON(record, status: status).utf8)
    for (index, hook) in hooks.enumerated() {
        do {
            try runHook(hook, input: state)
        } catch {
            let failure = ContainerError(step: "run hooks.\(kind)[\(index)] (\(hook.path))", reason: "\(error)")
            guard warnOnly else { throw failure }
            writeToStandardError("scratch: warning: \(failure)\n")
        }
    }
}

/// posix_spawn of one hook, its input written, waited for within its timeout.
func runHook(_ hook: OCIHook, input: [UInt8]) throws {
    let stdin = try Pipe()
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, stdin.readEnd.raw, 0)
    // The hook starts as a fresh process would: no signal blocked (the runtime blocks
    // the ones it forwards), every action the default.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var defaults = sigset_t()
    sigfillset(&defaults)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let argv = hook.args.isEmpty ? [hook.path] : hook.args
    let result = withCStringArray(argv) { argv in
        withCStringArray(hook.env) { envp in posix_spawn(&pid, hook.path, &actions, &attributes, argv, envp) }
    }
    stdin.readEnd.close()
    if result != 0 { throw SyscallError("posix_spawn", path: hook.path, errno: result) }
    // A hook that reads nothing may exit before the state is written: the write
    // then raises SIGPIPE, whose default action would end the runtime in the middle
    // of `start` (runtime-tools' poststart program met it). Ignored for the write, so
    // it is EPIPE, which is no failure of ours; the hook itself started with every
    // signal's default (POSIX_SPAWN_SETSIGDEF above).
    let previous = signal(SIGPIPE, SIG_IGN)
    try? stdin.writeEnd.writeAll(input)
    stdin.writeEnd.close()
    signal(SIGPIPE, previous)
    var waited = 0
    while true {
        if let (_, status) = try waitpid(pid, noHang: true) {
            switch status {
            case .exited(0): return
            case .exited(let code): throw ContainerError(step: "run the hook", reason: "it exited with status \(code)")
            case .signaled(let signal): throw ContainerError(step: "run the hook", reason: "it was killed by \(signalName(signal))")
            }
        }
        if let timeout = hook.timeout, waited >= timeout * 1000 {
            try? sendSignal(SIGKILL, to: pid)
            _ = try? waitpid(pid)
            throw ContainerError(step: "run the hook", reason: "it ran past its timeout of \(timeout) s and was killed")
        }
        usleep(2_000)
        waited += 2
    }
}

/// argv-style C strings for the duration of `body`.
func withCStringArray(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Int32) -> Int32 {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { buffer in
        guard let base = buffer.baseAddress else { return -1 }
        return body(base)
    }
}
