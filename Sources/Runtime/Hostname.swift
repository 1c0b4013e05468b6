import Syscalls

// Chapter 1 — hostnames: the UTS namespace.
//
// The UTS namespace ("UNIX Time-sharing System", after the struct utsname that
// uname(2) fills in) holds the hostname and the NIS domain name. A process in a new
// one starts with a copy of its parent's names and may change them freely; nobody
// outside sees the change.

extension Reference: HostnameSteps {
    /// A new UTS namespace for the child.
    public func hostnameNamespace() -> CloneFlags { .newUTS }

    /// Runs in the child, inside its new UTS namespace. Were the child still in the
    /// host's namespace, this would rename the host (root may do that); the namespace
    /// is what makes it safe.
    public func setContainerHostname(_ name: String) throws {
        try setHostname(name)
    }
}
