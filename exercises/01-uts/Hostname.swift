// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import enum Runtime.ExitCode
import struct Runtime.NotDoneYet
import protocol Runtime.HostnameSteps
import Syscalls

// Chapter 1 — Hostnames: the UTS namespace.
//
// Read first: `./workbook read 1`, sections "Where each step runs" and "Your turn".
// Check your work: `./workbook check 1`. Stuck? `./workbook hint 1`.
//
// Two pieces: the parent asks clone(2) for a new UTS namespace, and the child, once
// inside it, sets the hostname. Both are one line; the lesson is in *where* each runs.

/// Your chapter 1, called through the `HostnameSteps` protocol.
public struct YourHostname: HostnameSteps {
    public init() {}

    /// The clone flags that give the container a hostname of its own.
    ///
    /// Runs in the parent, before clone. Return the flag for a new UTS namespace
    /// (`CloneFlags` lists them).
    public func hostnameNamespace() throws -> CloneFlags {
        // TODO: return the flag for a new UTS namespace.
        throw NotDoneYet(chapter: 1, file: "exercises/01-uts/Hostname.swift")
    }

    /// Runs in the child, already inside its new UTS namespace: set the hostname to `name`.
    ///
    /// The Syscalls layer has a throwing wrapper for sethostname(2).
    public func setContainerHostname(_ name: String) throws {
        // TODO: set the hostname.
        throw NotDoneYet(chapter: 1, file: "exercises/01-uts/Hostname.swift")
    }
}
