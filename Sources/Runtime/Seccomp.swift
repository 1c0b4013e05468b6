import CLinux
import CSeccomp
import Glibc
import Syscalls

// Chapter 7 — seccomp: a filter on the system calls themselves.
//
// A seccomp filter is a small classic-BPF program the kernel runs on every system call
// the process (and its children, forever) makes: it sees the call's number, the
// architecture and the six arguments, and answers allow, fail with an errno, or kill.
// Capabilities decide what a permitted call may do; seccomp decides which calls may be
// made at all — it shrinks the kernel's attack surface (keyctl, bpf and
// open_by_handle_at have each been a way out of containers).
//
// Writing BPF by hand is error-prone, so we describe a profile (rules by syscall name,
// argument comparisons, as Docker's JSON does) and let libseccomp compile it. The
// compiled program is kept in /run/scratch/seccomp-cache by a hash of the profile, so
// the next container with the same profile loads it without libseccomp.

/// What a rule (or the profile's default) does with a call.
public enum SeccompAction: Sendable, Equatable {
    case allow
    case errno(Int32)
    case killThread
    case killProcess
    case trap
    case trace(Int32)
    case log

    var raw: UInt32 {
        switch self {
        case .allow: return 0x7fff_0000
        case .errno(let code): return 0x0005_0000 | (UInt32(truncatingIfNeeded: code) & 0xffff)
        case .killThread: return 0
        case .killProcess: return 0x8000_0000
        case .trap: return 0x0003_0000
        case .trace(let code): return 0x7ff0_0000 | (UInt32(truncatingIfNeeded: code) & 0xffff)
        case .log: return 0x7ffc_0000
        }
    }

    /// Docker's spelling, and the errnoRet beside it.
    var dockerName: (name: String, errnoRet: Int32?) {
        switch self {
        case .allow: return ("SCMP_ACT_ALLOW", nil)
        case .errno(let code): return ("SCMP_ACT_ERRNO", code)
        case .killThread: return ("SCMP_ACT_KILL", nil)
        case .killProcess: return ("SCMP_ACT_KILL_PROCESS", nil)
        case .trap: return ("SCMP_ACT_TRAP", nil)
        case .trace(let code): return ("SCMP_ACT_TRACE", code)
        case .log: return ("SCMP_ACT_LOG", nil)
        }
    }

    /// From Docker's name: SCMP_ACT_ERRNO with `errnoRet` (EPERM when there is none).
    static func named(_ name: String, errnoRet: Int32?) -> SeccompAction? {
        switch name {
        case "SCMP_ACT_ALLOW": return .allow
        case "SCMP_ACT_ERRNO": return .errno(errnoRet ?? EPERM)
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return .killThread
        case "SCMP_ACT_KILL_PROCESS": return .killProcess
        case "SCMP_ACT_TRAP": return .trap
        case "SCMP_ACT_TRACE": return .trace(errnoRet ?? EPERM)
        case "SCMP_ACT_LOG": return .log
        default: return nil
        }
    }

    static let knownNames = [
        "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
        "SCMP_ACT_TRACE", "SCMP_ACT_LOG",
    ]
}

/// One comparison of a call's argument, as libseccomp's `scmp_arg_cmp`.
public struct SeccompArgument: Sendable, Equatable {
    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64 = 0
    /// Docker's name: SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ, …
    public var op: String

    static let operators: [String: scmp_compare] = [
        "SCMP_CMP_NE": SCMP_CMP_NE, "SCMP_CMP_LT": SCMP_CMP_LT, "SCMP_CMP_LE": SCMP_CMP_LE, "SCMP_CMP_EQ": SCMP_CMP_EQ,
        "SCMP_CMP_GE": SCMP_CMP_GE, "SCMP_CMP_GT": SCMP_CMP_GT, "SCMP_CMP_MASKED_EQ": SCMP_CMP_MASKED_EQ,
    ]
}

