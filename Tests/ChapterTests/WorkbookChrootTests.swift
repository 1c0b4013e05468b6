import Foundation
import Testing

/// The workbook in a chroot, as the attendee image's build runs its first check
/// (tools/workshop/image): every container a check starts is a `workbook run` whose
/// working directory is the check's work directory, outside the repository, so it finds
/// the repository from its own path. After the stand-in host's unshare(CLONE_NEWNS),
/// while the namespace it left lives on (the chroot's parent is in it, as the image
/// script is), /proc/self/exe reads as the path outside the chroot; the path is read
/// before that (Repository.programPath).
@Suite struct WorkbookChrootTests {
    @Test(.enabled(if: Support.isRoot, Support.rootReason))
    func runStartedOutsideTheRepositoryFindsItInAChroot() throws {
        var template = Array((FileManager.default.temporaryDirectory.path + "/workbook-chroot-XXXXXX").utf8CString)
        let jail = String(cString: try #require(mkdtemp(&template)))
        defer { rmdir(jail) }
        // The machine's whole tree bound at the jail, in a mount namespace of this
        // command's own: the binds go with it when it ends, and the machine never sees them.
        // The shell waits for chroot rather than exec it: the namespace must outlive the
        // workbook's unshare for the link to name the outside path.
        let script = """
            mount --rbind / "$0" && cd / && chroot "$0" /bin/sh -c 'cd /tmp && exec "$0" run 0 --reference -- echo ran-in-the-chroot' "$1"
            """
        let result = Support.run(["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script, jail, Support.workbook])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ran-in-the-chroot"), "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(!result.stderr.contains("cannot find the workbook's files"), "\(result.stderr)")
    }
}
