import Glibc
@testable import Runtime
import Syscalls
import Testing

@Suite struct ExitStatusTests {
    @Test(
        "own status passes through; signal N becomes 128+N",
        arguments: [
            (WaitStatus.exited(0), Int32(0)), (.exited(3), 3), (.exited(255), 255),
            (.signaled(SIGKILL), 137), (.signaled(SIGTERM), 143), (.signaled(SIGINT), 130),
        ])
    func exitCodes(status: WaitStatus, code: Int32) {
        #expect(Reference().exitCode(for: status) == code)
    }

    @Test func execFailures() {
        #expect(Reference().execFailureExitCode(errno: ENOENT) == 127)
        #expect(Reference().execFailureExitCode(errno: ENOTDIR) == 127)
        #expect(Reference().execFailureExitCode(errno: EACCES) == 126)
        #expect(Reference().execFailureExitCode(errno: ENOEXEC) == 126)
    }

    @Test func execFailureMessagesSayWhatToDo() {
        #expect("\(ExecFailure(command: "nope", errno: ENOENT))" == "exec nope: executable file not found in $PATH")
        #expect("\(ExecFailure(command: "/bin/nope", errno: ENOENT))" == "exec /bin/nope: no such file or directory")
        #expect("\(ExecFailure(command: "/etc/passwd", errno: EACCES))".contains("execute bit"))
    }

    @Test func syscallErrorsNameTheCallThePathAndErrnoInWords() {
        let error = SyscallError("pivot_root", path: "/x, /x/.oldroot", errno: EINVAL, hint: "make it a mount point")
        #expect("\(error)" == "pivot_root(/x, /x/.oldroot): Invalid argument — make it a mount point")
        #expect("\(SyscallError("mkdir", path: "/a", errno: ENOENT))" == "mkdir(/a): No such file or directory")
    }

    @Test func containerErrorsNameTheStep() {
        let error = ContainerError(
            step: "set the hostname",
            reason: "\(NotDoneYet(chapter: 1, file: "exercises/01-uts/Hostname.swift", function: "setContainerHostname(_:)"))")
        #expect("\(error)" == "set the hostname: chapter 1: not done yet — see exercises/01-uts/Hostname.swift, setContainerHostname(_:)")
        #expect(error.exitCode == 125)
    }
}

@Suite struct ContainerSpecTests {
    func validate(_ configure: (inout ContainerSpec) -> Void, stage: Stage = Stage(chapter: 2)) -> String? {
        var spec = ContainerSpec(command: ["true"])
        configure(&spec)
        do {
            try spec.validate(stage: stage)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aPlainSpecIsValid() {
        #expect(validate { _ in } == nil)
    }

    @Test func aCommandIsRequired() {
        #expect(validate { $0.command = [] }?.contains("no command given") == true)
        #expect(validate { $0.command = [""] }?.contains("no command given") == true)
    }

    @Test(
        "hostnames are 1 to 64 bytes",
        arguments: [
            ("", false), ("a", true), (String(repeating: "h", count: 64), true),
            (String(repeating: "h", count: 65), false), ("a b", false),
        ])
    func hostnames(name: String, valid: Bool) {
        let error = validate { $0.hostname = name }
        #expect((error == nil) == valid, "\(error ?? "")")
    }

    @Test func theRootfsIsCheckedFromChapter3On() {
        #expect(validate({ $0.rootfs = "/no/such" }, stage: Stage(chapter: 2)) == nil)
        #expect(validate({ $0.rootfs = "/no/such" }, stage: Stage(chapter: 3))?.contains("does not exist") == true)
        #expect(validate({ $0.rootfs = "/etc/hostname" }, stage: Stage(chapter: 3))?.contains("not a directory") == true)
        #expect(validate({ $0.rootfs = "/" }, stage: Stage(chapter: 3))?.contains("host's own /") == true)
        #expect(validate({ $0.rootfs = nil }, stage: Stage(chapter: 3))?.contains("no rootfs") == true)
    }

    @Test func idsAreTwelveHexDigits() {
        let id = ContainerSpec.newID()
        #expect(id.count == 12 && id.allSatisfy(\.isHexDigit))
        #expect(ContainerSpec(command: ["x"], id: "abc").effectiveHostname == "abc")
    }

    @Test func staticBinariesAreTold() {
        #expect(isStaticallyLinked("/bin/busybox") == true, "busybox-static is needed for this test")
        #expect(isStaticallyLinked("/bin/ls") == false)
        #expect(isStaticallyLinked("/etc/hostname") == false)
    }

    @Test func parentDirectories() {
        #expect(parentDirectory(of: "/a/b/c") == "/a/b")
        #expect(parentDirectory(of: "/a") == "/")
        #expect(parentDirectory(of: "a") == ".")
    }
}