/// One rule: these calls get this action (when the arguments match, and the
/// container's capabilities and architecture are as `includes`/`excludes` say).
public struct SeccompRule: Sendable, Equatable {
    public var names: [String]
    public var action: SeccompAction
    public var arguments: [SeccompArgument] = []
    /// Docker's includes/excludes: the rule applies only with all of `includeCapabilities`,
    /// and with none of `excludeCapabilities`; likewise architectures (Go's names: amd64).
    public var includeCapabilities: [Int] = []
    public var excludeCapabilities: [Int] = []
    public var includeArchitectures: [String] = []
    public var excludeArchitectures: [String] = []
    public var minimumKernel: (Int, Int)? = nil

    public static func == (lhs: SeccompRule, rhs: SeccompRule) -> Bool {
        lhs.names == rhs.names && lhs.action == rhs.action && lhs.arguments == rhs.arguments
            && lhs.includeCapabilities == rhs.includeCapabilities && lhs.excludeCapabilities == rhs.excludeCapabilities
            && lhs.includeArchitectures == rhs.includeArchitectures && lhs.excludeArchitectures == rhs.excludeArchitectures
            && lhs.minimumKernel?.0 == rhs.minimumKernel?.0 && lhs.minimumKernel?.1 == rhs.minimumKernel?.1
    }

    /// Whether the rule is in force for a container with `capabilities` on this machine.
    public func applies(capabilities: CapabilitySet) -> Bool {
        let arch = nativeGoArchitecture
        if !includeCapabilities.allSatisfy(capabilities.contains) { return false }
        if excludeCapabilities.contains(where: capabilities.contains) { return false }
        if !includeArchitectures.isEmpty && !includeArchitectures.contains(arch) { return false }
        if excludeArchitectures.contains(arch) { return false }
        if let (major, minor) = minimumKernel, let running = runningKernelVersion(), running < (major, minor) { return false }
        return true
    }
}

/// A whole profile: what happens to calls no rule names, which architectures the
/// filter covers, the rules.
public struct SeccompProfile: Sendable, Equatable {
    public var defaultAction: SeccompAction
    /// libseccomp's names (SCMP_ARCH_X86_64, …); empty: the native one only.
    public var architectures: [String] = []
    public var rules: [SeccompRule]
    /// Where it came from, for messages: "the default profile" or the file's path.
    public var source: String
}

/// How the container's calls are filtered.
public enum SeccompChoice: Sendable, Equatable {
    case defaultProfile
    case unconfined
    case profile(SeccompProfile)
}

/// A compiled filter: classic-BPF instructions (8 bytes each), ready for seccomp(2).
public struct SeccompFilter: Sendable {
    public var program: [UInt8]
    /// Its name in the cache: `scratch exec` loads the same filter from there.
    public var key: String
    public var instructionCount: Int { program.count / 8 }
}

// MARK: the default profile

/// Syscalls newer than the libseccomp this was built with may be named in a profile
/// (Docker's own names them); they are skipped, so the call gets the default action.
/// Any other name libseccomp does not know is a mistake in the profile.
let syscallsNewerThanLibseccomp: Set<String> = [
    "cachestat", "fchmodat2", "map_shadow_stack", "futex_wake", "futex_wait", "futex_requeue", "statmount", "listmount",
    "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules", "mseal", "setxattrat", "getxattrat", "listxattrat",
    "removexattrat", "open_tree_attr", "uretprobe", "set_mempolicy_home_node", "memfd_secret", "process_mrelease",
    "futex_waitv", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "quotactl_fd",
    "epoll_pwait2", "mount_setattr", "process_madvise", "faccessat2", "pidfd_getfd", "close_range", "openat2", "clone3",
]

/// What an ordinary program calls, after Docker's default profile: everything else
/// gets the default action.
let defaultAllowedSyscalls = """
    accept accept4 access adjtimex alarm arch_prctl bind brk cachestat capget capset chdir chmod chown chown32 chroot \
    clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep \
    clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 \
    epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit \
    exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 \
    fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat \
    fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait \
    futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid \
    getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom \
    getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt \
    get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 \
    inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get \
    ioprio_set io_setup io_submit io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule \
    landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr llistxattr \
    _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret \
    mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open \
    mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv \
    msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 \
    pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl \
    pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read \
    readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr \
    rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo \
    rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity \
    sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler \
    sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam \
    sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile \
    sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 \
    setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 \
    setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl \
    shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socket socketcall socketpair splice \
    stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time \
    timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 \
    timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate \
    truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 \
    waitid waitpid write writev
    """

