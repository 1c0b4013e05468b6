import Glibc
import Runtime
import Syscalls

// Chapter 6 — configuration. Each is the reference with one mistake.

/// The reference's bind, for the mutants that keep it.
private func referenceBind(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws {
    try Reference().mountBindVolume(source: source, target: target, readOnly: readOnly, root: root)
}

/// The sources merged the wrong way round: -e first, the image's Env over it.
struct Ch6FlagsUnderImage: ConfigurationSteps {
    func environment(image: [String], config: [String], envFileLines: [String], flags: [String], defaults: [String]) throws -> [String] {
        var merged = flags
        for source in [environmentFileVariables(envFileLines), config, image] { merged = mergedEnvironment(merged, source) }
        let names = Set(merged.map(variableName))
        return defaults.filter { !names.contains(variableName($0)) } + merged
    }
    func mountBindVolume(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws {
        try referenceBind(source: source, target: target, readOnly: readOnly, root: root)
    }
}

/// The runtime's own environment (the host's) as the base, the sources over it.
struct Ch6InheritsHost: ConfigurationSteps {
    func environment(image: [String], config: [String], envFileLines: [String], flags: [String], defaults: [String]) throws -> [String] {
        var host: [String] = []
        var entry = environ
        while let variable = entry.pointee {
            host.append(String(cString: variable))
            entry += 1
        }
        let own = Reference().environment(image: image, config: config, envFileLines: envFileLines, flags: flags, defaults: defaults)
        return mergedEnvironment(host, own)
    }
    func mountBindVolume(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws {
        try referenceBind(source: source, target: target, readOnly: readOnly, root: root)
    }
}

/// The defaults laid over the sources: the image's own PATH is replaced.
struct Ch6DefaultsOverride: ConfigurationSteps {
    func environment(image: [String], config: [String], envFileLines: [String], flags: [String], defaults: [String]) throws -> [String] {
        let merged = Reference().environment(image: image, config: config, envFileLines: envFileLines, flags: flags, defaults: [])
        return mergedEnvironment(merged, defaults)
    }
    func mountBindVolume(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws {
        try referenceBind(source: source, target: target, readOnly: readOnly, root: root)
    }
}

/// Each source appended after the last: a name set twice is in the list twice.
struct Ch6AppendsInsteadOfReplacing: ConfigurationSteps {
    func environment(image: [String], config: [String], envFileLines: [String], flags: [String], defaults: [String]) throws -> [String] {
        let merged = image + config + environmentFileVariables(envFileLines) + flags
        let names = Set(merged.map(variableName))
        return defaults.filter { !names.contains(variableName($0)) } + merged
    }
    func mountBindVolume(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws {
        try referenceBind(source: source, target: target, readOnly: readOnly, root: root)
    }
}

/// Every non-empty line of an env file taken as a variable, comments included.
struct Ch6EnvFileCommentsKept: ConfigurationSteps {
    func environment(image: [String], config: [String], envFileLines: [String], flags: [String], defaults: [String]) throws -> [String] {
        let comments = envFileLines.filter { $0.drop { $0 == " " || $0 == "\t" }.hasPrefix("#") }.map { String($0.drop { $0 == " " || $0 == "\t" }) }
        let merged = Reference().environment(image: image, config: config, envFileLines: envFileLines, flags: [], defaults: [])
        let all = mergedEnvironment(merged + comments, flags)
        let names = Set(all.map(variableName))
        return defaults.filter { !names.contains(variableName($0)) } + all
    }
    func mountBindVolume(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws {
        try referenceBind(source: source, target: target, readOnly: readOnly, root: root)
    }
}

/// The target joined to the rootfs's path and looked up by the host's rules: a link
/// in the image leads the mount out of the rootfs.
struct Ch6TargetJoined: ConfigurationSteps {
    func environment(image: [String], config: [String], envFileLines: [String], flags: [String], defaults: [String]) throws -> [String] {
        Reference().environment(image: image, config: config, envFileLines: envFileLines, flags: flags, defaults: defaults)
    }
    func mountBindVolume(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws {
        let path = descriptorPath(root) + target
        try mount(source: source, target: path, type: nil, flags: [.bind, .recursive])
        guard readOnly else { return }
        try mount(source: nil, target: path, type: nil, flags: [.remount, .bind, .readOnly])
    }
}

/// `:ro` taken, and forgotten: the bind alone.
struct Ch6ReadOnlyForgotten: ConfigurationSteps {
    func environment(image: [String], config: [String], envFileLines: [String], flags: [String], defaults: [String]) throws -> [String] {
        Reference().environment(image: image, config: config, envFileLines: envFileLines, flags: flags, defaults: defaults)
    }
    func mountBindVolume(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws {
        try referenceBind(source: source, target: target, readOnly: false, root: root)
    }
}

/// MS_RDONLY given with the bind itself, which ignores it: the volume is writable.
struct Ch6ReadOnlyOnBind: ConfigurationSteps {
    func environment(image: [String], config: [String], envFileLines: [String], flags: [String], defaults: [String]) throws -> [String] {
        Reference().environment(image: image, config: config, envFileLines: envFileLines, flags: flags, defaults: defaults)
    }
    func mountBindVolume(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws {
        let place = try openInRoot(root, target)
        try mount(source: source, target: descriptorPath(place), type: nil, flags: readOnly ? [.bind, .recursive, .readOnly] : [.bind, .recursive])
    }
}

/// MS_BIND without MS_REC: the source's own mount only, not the mounts under it.
struct Ch6NotRecursive: ConfigurationSteps {
    func environment(image: [String], config: [String], envFileLines: [String], flags: [String], defaults: [String]) throws -> [String] {
        Reference().environment(image: image, config: config, envFileLines: envFileLines, flags: flags, defaults: defaults)
    }
    func mountBindVolume(source: String, target: String, readOnly: Bool, root: borrowing FileDescriptor) throws {
        let place = try openInRoot(root, target)
        try mount(source: source, target: descriptorPath(place), type: nil, flags: [.bind])
        guard readOnly else { return }
        let mounted = try openInRoot(root, target)
        let keep = try lockedMountFlags(mounted)
        try mount(source: nil, target: descriptorPath(mounted), type: nil, flags: keep.union([.remount, .bind, .readOnly]))
    }
}
