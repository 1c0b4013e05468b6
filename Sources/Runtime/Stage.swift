/// How far along the story a runtime goes: a chapter's stage is the container's start
/// cut at that chapter. The learner's runtime at chapter 2 has UTS and PID namespaces
/// but no root of its own yet; `scratch` goes all the way.
public struct Stage: Sendable, Equatable {
    public let chapter: Int

    public init(chapter: Int) { self.chapter = chapter }

    /// The kernel features, by the chapter that adds them.
    public enum Feature: Int, Sendable {
        case process = 0
        case hostname = 1
        case processTree = 2
        case rootFilesystem = 3
        case cgroups = 4
        case layers = 5
        case configuration = 6
        /// Capabilities, no_new_privs, seccomp, masked paths, devices, IPC and cgroup
        /// namespaces.
        case leastPrivilege = 7
        /// Bundles and the create/start/state/kill/delete interface.
        case oci = 10
    }

    public func includes(_ feature: Feature) -> Bool { chapter >= feature.rawValue }

    /// Everything the reference runtime has.
    public static let complete = Stage(chapter: Feature.oci.rawValue)
}