/// Calls that reach the kernel's shared state: refused with EPERM ("you may not"),
/// unless the container was given the capability that would make them safe to ask.
let defaultRefusedSyscalls: [(capability: String?, names: String)] = [
    // Mounts and namespaces: a new mount or user namespace is where most container
    // escapes start (a new user namespace gives full capabilities inside it).
    (
        "SYS_ADMIN",
        "mount umount umount2 unshare setns pivot_root fsopen fsconfig fsmount fspick move_mount open_tree mount_setattr "
            + "quotactl quotactl_fd sethostname setdomainname lookup_dcookie fanotify_init clone3"
    ),
    // The kernel's keyring is not namespaced: a container could read the host's keys.
    (nil, "keyctl add_key request_key"),
    // bpf: loads programs into the kernel; perf_event_open reads other processes.
    ("BPF", "bpf"), ("PERFMON", "perf_event_open"),
    // Another process's memory.
    ("SYS_PTRACE", "ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd process_madvise"),
    // The machine itself.
    ("SYS_BOOT", "reboot kexec_load kexec_file_load"),
    ("SYS_MODULE", "init_module finit_module delete_module create_module query_module get_kernel_syms"),
    // Opens any file of a filesystem by its handle, outside the container's root: the
    // 2014 "shocker" breakout (it needs CAP_DAC_READ_SEARCH, which Docker drops too).
    ("DAC_READ_SEARCH", "open_by_handle_at"),
    ("SYS_ADMIN", "swapon swapoff"),
    ("SYS_PACCT", "acct"), ("SYS_RAWIO", "iopl ioperm"), ("SYSLOG", "syslog"),
    ("SYS_TIME", "settimeofday stime clock_settime clock_settime64"),
    ("SYS_TTY_CONFIG", "vhangup"), ("SYS_NICE", "get_mempolicy mbind set_mempolicy"),
    // Old or obsolete calls with a history of bugs.
    (nil, "userfaultfd uselib nfsservctl _sysctl sysfs ustat vm86 vm86old"),
]

/// The namespace flags of clone(2): CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
/// NEWPID, NEWNET.
let cloneNamespaceFlags: [UInt64] = [0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000]

