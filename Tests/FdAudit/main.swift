import Glibc
import Runtime
import Syscalls

// fd-audit: starts containers that fail at every step of the story, in this one
// single-threaded process (clone from a threaded test runner could deadlock the
// child), and prints the descriptors open before and after each. The test
// (Tests/ChapterTests/DescriptorTests.swift) reads the lines and wants them equal.
//
// Usage: fd-audit ROOTFS
//        fd-audit hang ROOTFS   a start whose /proc step never returns (to interrupt)

/// Steps whose chapter 4 fails where the case says, the reference elsewhere.
struct FailingCgroups: CgroupSteps {
    let failAt: String
    func cgroupFiles(for limits: ResourceLimits, mode: CgroupMode) throws -> [CgroupFile] {
        if failAt == "cgroupFiles" { throw NotDoneYet(chapter: 4, file: "fd-audit") }
        return Reference().cgroupFiles(for: limits, mode: mode)
    }
    func makeCgroup(_ groups: [String], mode: CgroupMode, controllers: [String]) throws {
        if failAt == "makeCgroup" { throw NotDoneYet(chapter: 4, file: "fd-audit") }
        try Reference().makeCgroup(groups, mode: mode, controllers: controllers)
    }
    func joinCgroup(_ directories: [String], pid: pid_t) throws {
        if failAt == "joinCgroup" { throw NotDoneYet(chapter: 4, file: "fd-audit") }
        try Reference().joinCgroup(directories, pid: pid)
    }
    func removeCgroup(_ groups: [String]) throws { try Reference().removeCgroup(groups) }
}

struct FailingRoot: RootFilesystemSteps {
    func pivotToRootfs(_ rootfs: String) throws { throw NotDoneYet(chapter: 3, file: "fd-audit") }
    func mountProc() throws {}
}

/// A chapter 3 whose /proc step hangs: what an interrupt must be able to stop.
struct HangingRoot: RootFilesystemSteps {
    func pivotToRootfs(_ rootfs: String) throws { try Reference().pivotToRootfs(rootfs) }
    func mountProc() throws { while true { sleep(1) } }
}

let arguments = CommandLine.arguments
guard arguments.count == 2 || (arguments.count == 3 && arguments[1] == "hang") else {
    writeToStandardError("usage: fd-audit ROOTFS | fd-audit hang ROOTFS\n")
    exit(2)
}
let rootfs = arguments[arguments.count - 1]

func spec(_ command: [String], memory: UInt64? = 64 << 20) -> ContainerSpec {
    var spec = ContainerSpec(command: command)
    spec.rootfs = rootfs
    spec.limits = ResourceLimits(memoryBytes: memory)
    return spec
}

if arguments[1] == "hang" {
    var steps = Steps.reference
    steps.rootFilesystem = HangingRoot()
    let hanging = spec(["true"])
    writeToStandardError("id \(hanging.id)\n")
    exit(runContainer(hanging, stage: .complete, steps: steps))
}

var cases: [(String, ContainerSpec, Steps, Int32)] = []
var reference = Steps.reference
cases.append(("runs", spec(["true"]), reference, 0))
cases.append(("bad request", spec([""]), reference, 125))
cases.append(("command not found", spec(["/no/such/program"]), reference, 127))
for failAt in ["cgroupFiles", "makeCgroup", "joinCgroup"] {
    var steps = reference
    steps.cgroups = FailingCgroups(failAt: failAt)
    cases.append(("\(failAt) throws", spec(["true"]), steps, 125))
}
var pivotFails = reference
pivotFails.rootFilesystem = FailingRoot()
cases.append(("pivot throws", spec(["true"]), pivotFails, 125))

var failed = false
for (name, spec, steps, expected) in cases {
    let before = openDescriptors()
    let code = runContainer(spec, stage: .complete, steps: steps)
    let after = openDescriptors()
    print("case \(name): exit \(code) (expected \(expected)); before \(before); after \(after)")
    if code != expected || before != after { failed = true }
}
// An interrupt pending before the start: the start stops, and leaves nothing open.
let before = openDescriptors()
try? blockSignals(SignalSet([SIGTERM]))
raise(SIGTERM)
let code = runContainer(spec(["true"]), stage: .complete)
let after = openDescriptors()
print("case interrupted: exit \(code) (expected 143); before \(before); after \(after)")
if code != 143 || before != after { failed = true }
print(failed ? "fd-audit: FAILED" : "fd-audit: ok")
exit(failed ? 1 : 0)
