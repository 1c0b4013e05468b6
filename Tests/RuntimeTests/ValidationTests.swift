import Glibc
import Runtime
import Testing

/// Step 1, "check the request" and "check the rootfs": bad input is refused with the
/// flag's name and a fix (exit 125) before anything exists on the host.
@Suite struct ValidationTests {
    static let goodHostnames = [
        "box", "web-1", "a", "web-1.local", "0c93f01f158f", "A.B.C", String(repeating: "x", count: 64), "1-2-3",
    ]

    @Test("RFC 1123 hostnames are taken", arguments: goodHostnames)
    func goodHostname(_ name: String) {
        #expect(ContainerSpec.hostnameProblem(name) == nil)
    }

    /// Each bad hostname and a word its error must hold.
    static let badHostnames: [(String, String)] = [
        ("", "1 to 64 bytes, got 0"),
        (String(repeating: "x", count: 65), "1 to 64 bytes, got 65"),
        ("a\nb", "a newline"),
        ("a\tb", "a tab"),
        ("a\u{7f}b", "control character (U+007F)"),
        ("a\u{1b}[31mb", "control character (U+001B)"),
        ("a b", "a space"),
        ("a/b", "'/'"),
        ("-x", "cannot start with '-'"),
        ("--init", "did you leave out the name"),
        ("my_box", "use '-', as in my-box"),
        ("bôx", "not ASCII"),
        ("a\u{a0}b", "not ASCII"),
        (".box", "start or end with '.'"),
        ("box.", "start or end with '.'"),
        ("a..b", "'..'"),
        ("box-", "not '-'"),
        ("a.-b", "not '-'"),
        ("a:b", "':'"),
        ("ünï", "not ASCII"),
    ]

    @Test("bad hostnames are refused, and the error says the rule", arguments: badHostnames)
    func badHostname(_ name: String, _ words: String) {
        let problem = ContainerSpec.hostnameProblem(name) ?? "accepted"
        #expect(problem.contains(words), "\(name.debugDescription): \(problem)")
        var spec = ContainerSpec(command: ["true"])
        spec.hostname = name
        let error = #expect(throws: ContainerError.self) { try spec.validateRequest(stage: .complete) }
        #expect(error?.exitCode == 125)
        #expect(error?.reason.hasPrefix("--hostname ") == true)
        #expect(error?.reason.contains("\n") == false, "the value must be shown escaped, on one line")
    }

    @Test("a rootfs that is a symbolic link loop says so, not \"does not exist\"")
    func symlinkLoopRootfs() throws {
        let directory = try temporaryDirectory()
        defer {
            unlink(directory + "/loop")
            rmdir(directory)
        }
        #expect(symlink("loop", directory + "/loop") == 0)
        var spec = ContainerSpec(command: ["true"])
        spec.rootfs = directory + "/loop"
        let error = #expect(throws: ContainerError.self) { try spec.validate(stage: .complete) }
        #expect(error?.reason.contains("symbolic link loop") == true, "\(String(describing: error))")
        #expect(error?.reason.contains("does not exist") == false)
    }

    @Test("a missing rootfs and a file are told apart")
    func missingAndFileRootfs() throws {
        var spec = ContainerSpec(command: ["true"])
        spec.rootfs = "/no/such/rootfs"
        let missing = #expect(throws: ContainerError.self) { try spec.validate(stage: .complete) }
        #expect(missing?.reason.contains("does not exist") == true)
        spec.rootfs = "/etc/hostname"
        let file = #expect(throws: ContainerError.self) { try spec.validate(stage: .complete) }
        #expect(file?.reason.contains("is not a directory") == true)
    }

    @Test("no command says how to give one")
    func noCommand() {
        let error = #expect(throws: ContainerError.self) { try ContainerSpec(command: []).validateRequest(stage: .complete) }
        #expect(error?.reason.contains("no command given") == true)
    }

    private func temporaryDirectory() throws -> String {
        var template = Array("/tmp/spec-tests-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SpecTestError.mkdtemp }
        return String(cString: made)
    }

    enum SpecTestError: Error { case mkdtemp }
}
