import Foundation
import Glibc

// Chapter 2 — the PID namespace: the command is PID 1, or runs under our init.
//
// Every run with --init is watched: an init that outlives its command is killed
// within seconds and named ("your init never returned after the command exited").

let chapter2Checks: [Check] = [
    Check(
        "pid-1", chapter: 2, "the command is PID 1 in its namespace",
        hints: [
            "The first process in a new PID namespace is its PID 1. Did the child get a PID namespace?",
            "processTreeNamespace(): the clone flags for the process tree.",
            "Return .newPID (CLONE_NEWPID).",
        ]
    ) { context in
        let result = context.run(["sh", "-c", "echo $$"])
        var saw = describe(result)
        if result.status == 0, let pid = Int(result.stdout.trimmed), pid != 1 {
            saw += " — a host pid: the command is in the runtime's PID namespace"
        }
        return expect(result.status == 0 && result.stdout.trimmed == "1", "echo $$ to print 1", saw: saw)
    },

    Check(
        "pid-namespace", chapter: 2, "the container's PID namespace is not the host's",
        hints: [
            "Compare /proc/PID/ns/pid of the container's process with its runtime's.",
            "processTreeNamespace(): the clone flags for the process tree.",
            "Return .newPID.",
        ]
    ) { context in
        let running = context.start(["sleep", "5"])
        let pid = running.containerPID()
        let container = pid.flatMap { HostView.namespace("pid", of: String($0)) }
        let runtime = pid.flatMap { HostView.process(String($0))?.parent }.flatMap { HostView.namespace("pid", of: String($0)) }
        // Kill the container, not the runtime: a runtime killed with SIGKILL never
        // reaches its cleanup (from chapter 4 on, the cgroup would stay behind).
        if let pid { kill(pid, SIGKILL) } else { running.signal(SIGKILL) }
        let result = running.wait(timeout: 5)
        return expect(
            container != nil && container != runtime,
            "the container's pid namespace to differ from its runtime's \(runtime ?? "?")",
            saw: container.map { "the runtime's own \($0)" } ?? "no container process (\(describe(result)))")
    },

    Check(
        "init-exit-status", chapter: 2, "with --init the command runs as PID 2 and its exit status passes through",
        hints: [
            "With --init our init is PID 1 and forks the command. When is init done, and what does it return?",
            "runInit: the loop that reaps with reapAnyChild(); the pid reaped that is `command`.",
            "When the pid reaped is `command`, return steps.exitStatus.exitCode(for: status) — the same mapping as chapter 0, 128+N for a signal.",
        ]
    ) { context in
        let result = context.run(["sh", "-c", "echo $$; exit 5"], options: ["--init"])
        let killed = context.run(["sh", "-c", "kill -9 $$"], options: ["--init"])
        func saw(_ result: RunResult, _ code: Int32) -> String {
            var text = describe(result)
            if result.initHung {
                text = "your init never returned after the command exited (" + text + ")"
            } else if result.status == 0 {
                text += " — runInit returned 0, not the command's exit code \(code)"
            } else if code == 137 && result.status == SIGKILL {
                text += " — the signal's bare number: compute the code with steps.exitStatus.exitCode(for:)"
            }
            return text
        }
        return all(
            expect(
                result.status == 5 && result.stdout.trimmed == "2",
                "the command to print 2 (its pid under init) and exit 5", saw: saw(result, 5)),
            expect(killed.status == 137, "a command killed by SIGKILL under init to exit 137", saw: saw(killed, 137)))
    },

    Check(
        "init-reaps-orphans", chapter: 2, "with --init an orphaned grandchild is reaped (no zombie left)",
        hints: [
            "An orphan is handed to PID 1, and stays a zombie until PID 1 waits for it. Several can end at once — and then how many SIGCHLDs arrive?",
            "runInit: what happens after one SIGCHLD — one reap, or every child that has ended?",
            "Reap in a loop, `while let (pid, status) = try reapAnyChild()`, until it returns nil: signals of one kind do not queue, so one SIGCHLD can stand for many children.",
        ]
    ) { context in
        // The command orphans five sleeps, which init inherits, and sleeps on until
        // the check ends it with SIGTERM. Init is stopped, then the check kills the
        // five, so their five SIGCHLDs arrive as one pending signal — what a busy init
        // sees on any machine — and lets init go once they are all zombies. Killed
        // rather than timed: no wait for them to end, and no race with a slow machine
        // where they end before init is stopped.
        // (`; exit 0`: a shell runs its last command with exec, which would make that
        // sleep init's child too, one more "orphan" for the check to kill.)
        let script = "for i in 1 2 3 4 5; do (sleep 10 &); done; echo started; sleep 10; exit 0"
        let running = context.start(["sh", "-c", script], options: ["--init"])
        guard running.waitForOutput("started"), let initPID = running.containerPID(afterExec: false),
            let namespace = HostView.namespace("pid", of: String(initPID))
        else {
            return .failed(expected: "the container to start", saw: describe(running.wait(timeout: 5)))
        }
        if namespace == HostView.namespace("pid", of: String(running.pid)) {
            running.signal(SIGTERM)
            let result = running.wait(timeout: 5)
            return .failed(
                expected: "init to be PID 1 of a PID namespace of its own, where orphans are handed to it",
                saw: "init shares its runtime's PID namespace, so orphans go to the host's init, not to ours (\(describe(result)))")
        }
        kill(initPID, SIGSTOP)
        // Wait (bounded) until all five are init's, kill them, then until all five ended.
        let deadline = Date().addingTimeInterval(5)
        var killed: Set<pid_t> = []
        while Date() < deadline {
            let orphans = HostView.processes(inPIDNamespace: namespace).filter { $0.command == "sleep" && $0.parent == initPID }
            if orphans.count >= 5 {
                for orphan in orphans where !killed.contains(orphan.pid) {
                    kill(orphan.pid, SIGKILL)
                    killed.insert(orphan.pid)
                }
                if orphans.allSatisfy({ $0.state == "Z" }) { break }
            }
            usleep(5_000)
        }
        kill(initPID, SIGCONT)
        var zombies: [HostView.ProcessInfo] = []
        for _ in 0..<50 {
            usleep(10_000)
            zombies = HostView.processes(inPIDNamespace: namespace).filter { $0.state == "Z" }
            if zombies.isEmpty { break }
        }
        // Init itself tells: gone (or a zombie of the runtime) means it returned. The
        // runtime may still be cleaning up after it for a while, on a loaded machine.
        let initNow = HostView.process(String(initPID))
        let endedEarly = initNow == nil || initNow?.state == "Z" || !running.isRunning
        running.signal(SIGTERM)
        let result = running.wait(timeout: 5)
        if endedEarly {
            return .failed(
                expected: "the container to run on while its orphans end (the command sleeps 10 s)",
                saw: "it ended when an orphan ended, before the command: runInit returned for a child that is not the command (\(describe(result)))")
        }
        return expect(
            zombies.isEmpty, "no zombie in the container once init runs again",
            saw: "\(zombies.count) of 5 orphans left as zombies after one SIGCHLD: "
                + zombies.map { "\($0.command) (pid \($0.pid), parent \($0.parent))" }.joined(separator: ", "))
    },

    Check(
        "init-forwards-sigterm", chapter: 2, "with --init a SIGTERM sent to the runtime reaches the command",
        hints: [
            "The runtime forwards SIGTERM to PID 1 — our init. What does init do with a signal that is not SIGCHLD?",
            "runInit: the signal waitForSignal(signals) returned.",
            "A signal other than SIGCHLD goes on to the command: sendSignal(signal, to: command). Then keep reaping until the command ends, and return its code.",
        ]
    ) { context in
        let script = "trap 'echo got-TERM; exit 7' TERM; echo ready; while true; do sleep 0.05; done"
        let running = context.start(["sh", "-c", script], options: ["--init"])
        guard running.waitForOutput("ready") else {
            return .failed(expected: "the command to print ready", saw: describe(running.wait(timeout: 5)))
        }
        running.signal(SIGTERM)
        let result = running.wait(timeout: 3)
        var saw = describe(result)
        if result.initHung {
            saw = "your init never returned after the command exited (" + saw + ")"
        } else if result.timedOut {
            saw = "the command never saw SIGTERM within 3 s: init took it and did not pass it on (\(saw))"
        } else if result.stdout.contains("got-TERM") && result.status != 7 {
            saw +=
                " — the signal reached the command (it printed got-TERM), but the runtime exited \(result.status), not the command's 7: runInit must return the command's exit code"
        }
        return expect(
            result.status == 7 && result.stdout.contains("got-TERM"),
            "the command's trap to run (prints got-TERM, exits 7)", saw: saw)
    },

    Check(
        "no-process-left", chapter: 2, "no process of the container outlives it",
        hints: [
            "When PID 1 of a PID namespace exits, the kernel kills every other process in it. Does the container have a PID namespace of its own?",
            "processTreeNamespace() returns .newPID.",
        ]
    ) { context in
        // The shell leaves `sleep 30` behind and ends when the check has seen both: on
        // the SIGTERM the check sends it (a trap, which PID 1 of a namespace needs to
        // get the signal at all), not after a sleep long enough for a slow machine.
        let running = context.start(["sh", "-c", "trap 'exit 0' TERM; sleep 30 & echo started; wait"])
        guard running.waitForOutput("started"), let pid = running.containerPID(afterExec: false),
            let namespace = HostView.namespace("pid", of: String(pid))
        else {
            return .failed(expected: "the container to start", saw: describe(running.wait(timeout: 5)))
        }
        let runtime = HostView.namespace("pid", of: String(running.pid))
        // The container's processes, as seen while it runs (pid and start time: after
        // it ends, its namespace's inode number and its pids may be reused by another
        // container, so "still in that namespace" would name strangers).
        let started = HostView.descendants(of: running.pid).compactMap { HostView.process(String($0)) }
        kill(pid, SIGTERM)
        let result = running.wait(timeout: 10)
        // Left: still alive 0.1 s after the runtime ended (a process being killed may
        // take a moment to go); looked at again every 10 ms until then.
        func alive() -> [HostView.ProcessInfo] {
            started.filter { process in
                guard let now = HostView.process(String(process.pid)) else { return false }
                return now.startTime == process.startTime && now.state != "Z"
            }
        }
        var left = alive()
        for _ in 0..<10 where !left.isEmpty {
            usleep(10_000)
            left = alive()
        }
        // Ours, so ended here whatever the verdict.
        for process in left { kill(process.pid, SIGKILL) }
        return all(
            expect(namespace != runtime, "the container to have its own PID namespace", saw: "the runtime's \(namespace)"),
            expect(
                left.isEmpty, "no process of the container left after it exited (\(describe(result)))",
                saw: left.map { "\($0.command) (pid \($0.pid))" }.joined(separator: ", ")))
    },
]