/// The built-in profile, in the spirit of Docker's: an allowlist. Its default action is
/// ENOSYS, not Docker's EPERM: a call this profile has never heard of — one added to the
/// kernel after it was written, such as clone3 or faccessat2 were — then looks "not
/// implemented", and the C library falls back to the older call it knows (glibc tries
/// clone3, then clone). With EPERM it would give up: "permission denied" is final.
/// (Docker gets the same effect by patching runc's filter so that numbers above the
/// profile's highest known call return ENOSYS.) The calls we do know to be dangerous
/// are refused with EPERM, by name.
public func defaultSeccompProfile() -> SeccompProfile {
    var rules = [SeccompRule(names: defaultAllowedSyscalls.split(separator: " ").map(String.init), action: .allow)]
    // clone without namespace flags is fork and threads: allowed. With any of them it
    // makes namespaces, which is unshare by another name.
    let mask = cloneNamespaceFlags.reduce(0, |)
    rules.append(
        SeccompRule(
            names: ["clone"], action: .allow, arguments: [SeccompArgument(index: 0, value: mask, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ")],
            excludeCapabilities: [capabilityNumber("SYS_ADMIN") ?? 21]))
    for flag in cloneNamespaceFlags {
        rules.append(
            SeccompRule(
                names: ["clone"], action: .errno(EPERM),
                arguments: [SeccompArgument(index: 0, value: flag, valueTwo: flag, op: "SCMP_CMP_MASKED_EQ")],
                excludeCapabilities: [capabilityNumber("SYS_ADMIN") ?? 21]))
    }
    rules.append(SeccompRule(names: ["clone"], action: .allow, includeCapabilities: [capabilityNumber("SYS_ADMIN") ?? 21]))
    // personality(2) only for the values programs use (Linux, 32-bit emulation, query):
    // others switch on old kernel behaviours (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE).
    for value: UInt64 in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
        rules.append(
            SeccompRule(names: ["personality"], action: .allow, arguments: [SeccompArgument(index: 0, value: value, op: "SCMP_CMP_EQ")]))
    }
    for (capability, names) in defaultRefusedSyscalls {
        let list = names.split(separator: " ").map(String.init)
        if let capability, let number = capabilityNumber(capability) {
            rules.append(SeccompRule(names: list, action: .errno(EPERM), excludeCapabilities: [number]))
            rules.append(SeccompRule(names: list, action: .allow, includeCapabilities: [number]))
        } else {
            rules.append(SeccompRule(names: list, action: .errno(EPERM)))
        }
    }
    return SeccompProfile(defaultAction: .errno(ENOSYS), architectures: [], rules: rules, source: "the default profile")
}

// MARK: compiling

/// Compiles `profile` for a container with `capabilities` with `steps`' chapter 7
/// (`compileSeccompFilter`), or takes the program from the cache when the reference
/// compiled this very profile before. Runs in the parent, before anything is created:
/// a profile libseccomp refuses is bad input (exit 125).
///
/// Only the reference's programs are read from the cache: a learner's code changes
/// between runs, and a program it compiled wrong must never reach `scratch`. Its
/// programs are written under a key of their own bytes, so `scratch exec` finds them.
public func seccompFilter(
    for profile: SeccompProfile, capabilities: CapabilitySet, steps: Steps = .reference
) throws(ContainerError) -> SeccompFilter {
    let rules = profile.rules.filter { $0.applies(capabilities: capabilities) }
    let isReference = steps.privileges is Reference
    let key = isReference ? seccompCacheKey(profile, rules: rules) : ""
    if isReference, let program = try? readFile(seccompCacheDirectory + "/" + key + ".bpf"), !program.isEmpty, program.count % 8 == 0 {
        return SeccompFilter(program: program, key: key)
    }
    let program: [UInt8]
    do {
        program = try steps.privileges.compileSeccompFilter(profile, capabilities: capabilities)
    } catch let error as ContainerError {
        throw error
    } catch {
        throw ContainerError(step: "compile the seccomp filter", reason: "\(profile.source): \(error)")
    }
    guard !program.isEmpty, program.count % 8 == 0 else {
        throw ContainerError(
            step: "compile the seccomp filter", reason: "\(profile.source): the program is \(program.count) bytes, not whole 8-byte instructions")
    }
    let stored = isReference ? key : "program-" + fnv1a(program)
    // The cache is a speed-up only: a failure to write it costs the next run time.
    let cached = seccompCacheDirectory + "/" + stored + ".bpf"
    _ = try? makeDirectories(seccompCacheDirectory, mode: 0o700)
    let temporary = cached + ".new-\(getpid())"
    if (try? writeFile(temporary, program, mode: 0o600)) != nil, rename(temporary, cached) != 0 {
        _ = unlink(temporary)
    }
    return SeccompFilter(program: program, key: stored)
}

let seccompCacheDirectory = stateRoot + "/seccomp-cache"

/// FNV-1a, 64 bits, as 16 hex digits.
func fnv1a(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// A hash of everything the compiled program depends on: the rules that apply, the
/// default action, the architectures, the libseccomp version. FNV-1a, 64 bits.
func seccompCacheKey(_ profile: SeccompProfile, rules: [SeccompRule]) -> String {
    var text: [UInt8] = []
    func add(_ part: String) { text += Array(part.utf8) + [0xff] }
    if let version = seccomp_version() {
        add("libseccomp \(version.pointee.major).\(version.pointee.minor).\(version.pointee.micro)")
    }
    add("\(profile.defaultAction.raw)")
    for arch in profile.architectures { add(arch) }
    for rule in rules {
        add("rule \(rule.action.raw)")
        for name in rule.names { add(name) }
        for argument in rule.arguments { add("\(argument.index) \(argument.value) \(argument.valueTwo) \(argument.op)") }
    }
    return fnv1a(text)
}

extension Reference {
    /// Chapter 7: the filter for `profile`, through libseccomp (SeccompBuilder.swift).
    public func compileSeccompFilter(_ profile: SeccompProfile, capabilities: CapabilitySet) throws -> [UInt8] {
        let filter = try SeccompBuilder(defaultAction: profile.defaultAction, source: profile.source)
        for architecture in profile.architectures { try filter.addArchitecture(architecture) }
        // A rule is in force for some capabilities only (Docker's includes/excludes:
        // mount is allowed with CAP_SYS_ADMIN); one whose action is the default adds
        // nothing but instructions.
        for rule in profile.rules where rule.applies(capabilities: capabilities) && rule.action != profile.defaultAction {
            // Several comparisons of one argument in one rule would have to all hold,
            // which libseccomp refuses; Docker means "any of them": one rule each.
            let indices = rule.arguments.map(\.index)
            let groups = Set(indices).count < indices.count ? rule.arguments.map { [$0] } : [rule.arguments]
            for name in rule.names {
                for arguments in groups { try filter.addRule(rule.action, syscall: name, arguments: arguments) }
            }
        }
        return try filter.program()
    }
}

let seccompArchitectures: [String: UInt32] = [
    "SCMP_ARCH_X86_64": 0xC000_003E, "SCMP_ARCH_X86": 0x4000_0003, "SCMP_ARCH_X32": 0x4000_003E,
    "SCMP_ARCH_AARCH64": 0xC000_00B7, "SCMP_ARCH_ARM": 0x4000_0028,
]

/// Go's name for this machine, as Docker's profiles say it.
let nativeGoArchitecture: String = {
    var name = utsname()
    uname(&name)
    let machine = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    switch machine {
    case "x86_64": return "amd64"
    case "aarch64": return "arm64"
    case "i686", "i386": return "386"
    default: return machine
    }
}()

func runningKernelVersion() -> (Int, Int)? {
    var name = utsname()
    uname(&name)
    let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    return parts.count == 2 ? (parts[0], parts[1]) : nil
}

/// Chapter 10: the name of the copy `create` keeps in a container's OCI state directory.
let keptSeccompFilterName = "seccomp.bpf"

/// The filter a running container got, by its key, for `scratch exec`: the copy kept in
/// its state directory (`stateDirectory`, chapter 10's containers) or the cache's.
public func cachedSeccompFilter(key: String, stateDirectory: String? = nil) throws(ContainerError) -> SeccompFilter {
    if let stateDirectory, let program = try? readFile(stateDirectory + "/" + keptSeccompFilterName), !program.isEmpty,
        program.count % 8 == 0
    {
        return SeccompFilter(program: program, key: key)
    }
    let path = seccompCacheDirectory + "/" + key + ".bpf"
    guard let program = try? readFile(path), !program.isEmpty, program.count % 8 == 0 else {
        throw ContainerError(
            step: "load the container's seccomp filter",
            reason: "\(path) is gone or damaged: the process would run unfiltered, so it is not started — restart the container")
    }
    return SeccompFilter(program: program, key: key)
}

// MARK: the child's step

/// seccomp(SECCOMP_SET_MODE_FILTER) with the compiled program. The kernel accepts it
/// only with no_new_privs set or CAP_SYS_ADMIN: otherwise a filter could fool a setuid
/// program into failing a call it thinks cannot fail.
public func loadSeccompFilter(_ filter: SeccompFilter) throws(SyscallError) {
    let result = filter.program.withUnsafeBytes { cl_seccomp_load($0.baseAddress, UInt16(filter.instructionCount)) }
    if result == -1 {
        throw SyscallError(
            "seccomp(SECCOMP_SET_MODE_FILTER)", errno: errno,
            hint: errno == EACCES ? "a filter needs no_new_privs or CAP_SYS_ADMIN: load it before the capabilities go" : nil)
    }
}
