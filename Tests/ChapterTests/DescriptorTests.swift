import Foundation
import Testing

/// No descriptor leaks on any error path: fd-audit starts containers that fail at each
/// step of the story (a bad request, a missing command, each cgroup step, the pivot,
/// an interrupt) in one single-threaded process, and lists /proc/self/fd around each.
extension ContainerTests {
    @Suite struct DescriptorTests {
        @Test("failing starts leave no descriptor open")
        func failingStartsLeakNothing() throws {
            let home = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: home) }
            let built = Support.run(["scratch", "rootfs", "build", home + "/rootfs"])
            #expect(built.status == 0, "\(built.stderr)")
            let audit = Support.run([Support.binDirectory + "/fd-audit", home + "/rootfs"], environment: ["SCRATCH_HOME": home])
            #expect(audit.status == 0, "fd-audit:\n\(audit.stdout)\n\(audit.stderr)")
            let cases = audit.stdout.split(separator: "\n").filter { $0.hasPrefix("case ") }
            #expect(cases.count == 8, "\(audit.stdout)")
            for line in cases {
                let parts = line.components(separatedBy: "; before ")
                let lists = parts.count == 2 ? parts[1].components(separatedBy: "; after ") : []
                #expect(lists.count == 2 && lists[0] == lists[1], "\(line)")
            }
        }
    }
}
