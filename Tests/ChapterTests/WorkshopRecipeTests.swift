import Foundation
import Testing

/// The cloud VM's recipe (tools/workshop/cloud-init.yaml) installs what the attendee
/// image installs: .ci/run's packages and the Swift toolchain's needs, as
/// `tools/workshop/image --packages` prints them. A package CI gains and the recipe
/// lacks would be met only on a cloud VM, by `./workbook` asking the room's network.
@Suite struct WorkshopRecipeTests {
    @Test func cloudInitInstallsWhatTheImageInstalls() throws {
        let listed = Support.run([Support.repository.path("tools/workshop/image"), "--packages"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let image = Set(listed.stdout.split(separator: "\n").map(String.init))
        #expect(image.contains("busybox-static") && image.contains("libicu-dev"), "\(image.sorted())")

        let recipe = try String(contentsOfFile: Support.repository.path("tools/workshop/cloud-init.yaml"), encoding: .utf8)
        var inPackages = false
        var packages: Set<String> = []
        for line in recipe.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("packages:") {
                inPackages = true
            } else if inPackages, line.hasPrefix("  - ") {
                packages.insert(String(line.dropFirst(4)).trimmingCharacters(in: .whitespaces))
            } else if inPackages, !line.hasPrefix(" "), !line.hasPrefix("#"), !line.isEmpty {
                break
            }
        }
        #expect(image.subtracting(packages).isEmpty, "the image installs, the recipe does not: \(image.subtracting(packages).sorted())")
        #expect(packages.subtracting(image).isEmpty, "the recipe installs, the image does not: \(packages.subtracting(image).sorted())")
    }
}
