import Glibc
import ImageStore
import RunOptions
import Runtime
import RuntimeConfig
import Syscalls
import Workbook

// mutant-runtime: the reference runtime with one chapter replaced by a plausible
// learner mistake, so the tests can prove each chapter's checks catch it.
//
//   mutant-runtime MUTANT run N [run flags] -- CMD
//   mutant-runtime --list

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "--list" {
    for mutant in mutantCatalog { print("\(mutant.chapter) \(mutant.name)") }
    exit(0)
}
guard let mutant = mutantCatalog.first(where: { $0.name == arguments.first }) else {
    writeToStandardError("mutant-runtime: no mutant named \(arguments.first ?? ""); --list shows them\n")
    exit(2)
}
// `mutant-runtime MUTANT image import N SOURCE [NAME:TAG]`: chapter 5's checks import
// their test image with the runtime they judge, whiteouts turned by the mutant's code.
if arguments.count >= 5, arguments[1] == "image", arguments[2] == "import", Int(arguments[3]) != nil {
    let steps = Steps.reference.replacing(chapter: mutant.chapter, from: mutant.steps)
    do {
        let image = try LayerConversion.$steps.withValue(steps.layers) {
            try importImage(from: arguments[4], as: arguments.count > 5 ? arguments[5] : nil)
        }
        print("imported \(image.reference): \(image.layers.count) layers (\(image.reused) already stored)")
        exit(0)
    } catch {
        writeToStandardError("mutant-runtime: \(error)\n")
        exit(125)
    }
}
// `mutant-runtime MUTANT oci N [--root DIR] COMMAND ...`: chapter 10's checks drive the
// OCI commands, in a stand-in host as `workbook oci` does.
if arguments.count >= 4, arguments[1] == "oci", let stageNumber = Int(arguments[2]) {
    let steps = Steps.reference.replacing(chapter: mutant.chapter, from: mutant.steps)
    _ = try? StandInHost.enter()
    var rest = ArraySlice(arguments.dropFirst(3))
    do {
        let globals = try ociGlobals(&rest) ?? OCIGlobals()
        let command = rest.popFirst() ?? ""
        runOCICommand(command, rest, globals: globals, steps: steps, stage: Stage(chapter: stageNumber), programName: "mutant-runtime")
    } catch {
        writeToStandardError("mutant-runtime: \(error)\n")
        exit(125)
    }
}
guard arguments.count >= 3, arguments[1] == "run", let stageNumber = Int(arguments[2]) else {
    writeToStandardError(
        "usage: mutant-runtime MUTANT run N [run flags] -- CMD | mutant-runtime MUTANT image import N SOURCE [NAME:TAG] | mutant-runtime --list\n")
    exit(2)
}
let options: LearnerRunOptions
do {
    options = try LearnerRunOptions.parse(Array(arguments.dropFirst(3)))
} catch {
    writeToStandardError("mutant-runtime: \(LearnerRunOptions.message(for: error))\n")
    exit(125)
}
let steps = Steps.reference.replacing(chapter: mutant.chapter, from: mutant.steps)
// Exactly as `workbook run` runs a learner's code: inside the stand-in host.
let request: RunRequest
do {
    request = try resolvingSecurityFiles(applyingConfigFile(to: options.request))
} catch {
    writeToStandardError("mutant-runtime: \(error)\n")
    exit(125)
}
runInStandInHost(request, stage: Stage(chapter: stageNumber), steps: steps, programName: "mutant-runtime")
