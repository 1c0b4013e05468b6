import Glibc
import RunOptions
import Runtime
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
guard arguments.count >= 3, arguments[1] == "run", let stageNumber = Int(arguments[2]) else {
    writeToStandardError("usage: mutant-runtime MUTANT run N [run flags] -- CMD | mutant-runtime --list\n")
    exit(2)
}
guard let mutant = mutantCatalog.first(where: { $0.name == arguments[0] }) else {
    writeToStandardError("mutant-runtime: no mutant named \(arguments[0]); --list shows them\n")
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
runInStandInHost(options.request, stage: Stage(chapter: stageNumber), steps: steps, programName: "mutant-runtime")
