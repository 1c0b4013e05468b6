import Glibc
import Runtime

// Chapter 5 — layers. Each is the reference with one mistake.

/// The reference's escaping, for the mutants that keep it.
private func escape(_ path: String) -> String { escapedOverlayPath(path) }

/// lowerdir in the manifest's order, bottom first: the base layer wins every lookup.
struct Ch5LowerBottomFirst: LayerSteps {
    func overlayOptions(lower: [String], upper: String, work: String) throws -> String {
        "lowerdir=\(lower.map(escape).joined(separator: ":")),upperdir=\(escape(upper)),workdir=\(escape(work))"
    }
    func overlayEntry(for name: String) throws -> LayerEntry { Reference().overlayEntry(for: name) }
}

/// No workdir: overlayfs refuses an upperdir without one (EINVAL).
struct Ch5NoWorkdir: LayerSteps {
    func overlayOptions(lower: [String], upper: String, work: String) throws -> String {
        "lowerdir=\(lower.reversed().map(escape).joined(separator: ":")),upperdir=\(escape(upper))"
    }
    func overlayEntry(for name: String) throws -> LayerEntry { Reference().overlayEntry(for: name) }
}

/// The top layer of the image as upperdir: writes would go into the shared image
/// (overlayfs refuses the overlap: ELOOP).
struct Ch5UpperIsTopLayer: LayerSteps {
    func overlayOptions(lower: [String], upper: String, work: String) throws -> String {
        "lowerdir=\(lower.reversed().map(escape).joined(separator: ":")),upperdir=\(escape(lower.last ?? upper)),workdir=\(escape(work))"
    }
    func overlayEntry(for name: String) throws -> LayerEntry { Reference().overlayEntry(for: name) }
}

/// Paths put in as they are: a ',' in a path ends the option there.
struct Ch5NoEscaping: LayerSteps {
    func overlayOptions(lower: [String], upper: String, work: String) throws -> String {
        "lowerdir=\(lower.reversed().joined(separator: ":")),upperdir=\(upper),workdir=\(work)"
    }
    func overlayEntry(for name: String) throws -> LayerEntry { Reference().overlayEntry(for: name) }
}

/// The whiteout as an empty regular file: the deleted file shows, empty.
struct Ch5WhiteoutAsEmptyFile: LayerSteps {
    func overlayOptions(lower: [String], upper: String, work: String) throws -> String {
        Reference().overlayOptions(lower: lower, upper: upper, work: work)
    }
    func overlayEntry(for name: String) throws -> LayerEntry {
        guard case .node(let path, _, _) = Reference().overlayEntry(for: name) else { return Reference().overlayEntry(for: name) }
        return .node(path: path, mode: S_IFREG | 0o644, device: 0)
    }
}

/// The character device made under the OCI name: it hides `.wh.gone`, and gone shows.
struct Ch5WhiteoutNameNotStripped: LayerSteps {
    func overlayOptions(lower: [String], upper: String, work: String) throws -> String {
        Reference().overlayOptions(lower: lower, upper: upper, work: work)
    }
    func overlayEntry(for name: String) throws -> LayerEntry {
        guard case .node = Reference().overlayEntry(for: name) else { return Reference().overlayEntry(for: name) }
        return .node(path: name, mode: S_IFCHR, device: 0)
    }
}

/// user.overlay.opaque: what a rootless (userxattr) mount reads, not a mount by root.
struct Ch5OpaqueUserXattr: LayerSteps {
    func overlayOptions(lower: [String], upper: String, work: String) throws -> String {
        Reference().overlayOptions(lower: lower, upper: upper, work: work)
    }
    func overlayEntry(for name: String) throws -> LayerEntry {
        guard case .xattr(let path, _, let value) = Reference().overlayEntry(for: name) else { return Reference().overlayEntry(for: name) }
        return .xattr(path: path, name: "user.overlay.opaque", value: value)
    }
}

/// The attribute on the marker's own name: a directory `.wh..wh..opq` is made and
/// marked, and the directory that held it is not.
struct Ch5OpaqueOnMarker: LayerSteps {
    func overlayOptions(lower: [String], upper: String, work: String) throws -> String {
        Reference().overlayOptions(lower: lower, upper: upper, work: work)
    }
    func overlayEntry(for name: String) throws -> LayerEntry {
        guard case .xattr(_, let attribute, let value) = Reference().overlayEntry(for: name) else { return Reference().overlayEntry(for: name) }
        return .xattr(path: name, name: attribute, value: value)
    }
}
