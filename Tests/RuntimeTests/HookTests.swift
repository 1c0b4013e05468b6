import Glibc
@testable import Runtime
import Testing

/// Chapter 10's hooks, in this process: what writing the state to a hook must survive.
@Suite struct HookTests {
    /// A hook that reads nothing and exits: writing the state then meets a pipe with
    /// no reader. A state larger than a pipe holds (64 KiB) makes the write wait for
    /// the hook's exit, so the broken pipe comes every time, not by a race. Before the
    /// fix, SIGPIPE's default action ended the runtime (this test process) there.
    @Test("a hook that exits without reading its standard input does not end the runtime")
    func hookThatReadsNothing() throws {
        // SIGPIPE's default action, as `scratch start` has it (a test runner may ignore it).
        let runner = signal(SIGPIPE, SIG_DFL)
        defer { signal(SIGPIPE, runner) }
        let state = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        try runHook(OCIHook(path: "/bin/true"), input: state)
        // And the runtime's own action is back afterwards.
        let after = signal(SIGPIPE, SIG_DFL)
        #expect(after == nil, "SIGPIPE left ignored")
    }

    @Test("a failing hook is an error that names it")
    func failingHook() {
        #expect(throws: ContainerError.self) { try runHook(OCIHook(path: "/bin/false"), input: []) }
    }
}
