import Checks
import Foundation
import Testing
import Workbook

/// The mutant catalog: plausible learner mistakes, each the reference with one chapter
/// replaced (Tests/MutantRuntime), run through that chapter's checks. Each must be
/// caught by the check named here, with a message (expected, saw or first hint) that
/// names the mistake, and must leave the host as it was. `swift test --filter Mutant`.
extension ContainerTests {
    @Suite struct MutantCatalogTests {
        /// What a mutant must make the checks say.
        struct Expectation: Sendable, CustomTestStringConvertible {
            let mutant: String
            let chapter: Int
            /// Check id → a phrase its failure must contain.
            let caughtBy: [(check: String, phrase: String)]
            /// Checks about other subjects that must not fail for this mistake.
            var notBlamed: [String] = []
            /// The chapter's checks must give their verdict within this many seconds.
            var within: Double = 60

            var testDescription: String { mutant }
        }

        static let catalog: [Expectation] = [
            .init(mutant: "Ch0ForgetsENOTDIR", chapter: 0, caughtBy: [("not-found", "ENOTDIR")]),
            .init(mutant: "Ch0SignalNumberOnly", chapter: 0, caughtBy: [("killed-by-signal", "SIGKILL's own number")]),
            .init(mutant: "Ch0SignalBaseOnly", chapter: 0, caughtBy: [("killed-by-signal", "128 alone")]),
            .init(mutant: "Ch0ExitAlwaysZero", chapter: 0, caughtBy: [("exit-3", "became 0")]),
            .init(mutant: "Ch0Swapped126And127", chapter: 0, caughtBy: [("not-found", "not found is 127")]),
            .init(mutant: "Ch0OnlyEACCESCannotExecute", chapter: 0, caughtBy: [("not-executable", "ENOEXEC")]),

            .init(mutant: "Ch1NoUTSFlag", chapter: 1, caughtBy: [("host-hostname-unchanged", "renamed the host")]),
            .init(
                mutant: "Ch1NewPIDInsteadOfUTS", chapter: 1,
                caughtBy: [("uts-namespace", "new pid namespace instead"), ("host-hostname-unchanged", "renamed the host")]),
            .init(
                mutant: "Ch1NewMountInsteadOfUTS", chapter: 1,
                caughtBy: [("uts-namespace", "new mnt namespace instead"), ("host-hostname-unchanged", "renamed the host")]),
            .init(mutant: "Ch1HostnameNeverSet", chapter: 1, caughtBy: [("hostname", "never set")]),
            .init(mutant: "Ch1SetsDomainName", chapter: 1, caughtBy: [("hostname", "never set")]),
            .init(mutant: "Ch1FixedName", chapter: 1, caughtBy: [("hostname", "not the name given")]),

            .init(mutant: "Ch2NoPIDFlag", chapter: 2, caughtBy: [("pid-1", "host pid")]),
            .init(mutant: "Ch2IfInsteadOfWhile", chapter: 2, caughtBy: [("init-reaps-orphans", "after one SIGCHLD")]),
            .init(
                mutant: "Ch2InitReturnsZero", chapter: 2,
                caughtBy: [("init-exit-status", "runInit returned 0"), ("init-forwards-sigterm", "the signal reached the command")]),
            .init(mutant: "Ch2NoForwarding", chapter: 2, caughtBy: [("init-forwards-sigterm", "did not pass it on")]),
            .init(mutant: "Ch2OwnExitCodeWithoutSignals", chapter: 2, caughtBy: [("init-exit-status", "steps.exitStatus")]),
            .init(mutant: "Ch2ReturnsForAnyChild", chapter: 2, caughtBy: [("init-reaps-orphans", "not the command")]),
            .init(
                mutant: "Ch2NeverReturns", chapter: 2,
                caughtBy: [("init-exit-status", "your init never returned after the command exited")], within: 15),

            .init(
                mutant: "Ch3NoChdir", chapter: 3,
                caughtBy: [("host-unreachable", "no chdir"), ("chroot-breakout", "working directory outside its root")]),
            .init(mutant: "Ch3NoBindMount", chapter: 3, caughtBy: [("root-is-rootfs", "mount point"), ("root-is-rootfs", "EBUSY")]),
            .init(
                mutant: "Ch3NoProc", chapter: 3, caughtBy: [("ps-shows-container", "no procfs")],
                notBlamed: ["sys-read-only", "no-host-mounts"]),
            .init(mutant: "Ch3OldRootStillMounted", chapter: 3, caughtBy: [("host-unreachable", "not unmounted")]),
            .init(mutant: "Ch3UnmountWithoutDetach", chapter: 3, caughtBy: [("root-is-rootfs", "MNT_DETACH")]),
            .init(
                mutant: "Ch3ChrootInsteadOfPivot", chapter: 3,
                caughtBy: [("chroot-breakout", "entered with chroot")]),

            .init(mutant: "Ch4NoRetryOnEBUSY", chapter: 4, caughtBy: [("no-cgroup-left", "gave up at once")]),
            .init(mutant: "Ch4JoinsRuntimeItself", chapter: 4, caughtBy: [("cgroup-joined", "getpid()")]),
            .init(
                mutant: "Ch4NoLimitFiles", chapter: 4,
                caughtBy: [("pids-limit", "pids.max"), ("memory-limit", "no memory limit held"), ("cpu-limit", "no CPU limit held")]),
            .init(mutant: "Ch4MemoryInMebibytes", chapter: 4, caughtBy: [("memory-limit", "in bytes")]),
            .init(mutant: "Ch4CPUQuotaAndPeriodSwapped", chapter: 4, caughtBy: [("cpu-limit", "no CPU limit held")]),
            .init(mutant: "Ch4JoinsNothing", chapter: 4, caughtBy: [("cgroup-joined", "no pid was written")]),
            .init(mutant: "Ch4RemovesNothing", chapter: 4, caughtBy: [("no-cgroup-left", "still there")]),

            .init(
                mutant: "Ch5LowerBottomFirst", chapter: 5, caughtBy: [("layers-visible", "top layer first"), ("whiteout-hides", "top layer first")]),
            .init(mutant: "Ch5NoWorkdir", chapter: 5, caughtBy: [("layers-visible", "no workdir"), ("rm-leaves-nothing", "no workdir")]),
            .init(mutant: "Ch5UpperIsTopLayer", chapter: 5, caughtBy: [("write-in-upper", "one of the lower layers")]),
            .init(mutant: "Ch5NoEscaping", chapter: 5, caughtBy: [("layers-visible", "was not escaped")]),
            .init(
                mutant: "Ch5WhiteoutAsEmptyFile", chapter: 5, caughtBy: [("whiteout-hides", "empty regular file")],
                notBlamed: ["layers-visible", "opaque-directory", "write-in-upper"]),
            .init(
                mutant: "Ch5WhiteoutNameNotStripped", chapter: 5, caughtBy: [("whiteout-hides", "without .wh.")],
                notBlamed: ["layers-visible", "opaque-directory"]),
            .init(
                mutant: "Ch5OpaqueUserXattr", chapter: 5, caughtBy: [("opaque-directory", "userxattr")],
                notBlamed: ["layers-visible", "whiteout-hides"]),
            .init(
                mutant: "Ch5OpaqueOnMarker", chapter: 5, caughtBy: [("opaque-directory", "not on the directory opt/app/sub itself")],
                notBlamed: ["layers-visible", "whiteout-hides"]),

            .init(
                mutant: "Ch6FlagsUnderImage", chapter: 6,
                caughtBy: [("e-overrides-image-env", "won over -e"), ("config-and-flags", "BOTH kept the config's value")],
                notBlamed: ["host-env-absent", "rw-volume-on-host", "ro-volume-erofs"]),
            .init(
                mutant: "Ch6InheritsHost", chapter: 6, caughtBy: [("host-env-absent", "the host's environment was inherited")],
                notBlamed: ["rw-volume-on-host", "workdir-cwd"]),
            .init(
                mutant: "Ch6DefaultsOverride", chapter: 6, caughtBy: [("defaults-fill-gaps", "the defaults override the image's PATH")],
                notBlamed: ["host-env-absent", "e-overrides-image-env"]),
            .init(
                mutant: "Ch6AppendsInsteadOfReplacing", chapter: 6, caughtBy: [("e-overrides-image-env", "set twice")],
                notBlamed: ["host-env-absent", "rw-volume-on-host"]),
            .init(
                mutant: "Ch6EnvFileCommentsKept", chapter: 6, caughtBy: [("env-file-format", "a comment line became a variable")],
                notBlamed: ["host-env-absent", "e-overrides-image-env", "defaults-fill-gaps"]),
            .init(
                mutant: "Ch6TargetJoined", chapter: 6, caughtBy: [("symlink-target-inside", "followed the image's link")],
                notBlamed: ["rw-volume-on-host", "ro-volume-erofs", "host-env-absent"]),
            .init(
                mutant: "Ch6ReadOnlyForgotten", chapter: 6, caughtBy: [("ro-volume-erofs", "the volume was writable")],
                notBlamed: ["rw-volume-on-host", "symlink-target-inside"]),
            .init(
                mutant: "Ch6ReadOnlyOnBind", chapter: 6, caughtBy: [("ro-volume-erofs", "the volume was writable")],
                notBlamed: ["rw-volume-on-host", "symlink-target-inside"]),
            .init(
                mutant: "Ch6NotRecursive", chapter: 6, caughtBy: [("volume-brings-submounts", "the bind was not recursive")],
                notBlamed: ["rw-volume-on-host", "ro-volume-erofs", "symlink-target-inside"]),

            .init(
                mutant: "Ch7BoundingSetNotCut", chapter: 7,
                caughtBy: [("capabilities-default", "bounding set was not cut"), ("cap-drop-all", "bounding set was not cut")],
                notBlamed: ["refused-syscalls", "ordinary-workload", "masked-paths"]),
            .init(
                mutant: "Ch7BoundingStopsAtKept", chapter: 7, caughtBy: [("capabilities-default", "bounding set was not cut")],
                notBlamed: ["refused-syscalls", "ordinary-workload"]),
            .init(
                mutant: "Ch7EffectiveOnly", chapter: 7, caughtBy: [("init-confined", "permitted set was left as it was")],
                notBlamed: ["capabilities-default", "refused-syscalls"]),
            .init(
                mutant: "Ch7InheritableKept", chapter: 7, caughtBy: [("capabilities-default", "CVE-2022-24769")],
                notBlamed: ["refused-syscalls", "ordinary-workload"]),
            .init(
                mutant: "Ch7PermittedNotIntersected", chapter: 7, caughtBy: [("user-no-capabilities", "keep ∩ permitted")],
                notBlamed: ["capabilities-default", "refused-syscalls"]),
            .init(
                mutant: "Ch7DefaultActionAllow", chapter: 7, caughtBy: [("refused-syscalls", "lets calls through")],
                notBlamed: ["capabilities-default", "ordinary-workload"]),
            .init(
                mutant: "Ch7EpermAndEnosysSwapped", chapter: 7, caughtBy: [("refused-syscalls", "swapped")],
                notBlamed: ["capabilities-default", "ordinary-workload"]),
            .init(
                mutant: "Ch7CapabilityConditionsIgnored", chapter: 7, caughtBy: [("cap-add-sys-admin", "rule.applies(capabilities:)")],
                notBlamed: ["capabilities-default", "refused-syscalls", "ordinary-workload"]),
            .init(
                mutant: "Ch7RepeatedArgumentInOneRule", chapter: 7, caughtBy: [("docker-profile", "one rule per comparison")],
                notBlamed: ["capabilities-default", "refused-syscalls", "ordinary-workload"]),
            .init(
                mutant: "Ch7ArgumentsDropped", chapter: 7, caughtBy: [("refused-syscalls", "argument comparisons")],
                notBlamed: ["capabilities-default", "ordinary-workload"]),

            .init(mutant: "Ch10StartNotAwaited", chapter: 10, caughtBy: [("create-waits", "nothing made it wait for start")]),
            .init(mutant: "Ch10FifoIsAFile", chapter: 10, caughtBy: [("create-waits", "not a fifo")]),
            .init(
                mutant: "Ch10RunningBeforeStart", chapter: 10, caughtBy: [("create-waits", "state says running before start")]),
            .init(
                mutant: "Ch10NeverStopped", chapter: 10, caughtBy: [("state-stopped", "yet the status is not stopped")],
                notBlamed: ["create-waits", "start-runs"]),
            .init(
                mutant: "Ch10FifoKeptAfterStart", chapter: 10, caughtBy: [("start-runs", "the exec fifo is still there after start")],
                notBlamed: ["create-waits"]),
            .init(
                mutant: "Ch10CreatingForgotten", chapter: 10, caughtBy: [("hooks-in-order", "prestart:created")],
                notBlamed: ["create-waits", "start-runs", "state-stopped"]),
            .init(
                mutant: "Ch10DeleteLeavesDirectory", chapter: 10, caughtBy: [("delete-leaves-nothing", "is still there")],
                notBlamed: ["create-waits", "start-runs", "state-stopped"]),
        ]

