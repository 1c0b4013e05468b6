// swift-tools-version: 6.0
// Containers from Scratch, in Swift.
//
// One direction of dependency (ARCHITECTURE.md):
//   CLinux ← Syscalls ← Runtime ← (Exercises, Checks) ← Workbook
// `scratch` is the reference runtime's command line; `workbook` is the learner's.
import PackageDescription

let package = Package(
    name: "containers-from-scratch",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "scratch", targets: ["scratch"]),
        .executable(name: "workbook", targets: ["workbook"]),
        .executable(name: "scratch-image", targets: ["scratch-image"]),
    ],
    dependencies: [
        // Pinned exactly, with Package.resolved committed: a workshop room builds the same
        // code on every laptop, and the attendee image builds offline (issue 19).
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2")
    ],
    targets: [
        // The few things Swift cannot call directly: clone with a trampoline, pivot_root,
        // and the kernel constants Glibc hides.
        .target(name: "CLinux"),
        // Thin throwing wrappers; every error names the call, the path and errno in words.
        .target(name: "Syscalls", dependencies: ["CLinux"]),
        // The reference runtime: one file per kernel feature, plus the creation story.
        // No Foundation here: it is on the hot path and costs milliseconds at start.
        .target(name: "Runtime", dependencies: ["Syscalls", "CSeccomp", "CNetlink"]),
        // Chapter 7's seccomp filters: Debian's libseccomp compiles a profile into BPF.
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        // Chapter 9's network: links, addresses and routes through rtnetlink (libnl-route-3,
        // linked statically into scratch); NAT and published ports through libnftables,
        // loaded with dlopen on first use (Runtime/Nftables.swift). No `ip` or `nft` is run.
        .systemLibrary(name: "CNetlink", pkgConfig: "libnl-route-3.0", providers: [.apt(["libnl-route-3-dev"])]),
        // The learner's code. An unfinished chapter still compiles: its stubs throw.
        .target(
            name: "Exercises",
            dependencies: ["Runtime", "Syscalls"],
            path: "exercises",
            exclude: ["README.md"]
        ),
        // Each chapter's black-box checks, with hints.
        .target(name: "Checks", dependencies: ["Runtime"]),
        // Chapter catalog, progress, reader, checker.
        .target(name: "Workbook", dependencies: ["Checks", "Exercises", "Runtime", "RunOptions", "CCmarkGFM", "CNcurses"]),
        // Markdown (the lessons): Debian's cmark-gfm with its table extension.
        .systemLibrary(
            name: "CCmarkGFM",
            pkgConfig: "libcmark-gfm",
            providers: [.apt(["libcmark-gfm-dev", "libcmark-gfm-extensions-dev"])]
        ),
        // The full-screen reader: Debian's ncurses with wide characters. Its pkg-config
        // flags (-D_DEFAULT_SOURCE -D_XOPEN_SOURCE=600) are dropped by SwiftPM with a
        // warning; the shim asks for what they would have given.
        .systemLibrary(name: "CNcurses", pkgConfig: "ncursesw", providers: [.apt(["libncurses-dev"])]),
        // The `run` flags, shared by `scratch run` and `workbook run`.
        .target(
            name: "RunOptions",
            dependencies: ["Runtime", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Chapter 6's OCI config.json (`run --config`, `spec`): JSON through Foundation's
        // decoder (FoundationEssentials, no ICU), apart from Runtime so the plain
        // `scratch run` path never parses JSON.
        .target(name: "RuntimeConfig", dependencies: ["Runtime", "Syscalls", "RunOptions"]),
        .executableTarget(
            name: "scratch",
            dependencies: [
                "Runtime", "Syscalls", "RunOptions", "RuntimeConfig", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Chapter 5's images: tar and gzip through libarchive, sha256 through OpenSSL's
        // libcrypto, JSON through Foundation. Apart from `scratch` (which runs it for
        // `scratch image ...`, as git runs git-foo), so the runtime's hot path stays a
        // small, fully static binary without them.
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "ImageStore", dependencies: ["Runtime", "Syscalls", "CArchive", "CCrypto"]),
        .executableTarget(
            name: "scratch-image",
            dependencies: ["ImageStore", "Runtime", "Syscalls", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "workbook",
            dependencies: [
                "Workbook", "RunOptions", "RuntimeConfig", "ImageStore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Starts containers that fail at every step, single-threaded, and lists the open
        // descriptors around each: DescriptorTests wants them unchanged.
        .executableTarget(name: "fd-audit", dependencies: ["Runtime", "Syscalls"], path: "Tests/FdAudit"),
        // The mutant catalog: the reference with one chapter replaced by a plausible
        // learner mistake, run the way `workbook run` runs (tests only, no product).
        .executableTarget(
            name: "mutant-runtime",
            dependencies: ["Runtime", "Syscalls", "RunOptions", "RuntimeConfig", "Workbook", "ImageStore"],
            path: "Tests/MutantRuntime"
        ),
        // The test process's own network namespace, made when it loads (test_isolation.c
        // says why): no test reaches the machine's network.
        .target(name: "TestIsolation", path: "Tests/TestIsolation"),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "Syscalls", "RunOptions", "RuntimeConfig", "TestIsolation"]),
        .testTarget(name: "ChapterTests", dependencies: ["Checks", "Workbook", "Runtime", "fd-audit", "TestIsolation"]),
    ],
    swiftLanguageModes: [.v6]
)
