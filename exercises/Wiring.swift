import struct Runtime.Steps

// You do not need to edit this file.
//
// It hands your functions to the runtime's creation story (Sources/Runtime/Parent.swift
// and Child.swift), chapter by chapter. `workbook run` and `workbook check` use your
// function for every chapter you have reached and not skipped, and the reference for
// the rest.

public enum LearnerSteps {
    /// Your functions, all chapters.
    public static let all = Steps(
        exitCode: { try exitCode(for: $0) },
        execFailureExitCode: { try execFailureExitCode(errno: $0) },
        hostnameNamespace: { try hostnameNamespace() },
        setHostname: { try setContainerHostname($0) },
        processTreeNamespace: { try processTreeNamespace() },
        runInit: { try runInit(command: $0, signals: $1) },
        pivotToRootfs: { try pivotToRootfs($0) },
        mountProc: { try mountProc() },
        cgroupFiles: { try cgroupFiles(for: $0, mode: $1) },
        makeCgroup: { try makeCgroup($0, mode: $1, controllers: $2) },
        joinCgroup: { try joinCgroup($0, pid: $1) },
        removeCgroup: { try removeCgroup($0) }
    )

    /// The reference, with your functions for `chapters`.
    public static func steps(usingLearnerFor chapters: Set<Int>) -> Steps {
        chapters.reduce(Steps.reference) { $0.replacing(chapter: $1, from: all) }
    }
}
