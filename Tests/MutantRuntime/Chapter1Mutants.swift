import Glibc
import Runtime
import Syscalls

// Chapter 1 — hostnames. Each is the reference with one mistake.

/// No UTS flag: sethostname renames the host.
struct Ch1NoUTSFlag: HostnameSteps {
    func hostnameNamespace() -> CloneFlags { [] }
    func setContainerHostname(_ name: String) throws { try setHostname(name) }
}

/// The wrong namespace: a PID namespace, and the hostname is still the host's.
struct Ch1NewPIDInsteadOfUTS: HostnameSteps {
    func hostnameNamespace() -> CloneFlags { .newPID }
    func setContainerHostname(_ name: String) throws { try setHostname(name) }
}

/// The wrong namespace: a mount namespace ("NS" reads like "namespace").
struct Ch1NewMountInsteadOfUTS: HostnameSteps {
    func hostnameNamespace() -> CloneFlags { .newMount }
    func setContainerHostname(_ name: String) throws { try setHostname(name) }
}

/// The namespace is made, the name never set.
struct Ch1HostnameNeverSet: HostnameSteps {
    func hostnameNamespace() -> CloneFlags { .newUTS }
    func setContainerHostname(_ name: String) throws {}
}

/// setdomainname(2) for sethostname(2): the NIS domain name changes, not the hostname.
struct Ch1SetsDomainName: HostnameSteps {
    func hostnameNamespace() -> CloneFlags { .newUTS }
    func setContainerHostname(_ name: String) throws {
        if setdomainname(name, name.utf8.count) != 0 { throw SyscallError("setdomainname") }
    }
}

/// A fixed name: every container is called "container".
struct Ch1FixedName: HostnameSteps {
    func hostnameNamespace() -> CloneFlags { .newUTS }
    func setContainerHostname(_ name: String) throws { try setHostname("container") }
}
