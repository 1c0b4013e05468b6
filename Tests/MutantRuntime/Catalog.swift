import Runtime

/// One plausible learner mistake: the reference with chapter `chapter` replaced.
struct Mutant {
    let name: String
    let chapter: Int
    let steps: Steps
}

func mutant(_ chapter: Int, _ value: any Sendable) -> Mutant {
    let name = "\(type(of: value))"
    var steps = Steps.reference
    switch value {
    case let value as any ExitStatusSteps where chapter == 0: steps.exitStatus = value
    case let value as any HostnameSteps where chapter == 1: steps.hostname = value
    case let value as any ProcessTreeSteps where chapter == 2: steps.processTree = value
    case let value as any RootFilesystemSteps where chapter == 3: steps.rootFilesystem = value
    case let value as any CgroupSteps where chapter == 4: steps.cgroups = value
    case let value as any LayerSteps where chapter == 5: steps.layers = value
    case let value as any ConfigurationSteps where chapter == 6: steps.configuration = value
    case let value as any PrivilegeSteps where chapter == 7: steps.privileges = value
    case let value as any LifecycleSteps where chapter == 10: steps.lifecycle = value
    default: fatalError("\(name) does not conform to chapter \(chapter)'s protocol")
    }
    return Mutant(name: name, chapter: chapter, steps: steps)
}

let mutantCatalog: [Mutant] = [
    mutant(0, Ch0ForgetsENOTDIR()),
    mutant(0, Ch0SignalNumberOnly()),
    mutant(0, Ch0SignalBaseOnly()),
    mutant(0, Ch0ExitAlwaysZero()),
    mutant(0, Ch0Swapped126And127()),
    mutant(0, Ch0OnlyEACCESCannotExecute()),

    mutant(1, Ch1NoUTSFlag()),
    mutant(1, Ch1NewPIDInsteadOfUTS()),
    mutant(1, Ch1NewMountInsteadOfUTS()),
    mutant(1, Ch1HostnameNeverSet()),
    mutant(1, Ch1SetsDomainName()),
    mutant(1, Ch1FixedName()),

    mutant(2, Ch2NoPIDFlag()),
    mutant(2, Ch2IfInsteadOfWhile()),
    mutant(2, Ch2InitReturnsZero()),
    mutant(2, Ch2NoForwarding()),
    mutant(2, Ch2OwnExitCodeWithoutSignals()),
    mutant(2, Ch2ReturnsForAnyChild()),
    mutant(2, Ch2NeverReturns()),

    mutant(3, Ch3NoChdir()),
    mutant(3, Ch3NoBindMount()),
    mutant(3, Ch3NoProc()),
    mutant(3, Ch3OldRootStillMounted()),
    mutant(3, Ch3UnmountWithoutDetach()),
    mutant(3, Ch3ChrootInsteadOfPivot()),

    mutant(4, Ch4NoRetryOnEBUSY()),
    mutant(4, Ch4JoinsRuntimeItself()),
    mutant(4, Ch4NoLimitFiles()),
    mutant(4, Ch4MemoryInMebibytes()),
    mutant(4, Ch4CPUQuotaAndPeriodSwapped()),
    mutant(4, Ch4JoinsNothing()),
    mutant(4, Ch4RemovesNothing()),

    mutant(5, Ch5LowerBottomFirst()),
    mutant(5, Ch5NoWorkdir()),
    mutant(5, Ch5UpperIsTopLayer()),
    mutant(5, Ch5NoEscaping()),
    mutant(5, Ch5WhiteoutAsEmptyFile()),
    mutant(5, Ch5WhiteoutNameNotStripped()),
    mutant(5, Ch5OpaqueUserXattr()),
    mutant(5, Ch5OpaqueOnMarker()),

    mutant(6, Ch6FlagsUnderImage()),
    mutant(6, Ch6InheritsHost()),
    mutant(6, Ch6DefaultsOverride()),
    mutant(6, Ch6AppendsInsteadOfReplacing()),
    mutant(6, Ch6EnvFileCommentsKept()),
    mutant(6, Ch6TargetJoined()),
    mutant(6, Ch6ReadOnlyForgotten()),
    mutant(6, Ch6ReadOnlyOnBind()),
    mutant(6, Ch6NotRecursive()),

    mutant(7, Ch7BoundingSetNotCut()),
    mutant(7, Ch7BoundingStopsAtKept()),
    mutant(7, Ch7EffectiveOnly()),
    mutant(7, Ch7InheritableKept()),
    mutant(7, Ch7PermittedNotIntersected()),
    mutant(7, Ch7DefaultActionAllow()),
    mutant(7, Ch7EpermAndEnosysSwapped()),
    mutant(7, Ch7CapabilityConditionsIgnored()),
    mutant(7, Ch7RepeatedArgumentInOneRule()),
    mutant(7, Ch7ArgumentsDropped()),

    mutant(10, Ch10StartNotAwaited()),
    mutant(10, Ch10FifoIsAFile()),
    mutant(10, Ch10RunningBeforeStart()),
    mutant(10, Ch10NeverStopped()),
    mutant(10, Ch10FifoKeptAfterStart()),
    mutant(10, Ch10CreatingForgotten()),
    mutant(10, Ch10DeleteLeavesDirectory()),
]