        static var mutantRuntime: String { Support.binDirectory + "/mutant-runtime" }

        @Test("the mutant catalog has at least 6 mistakes per chapter, and each is expected to be caught")
        func catalogIsComplete() {
            let listed = Support.run([Self.mutantRuntime, "--list"]).stdout.split(separator: "\n").map { line in
                line.split(separator: " ").last.map(String.init) ?? ""
            }
            #expect(Set(listed) == Set(Self.catalog.map(\.mutant)), "mutant-runtime --list and the expectations differ")
            for chapter in CheckCatalog.chapters {
                #expect(Self.catalog.filter { $0.chapter == chapter }.count >= 6, "chapter \(chapter) has fewer than 6 mutants")
            }
        }

        @Test(
            "each mutant is caught by its named check, with a message naming the mistake, and leaves the host as it was",
            arguments: CheckCatalog.chapters)
        func mutantsAreCaught(chapter: Int) throws {
            var rows: [String] = []
            for expectation in Self.catalog where expectation.chapter == chapter {
                let hostname = HostView.hostname()
                let footprint = Support.hostFootprint()
                let groups = HostCgroups.containerGroups()
                let started = Date()
                let results = try Support.runChecks(
                    CheckCatalog.checks(for: chapter),
                    runtime: [Self.mutantRuntime, expectation.mutant, "run", String(chapter)], stage: chapter)
                let seconds = Date().timeIntervalSince(started)
                #expect(seconds <= expectation.within, "\(expectation.mutant): the verdict took \(Int(seconds)) s")
                let failed = results.filter { $0.outcome.isFailed }
                #expect(!failed.isEmpty, "\(expectation.mutant): no check failed\n\(Support.describe(results))")
                var named = true
                for (checkID, phrase) in expectation.caughtBy {
                    guard let result = results.first(where: { $0.check.id == checkID }) else {
                        Issue.record("\(expectation.mutant): no check \(checkID) in chapter \(chapter)")
                        named = false
                        continue
                    }
                    guard case .failed(let expected, let saw) = result.outcome else {
                        Issue.record("\(expectation.mutant): \(checkID) did not fail\n\(Support.describe(results))")
                        named = false
                        continue
                    }
                    let message = expected + " " + saw + " " + (result.check.hints.first ?? "")
                    if !message.contains(phrase) {
                        named = false
                        Issue.record("\(expectation.mutant): \(checkID)'s message does not say \"\(phrase)\": \(message)")
                    }
                }
                for checkID in expectation.notBlamed {
                    let result = results.first { $0.check.id == checkID }
                    #expect(
                        result?.outcome.isFailed == false,
                        "\(expectation.mutant): \(checkID) failed, but its subject is fine: \(result.map { Support.describe([$0]) } ?? "")")
                }
                // (c) The host as it was: hostname, our mounts and directories, groups.
                #expect(HostView.hostname() == hostname, "\(expectation.mutant) renamed the host")
                #expect(Support.hostFootprint() == footprint, "\(expectation.mutant) left mounts or directories behind")
                let leftGroups = Support.groupsLeft(since: groups)
                #expect(leftGroups.isEmpty, "\(expectation.mutant) left cgroups: \(leftGroups)")
                let named0 = expectation.caughtBy.first.map(\.check)
                let caughtBy = failed.first { $0.check.id == named0 }?.check.id ?? failed.first?.check.id ?? "—"
                rows.append(
                    "  \(chapter)  " + expectation.mutant.padding(toLength: 30, withPad: " ", startingAt: 0) + " "
                        + caughtBy.padding(toLength: 24, withPad: " ", startingAt: 0) + " "
                        + (named ? "yes" : "no").padding(toLength: 20, withPad: " ", startingAt: 0)
                        + String(format: "%5.1f s", seconds))
            }
            print("chapter  mutant                         caught by                names the mistake   verdict in\n" + rows.joined(separator: "\n"))
        }
    }
}
