import Foundation
import Glibc

// Chapter 0 — a container is a process: its exit status reaches the user, as Docker
// reports it, and signals sent to the runtime reach the command.
//
// Hints come in layers: a nudge, then where to look, then the idea. A failure's
// "saw" names the mistake when the output shows which one it is.

let chapter0Checks: [Check] = [
    exitStatusCheck(0), exitStatusCheck(3), exitStatusCheck(255),

    Check(
        "killed-by-signal", chapter: 0, "a container killed by SIGKILL exits 137 (128+9)",
        hints: [
            "A process killed by a signal never chose an exit code. What number do shells and Docker show for it?",
            "exitCode(for:), the .signaled(signal) case.",
            "128 + the signal's number: ExitCode.signalBase + signal. SIGKILL is 9, so 137.",
        ]
    ) { context in
        let running = context.start(["sleep", "30"])
        guard let container = running.containerPID() else {
            let result = running.wait(timeout: 5)
            return .failed(expected: "the container to start", saw: describe(result))
        }
        kill(container, SIGKILL)
        let result = running.wait(timeout: 10)
        var saw = describe(result)
        switch result.status {
        case SIGKILL: saw += " — 9 is SIGKILL's own number: the 128 that marks \"killed by a signal\" is missing"
        case 128: saw += " — 128 alone: the signal's number (9) was not added"
        case 0, 1: saw += " — a kill is not a normal exit: report 128 + the signal's number"
        default: break
        }
        return expect(result.status == 137, "exit status 137 (128 + SIGKILL's 9)", saw: saw)
    },

    Check(
        "not-found", chapter: 0, "a command that does not exist exits 127",
        hints: [
            "execve(2) refuses a missing program with an errno. Is it always the same errno? Try a path that goes through a file.",
            "execFailureExitCode(errno:): which errnos mean \"not found\"?",
            "ENOENT (no such file) and ENOTDIR (a part of the path is a file, as in /etc/passwd/x) are both \"not found\": ExitCode.notFound, 127.",
        ]
    ) { context in
        let byName = context.run(["no-such-command-\(getpid())"])
        let byPath = context.run(["/no/such/program"])
        let throughFile = context.run([context.inside("/etc/passwd") + "/x"])
        func saw(_ result: RunResult, _ errno: String) -> String {
            describe(result) + (result.status == 126 ? " — execve said \(errno), and 126 means \"cannot execute\"; not found is 127" : "")
        }
        return all(
            expect(byName.status == 127, "exit 127 for a name not found in PATH", saw: saw(byName, "ENOENT")),
            expect(byPath.status == 127, "exit 127 for a path that does not exist", saw: saw(byPath, "ENOENT")),
            expect(
                throughFile.status == 127, "exit 127 for /etc/passwd/x, a path through a file",
                saw: saw(throughFile, "ENOTDIR (a path through a file)")))
    },

    Check(
        "not-executable", chapter: 0, "a file without execute permission exits 126",
        hints: [
            "The file is there, but execve(2) still refuses it. Not found, or found and unusable?",
            "execFailureExitCode(errno:): everything that is not \"not found\".",
            "EACCES (no execute permission) and ENOEXEC (no program format the kernel knows) — every errno but ENOENT and ENOTDIR — map to ExitCode.cannotExecute, 126.",
        ]
    ) { context in
        let result = context.run([context.inside("/etc/not-executable")])
        let noProgram = context.run([context.inside("/etc/not-a-program")])
        return all(
            expect(
                result.status == 126, "exit 126 for a file without execute permission (EACCES)",
                saw: describe(result) + (result.status == 127 ? " — the file is there: 127 is for a missing one" : "")),
            expect(
                noProgram.status == 126, "exit 126 for an executable file that is no program (ENOEXEC)",
                saw: describe(noProgram)
                    + (noProgram.status == 127 ? " — execve said ENOEXEC for a file that is there: not only EACCES means cannot execute" : "")))
    },

    Check(
        "forwards-sigterm", chapter: 0, "SIGTERM sent to the runtime reaches the command",
        hints: [
            "A signal sent to the runtime is for the container. Who passes it on?",
            "The runtime blocks the forwarded signals and takes them with sigwaitinfo in waitForwardingSignals; the child must unblock them before execve.",
            "Anything but SIGCHLD goes to the container with kill(); a command started with SIGTERM blocked never sees it.",
        ]
    ) { context in
        let script = "trap 'echo got-TERM; exit 7' TERM; echo ready; while true; do sleep 0.05; done"
        let running = context.start(["sh", "-c", script])
        guard running.waitForOutput("ready") else {
            return .failed(expected: "the command to print ready", saw: describe(running.wait(timeout: 5)))
        }
        running.signal(SIGTERM)
        let result = running.wait(timeout: 3)
        return expect(
            result.status == 7 && result.stdout.contains("got-TERM"),
            "the command's trap to run (prints got-TERM, exits 7)",
            saw: result.timedOut ? "the command never saw SIGTERM within 3 s (\(describe(result)))" : describe(result))
    },
]

func exitStatusCheck(_ code: Int32) -> Check {
    Check(
        "exit-\(code)", chapter: 0, "exit status \(code) passes through",
        hints: [
            "The runtime waits for its child. What the child returned must become the runtime's own exit status.",
            "exitCode(for:), the .exited(code) case.",
            "`case .exited(let code): return code` — the code as it is, 0 to 255.",
        ]
    ) { context in
        let result = context.run(["sh", "-c", "exit \(code)"])
        var saw = describe(result)
        if code != 0 && result.status == 0 { saw += " — the command's own code \(code) became 0" }
        return expect(result.status == code, "exit status \(code)", saw: saw)
    }
}
