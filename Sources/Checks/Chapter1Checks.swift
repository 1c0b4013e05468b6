import Glibc

// Chapter 1 — the UTS namespace: a hostname of the container's own.
//
// Runs of the learner's runtime happen in a stand-in host (new UTS and mount
// namespaces the workbook makes first): a mistake renames the stand-in, never the
// machine, and the runtime reports it ("your runtime renamed the host: ..."). So
// namespaces are compared with the runtime's own, not with this process's.

let chapter1Checks: [Check] = [
    Check(
        "hostname", chapter: 1, "--hostname sets the hostname inside",
        hints: [
            "Two things must happen: a hostname of the container's own, and the name set in it. Which of the two is missing?",
            "hostnameNamespace() (the parent's clone flags) and setContainerHostname(_:) (runs in the child).",
            "Return .newUTS from hostnameNamespace(); in setContainerHostname(_:), setHostname(name) with the name given.",
        ]
    ) { context in
        let name = "box-\(getpid() % 10000)"
        let result = context.run(["hostname"], options: ["--hostname", name])
        let printed = result.stdout.trimmed
        var saw = describe(result)
        if result.status == 0 && printed != name {
            saw +=
                printed == HostView.hostname()
                ? " — the host's own name: the container's hostname was never set (setContainerHostname)"
                : " — not the name given with --hostname"
        }
        saw += CheckContext.hostDamage(result).map { " — " + $0 }.joined()
        return expect(result.status == 0 && printed == name, "hostname to print \(name)", saw: saw)
    },

    Check(
        "host-hostname-unchanged", chapter: 1, "the host's hostname is unchanged after a run",
        hints: [
            "A hostname belongs to a UTS namespace. Which UTS namespace was the child in when it called sethostname?",
            "hostnameNamespace(): the clone flags the parent passes for the child.",
            "Return .newUTS (CLONE_NEWUTS). .newPID or .newMount make other namespaces, and sethostname still renames the host.",
        ]
    ) { context in
        let before = HostView.hostname()
        let result = context.run(["hostname"], options: ["--hostname", "not-the-host"])
        let after = HostView.hostname()
        if after != before {
            // Put the host back before reporting: a failed check must not leave damage.
            _ = CheckContext.runHost(["hostname", before])
        }
        let renamed = CheckContext.hostDamage(result).filter { $0.contains("renamed the host") }
        return all(
            expect(
                result.status == 0 && result.stdout.trimmed == "not-the-host",
                "the container to see hostname not-the-host", saw: describe(result)),
            expect(after == before, "the host's hostname to stay \(before)", saw: "it became \(after)"),
            expect(renamed.isEmpty, "the host's hostname to stay as it was", saw: renamed.joined(separator: "; ")))
    },

    Check(
        "uts-namespace", chapter: 1, "the container's UTS namespace is not the host's",
        hints: [
            "Compare /proc/PID/ns/uts of the container's process with its runtime's: the same inode means the same namespace.",
            "hostnameNamespace(): which CLONE_NEW* flag is the UTS one?",
            "Return .newUTS; the parent passes it to clone.",
        ]
    ) { context in
        let running = context.start(["sleep", "5"])
        let pid = running.containerPID()
        func namespaces(_ pid: pid_t?) -> [String: String] {
            guard let pid else { return [:] }
            var found: [String: String] = [:]
            for kind in ["uts", "pid", "mnt", "ipc", "net"] { found[kind] = HostView.namespace(kind, of: String(pid)) }
            return found
        }
        let container = namespaces(pid)
        let runtime = namespaces(pid.flatMap { HostView.process(String($0))?.parent })
        // Kill the container, not the runtime: a runtime killed with SIGKILL never
        // reaches its cleanup (from chapter 4 on, its cgroup would stay behind).
        if let pid { kill(pid, SIGKILL) } else { running.signal(SIGKILL) }
        let result = running.wait(timeout: 5)
        guard pid != nil, let uts = container["uts"], let runtimeUTS = runtime["uts"] else {
            return .failed(expected: "the container to start", saw: describe(result))
        }
        var saw = "the runtime's own \(uts)"
        let others = ["pid", "mnt", "ipc", "net"].filter { container[$0] != nil && container[$0] != runtime[$0] }
        if !others.isEmpty {
            saw += " — the container got a new \(others.joined(separator: ", ")) namespace instead: the wrong CLONE_NEW* flag"
        }
        return expect(uts != runtimeUTS, "the container's /proc/PID/ns/uts to differ from its runtime's", saw: saw)
    },

    Check(
        "default-hostname", chapter: 1, "without --hostname the hostname is the container's id",
        hints: [
            "With no --hostname, Docker names the container's host after its id. Who passes the name in?",
            "The story passes the container's id to setContainerHostname when no hostname was given: set whatever name it gets.",
        ]
    ) { context in
        let result = context.run(["hostname"])
        let name = result.stdout.trimmed
        return expect(
            result.status == 0 && name.count == 12 && name.allSatisfy(\.isHexDigit),
            "a 12-hex-digit id as the hostname", saw: describe(result))
    },
]
