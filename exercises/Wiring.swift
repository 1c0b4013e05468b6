import struct Runtime.Steps

// You do not need to edit this file.
//
// It hands your chapters to the runtime's creation story (Sources/Runtime/Parent.swift
// and Child.swift). `workbook run` and `workbook check` use your type for every
// chapter you have reached and not skipped, and the reference for the rest: a whole
// chapter at a time.

public enum LearnerSteps {
    /// Your code, every chapter.
    public static let all = Steps(
        exitStatus: YourExitStatus(), hostname: YourHostname(), processTree: YourProcessTree(),
        rootFilesystem: YourRootFilesystem(), cgroups: YourCgroups(), layers: YourLayers(),
        configuration: YourConfiguration(), privileges: YourPrivileges(), lifecycle: YourLifecycle())

    /// The reference, with your code for `chapters`.
    public static func steps(usingLearnerFor chapters: Set<Int>) -> Steps {
        chapters.reduce(Steps.reference) { $0.replacing(chapter: $1, from: all) }
    }
}
