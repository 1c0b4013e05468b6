import Glibc

// Chapter 1 — the UTS namespace: a hostname of the container's own.

let chapter1Checks: [Check] = [
    Check(
        "hostname", chapter: 1, "--hostname sets the hostname inside",
        hints: [
            "Two parts: the parent asks clone for a new UTS namespace, the child calls sethostname in it.",
            "hostnameNamespace() returns .newUTS; setContainerHostname(_:) calls setHostname(name) from the Syscalls layer.",
        ]
    ) { context in
        let name = "box-\(getpid() % 10000)"
        let result = context.run(["hostname"], options: ["--hostname", name])
        return expect(result.status == 0 && result.stdout.trimmed == name, "hostname to print \(name)", saw: describe(result))
    },

    Check(
        "host-hostname-unchanged", chapter: 1, "the host's hostname is unchanged after a run",
        hints: [
            "If the host's hostname changed, sethostname ran outside a new UTS namespace: check the clone flags.",
            "hostnameNamespace() must return .newUTS, and it must be used for the clone (the story asks for it in Parent.swift).",
        ]
    ) { context in
        let before = HostView.hostname()
        let result = context.run(["hostname"], options: ["--hostname", "not-the-host"])
        let after = HostView.hostname()
        if after != before {
            // Put the host back before reporting: a failed check must not leave damage.
            _ = CheckContext.runHost(["hostname", before])
        }
        return all(
            expect(
                result.status == 0 && result.stdout.trimmed == "not-the-host",
                "the container to see hostname not-the-host", saw: describe(result)),
            expect(after == before, "the host's hostname to stay \(before)", saw: "it became \(after)"))
    },

    Check(
        "uts-namespace", chapter: 1, "the container's UTS namespace is not the host's",
        hints: [
            "Compare /proc/self/ns/uts on the host and in the container: the same inode means the same namespace.",
            "Return .newUTS from hostnameNamespace(); the parent passes it to clone.",
        ]
    ) { context in
        let host = HostView.namespace("uts", of: "self") ?? "?"
        let inside = context.run(["readlink", "/proc/self/ns/uts"])
        let running = context.start(["sleep", "5"])
        let pid = running.containerPID()
        let container = pid.flatMap { HostView.namespace("uts", of: String($0)) }
        // Kill the container, not the runtime: a runtime killed with SIGKILL never
        // reaches its cleanup (from chapter 4 on, its cgroup would stay behind).
        if let pid { kill(pid, SIGKILL) } else { running.signal(SIGKILL) }
        _ = running.wait(timeout: 5)
        return all(
            expect(
                inside.status == 0 && inside.stdout.trimmed != host,
                "readlink /proc/self/ns/uts inside to differ from the host's \(host)", saw: describe(inside)),
            expect(
                container != nil && container != host,
                "the container's /proc/PID/ns/uts, seen from the host, to differ from \(host)",
                saw: container ?? "no container process found"))
    },

    Check(
        "default-hostname", chapter: 1, "without --hostname the hostname is the container's id",
        hints: [
            "The story passes the container's id when no hostname was given; setContainerHostname must set whatever name it gets."
        ]
    ) { context in
        let result = context.run(["hostname"])
        let name = result.stdout.trimmed
        return expect(
            result.status == 0 && name.count == 12 && name.allSatisfy(\.isHexDigit),
            "a 12-hex-digit id as the hostname", saw: describe(result))
    },
]
