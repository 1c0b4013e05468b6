import Foundation
import Glibc

// Chapter 2 — the PID namespace: the command is PID 1, or runs under our init.

let chapter2Checks: [Check] = [
    Check(
        "pid-1", chapter: 2, "the command is PID 1 in its namespace",
        hints: [
            "The first process in a new PID namespace is its PID 1: the clone flags must ask for one.",
            "processTreeNamespace() returns .newPID.",
        ]
    ) { context in
        let result = context.run(["sh", "-c", "echo $$"])
        return expect(result.status == 0 && result.stdout.trimmed == "1", "echo $$ to print 1", saw: describe(result))
    },

    Check(
        "pid-namespace", chapter: 2, "the container's PID namespace is not the host's",
        hints: [
            "Compare /proc/PID/ns/pid of the container's process with the host's.",
            "processTreeNamespace() returns .newPID.",
        ]
    ) { context in
        let host = HostView.namespace("pid", of: "self") ?? "?"
        let running = context.start(["sleep", "5"])
        let pid = running.containerPID()
        let container = pid.flatMap { HostView.namespace("pid", of: String($0)) }
        // Kill the container, not the runtime: a runtime killed with SIGKILL never
        // reaches its cleanup (from chapter 4 on, the cgroup would stay behind).
        if let pid { kill(pid, SIGKILL) } else { running.signal(SIGKILL) }
        let result = running.wait(timeout: 5)
        return expect(
            container != nil && container != host,
            "the container's pid namespace to differ from the host's \(host)",
            saw: container ?? "no container process (\(describe(result)))")
    },

    Check(
        "init-exit-status", chapter: 2, "with --init the command runs as PID 2 and its exit status passes through",
        hints: [
            "With --init our init is PID 1 and forks the command. When the command is reaped, runInit returns its exit code.",
            "In runInit, reap with reapAnyChild() in a loop; when the pid reaped is `command`, return exitCode(for: status).",
        ]
    ) { context in
        let result = context.run(["sh", "-c", "echo $$; exit 5"], options: ["--init"])
        return expect(
            result.status == 5 && result.stdout.trimmed == "2",
            "the command to print 2 (its pid under init) and exit 5", saw: describe(result))
    },

    Check(
        "init-reaps-orphans", chapter: 2, "with --init an orphaned grandchild is reaped (no zombie left)",
        hints: [
            "An orphan is re-parented to PID 1. When it ends it stays a zombie until PID 1 waits for it.",
            "runInit must reap every child that ended — waitpid(-1) via reapAnyChild() until nil — not only the command.",
            "Wake up on SIGCHLD: waitForSignal(signals) returns it whenever a child ended; then reap again.",
        ]
    ) { context in
        // The subshell starts `sleep 0.2` in the background and exits at once: sleep is
        // orphaned and handed to PID 1. The command itself lives on for 3 s.
        let running = context.start(["sh", "-c", "(sleep 0.2 &); echo started; sleep 3"], options: ["--init"])
        guard running.waitForOutput("started"), let initPID = running.containerPID(afterExec: false),
            let namespace = HostView.namespace("pid", of: String(initPID))
        else {
            return .failed(expected: "the container to start", saw: describe(running.wait(timeout: 5)))
        }
        // Give the orphan time to end, then look for zombies for a while.
        usleep(800_000)
        var zombies: [HostView.ProcessInfo] = []
        for _ in 0..<10 {
            zombies = HostView.processes(inPIDNamespace: namespace).filter { $0.state == "Z" }
            if zombies.isEmpty { break }
            usleep(100_000)
        }
        running.signal(SIGTERM)
        _ = running.wait(timeout: 10)
        return expect(
            zombies.isEmpty, "no zombie in the container",
            saw: zombies.map { "zombie \($0.command) (pid \($0.pid), parent \($0.parent))" }.joined(separator: ", "))
    },

    Check(
        "init-forwards-sigterm", chapter: 2, "with --init a SIGTERM sent to the runtime reaches the command",
        hints: [
            "The runtime forwards SIGTERM to PID 1, our init; init must pass it on to the command.",
            "In runInit: a signal other than SIGCHLD from waitForSignal goes to the command with sendSignal(signal, to: command).",
        ]
    ) { context in
        let script = "trap 'echo got-TERM; exit 7' TERM; echo ready; while true; do sleep 0.05; done"
        let running = context.start(["sh", "-c", script], options: ["--init"])
        guard running.waitForOutput("ready") else {
            return .failed(expected: "the command to print ready", saw: describe(running.wait(timeout: 5)))
        }
        running.signal(SIGTERM)
        let result = running.wait(timeout: 10)
        return expect(
            result.status == 7 && result.stdout.contains("got-TERM"),
            "the command's trap to run (prints got-TERM, exits 7)", saw: describe(result))
    },

    Check(
        "no-process-left", chapter: 2, "no process of the container outlives it",
        hints: [
            "When PID 1 of a PID namespace exits, the kernel kills every other process in it: this holds once the container has its own PID namespace."
        ]
    ) { context in
        let running = context.start(["sh", "-c", "sleep 30 & echo started; sleep 0.3"])
        guard running.waitForOutput("started"), let pid = running.containerPID(afterExec: false),
            let namespace = HostView.namespace("pid", of: String(pid))
        else {
            return .failed(expected: "the container to start", saw: describe(running.wait(timeout: 5)))
        }
        let result = running.wait(timeout: 10)
        usleep(100_000)
        let host = HostView.namespace("pid", of: "self")
        let left = namespace == host ? [] : HostView.processes(inPIDNamespace: namespace)
        for process in left { kill(process.pid, SIGKILL) }
        return all(
            expect(namespace != host, "the container to have its own PID namespace", saw: "the host's \(namespace)"),
            expect(
                left.isEmpty, "no process left in the container's PID namespace after exit (\(describe(result)))",
                saw: left.map { "\($0.command) (pid \($0.pid))" }.joined(separator: ", ")))
    },
]
