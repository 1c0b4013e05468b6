import Glibc
// Only these names come from the reference runtime, so your functions are never
// confused with (or quietly replaced by) the reference ones of the same name.
import enum Runtime.LayerEntry
import protocol Runtime.LayerSteps
import struct Runtime.NotDoneYet
import Syscalls

// Chapter 5 — Layers: overlay filesystems and images.
//
// Read first: `./workbook read 5`, sections "An overlay by hand", "Whiteouts, in a
// tar" and "Your turn".
// Check your work: `./workbook check 5`. Stuck? `./workbook hint 5`.
//
// The runtime keeps the store (layers by digest, images by name), makes each
// container's upper and work directories, and mounts the overlay with the options
// you build (`overlayOptions`). `workbook image import 5 DIR NAME:TAG` unpacks an
// image's layers and asks you, for every entry of every layer, what overlayfs needs
// in its place (`overlayEntry`).

/// Your chapter 5, called through the `LayerSteps` protocol.
public struct YourLayers: LayerSteps {
    public init() {}

    /// The data of the overlay mount: `lowerdir=...,upperdir=...,workdir=...`.
    ///
    /// - `lower`: the image's layers, bottom first, as the image's manifest lists them
    ///   (short names, relative to the directory the runtime mounts from). overlayfs
    ///   wants them in one `lowerdir`, separated by `:`, in the order it looks things
    ///   up — which layer must win when two have the same file?
    /// - `upper`: the container's own layer, where every write lands; `work`: an empty
    ///   directory on the same filesystem that overlayfs needs for itself.
    /// - The options are one string split at `,`, and `lowerdir` at `:`: a path that
    ///   holds `:`, `,` or `\` must have each of them escaped with a `\` in front.
    public func overlayOptions(lower: [String], upper: String, work: String) throws -> String {
        // TODO: the three options, the paths escaped.
        throw NotDoneYet(chapter: 5, file: "exercises/05-layers/Layers.swift")
    }

    /// What overlayfs needs in a layer in place of the OCI layer entry `name`, a path
    /// relative to the layer's root (`etc/.wh.motd`, `opt/app/.wh..wh..opq`, `bin/sh`).
    ///
    /// - OCI's whiteout, `DIR/.wh.NAME` ("NAME was deleted in this layer"): overlayfs's
    ///   whiteout is a character device with device number 0 (major 0, minor 0), at the
    ///   name it hides: `.node(path:mode:device:)`.
    /// - OCI's opaque marker, `DIR/.wh..wh..opq` ("nothing of DIR in the layers below
    ///   shows through"): overlayfs reads an extended attribute on DIR itself,
    ///   `overlay.opaque` = "y", in the namespace only a privileged mount trusts
    ///   (the lesson says which): `.xattr(path:name:value:)`. "" is the layer's root.
    /// - Anything else: `.asIs(name)`.
    public func overlayEntry(for name: String) throws -> LayerEntry {
        // TODO: split `name` into its directory and its last component, then the three cases.
        throw NotDoneYet(chapter: 5, file: "exercises/05-layers/Layers.swift")
    }
}
