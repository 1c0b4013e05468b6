import Glibc

// Chapter 0 — a container is a process: its exit status reaches the user, as Docker
// reports it, and signals sent to the runtime reach the command.

let chapter0Checks: [Check] = [
    exitStatusCheck(0), exitStatusCheck(3), exitStatusCheck(255),

    Check(
        "killed-by-signal", chapter: 0, "a container killed by SIGKILL exits 137 (128+9)",
        hints: [
            "A process killed by a signal has no exit code: WaitStatus is .signaled(9). Report 128 + the signal's number.",
            "ExitCode.signalBase is 128; SIGKILL is 9, so the answer is 137.",
        ]
    ) { context in
        let running = context.start(["sleep", "30"])
        guard let container = running.containerPID() else {
            let result = running.wait(timeout: 5)
            return .failed(expected: "the container to start", saw: describe(result))
        }
        kill(container, SIGKILL)
        let result = running.wait(timeout: 10)
        return expect(result.status == 137, "exit status 137", saw: describe(result))
    },

    Check(
        "not-found", chapter: 0, "a command that does not exist exits 127",
        hints: [
            "execve fails with ENOENT when there is no such file: that is 'not found', 127.",
            "Map ENOENT (and ENOTDIR) to ExitCode.notFound in execFailureExitCode(errno:).",
        ]
    ) { context in
        let byName = context.run(["no-such-command-\(getpid())"])
        let byPath = context.run(["/no/such/program"])
        return all(
            expect(byName.status == 127, "exit 127 for a name not found in PATH", saw: describe(byName)),
            expect(byPath.status == 127, "exit 127 for a path that does not exist", saw: describe(byPath)))
    },

    Check(
        "not-executable", chapter: 0, "a file without execute permission exits 126",
        hints: [
            "execve fails with EACCES for a file that is there but may not be executed: 126, 'cannot execute'.",
            "Everything that is not ENOENT or ENOTDIR maps to ExitCode.cannotExecute.",
        ]
    ) { context in
        let result = context.run([context.inside("/etc/not-executable")])
        return expect(result.status == 126, "exit 126", saw: describe(result))
    },

    Check(
        "forwards-sigterm", chapter: 0, "SIGTERM sent to the runtime reaches the command",
        hints: [
            "The runtime blocks the forwarded signals and takes them with sigwaitinfo; anything but SIGCHLD goes to the container with kill().",
            "Is the runtime waiting in waitForwardingSignals? Did the child unblock its signals before execve? A command started with SIGTERM blocked never sees it.",
        ]
    ) { context in
        let script = "trap 'echo got-TERM; exit 7' TERM; echo ready; while true; do sleep 0.05; done"
        let running = context.start(["sh", "-c", script])
        guard running.waitForOutput("ready") else {
            return .failed(expected: "the command to print ready", saw: describe(running.wait(timeout: 5)))
        }
        running.signal(SIGTERM)
        let result = running.wait(timeout: 10)
        return expect(
            result.status == 7 && result.stdout.contains("got-TERM"),
            "the command's trap to run (prints got-TERM, exits 7)", saw: describe(result))
    },
]

func exitStatusCheck(_ code: Int32) -> Check {
    Check(
        "exit-\(code)", chapter: 0, "exit status \(code) passes through",
        hints: [
            "The runtime waits for the child; WaitStatus.exited(code) must become the runtime's own exit code.",
            "In exitCode(for:), `case .exited(let code): return code`.",
        ]
    ) { context in
        let result = context.run(["sh", "-c", "exit \(code)"])
        return expect(result.status == code, "exit status \(code)", saw: describe(result))
    }
}
