import Foundation
import Glibc

/// `workbook watch`'s rebuild after a save: SwiftPM's own compile and link commands,
/// run directly, when only exercises changed since SwiftPM last built.
///
/// `swift build` spends about 0.45 s of CPU starting and checking its plan before it
/// runs anything, even when one exercise is all that changed: on two busy cores, a
/// third of a save's wait. The commands it would then run are in its plan,
/// `.build/debug.yaml`: compile the Exercises module (its compiler driver is
/// incremental: it compiles again only what the edit touched), and link `workbook`.
/// Anything that could make those two commands the wrong ones sends the save to
/// `./workbook` (SwiftPM) instead: a change outside exercises/ since SwiftPM's last
/// build, an exercise file added or removed (the plan lists the sources), SwiftPM
/// busy in the same directory, a missing plan, or any command failing — so a
/// compile error is always shown by SwiftPM, as `workbook check` shows it.
///
/// SwiftPM does not know about these runs: at its next build it finds their outputs
/// changed and runs the same commands again (nothing to compile, one link). A save
/// that lands while these commands run is caught by the caller, which snapshots the
/// sources before and after (`Freshness.rebuild`) and builds again when they differ.
public enum QuickBuild {
    public enum Outcome: Equatable, Sendable {
        /// The program is built from the exercises on disk.
        case built
        /// Why SwiftPM must build instead (nothing was run).
        case needsSwiftPM(String)
        /// A command failed (a compile error, usually): SwiftPM must build, and show it.
        case failed(String)
    }

    /// Written by `./workbook` when `swift build` succeeds: when that build started.
    public static let swiftPMStamp = ".build/workbook-swiftpm-build-started"

    /// The plan's commands for the Exercises module, its debugging wrapper, the two
    /// modules that import it, and the `workbook` link, with the plan's source list.
    struct Plan {
        var compileExercises: [String]
        var wrapExercises: [String]
        var compileWorkbook: [String]
        var compileMain: [String]
        var link: [String]
        var exerciseSources: Set<String>
        var exercisesModule: String
        var executable: String
        /// The Exercises driver's incremental record (its .swiftdeps and .priors).
        var driverRecord: [String]
    }

    /// Rebuilds `.build/debug/workbook` from the exercises on disk, if this way can.
    public static func rebuild(repository: Repository) -> Outcome {
        // SwiftPM's own lock: it flocks $TMPDIR/<the .build path, "/" as "_">.lock
        // (/tmp/_work_repo_.build.lock) while it builds; while it builds here, we wait
        // for it through ./workbook instead.
        let temporary = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let lockPath = temporary + "/" + repository.path(".build").replacingOccurrences(of: "/", with: "_") + ".lock"
        let lockDescriptor = open(lockPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o666)
        guard lockDescriptor >= 0 else { return .needsSwiftPM("cannot open \(lockPath)") }
        defer { close(lockDescriptor) }
        guard flock(lockDescriptor, LOCK_EX | LOCK_NB) == 0 else { return .needsSwiftPM("SwiftPM is building here") }
        defer { flock(lockDescriptor, LOCK_UN) }

        guard let stamp = Freshness.modificationTime(repository.path(swiftPMStamp)) else {
            return .needsSwiftPM("SwiftPM has not built here through ./workbook yet")
        }
        // Everything but the exercises must be as SwiftPM last saw it.
        let others = Freshness.sources(in: repository).filter { !$0.hasPrefix("exercises/") } + ["Package.resolved"]
        if let changed = others.first(where: { (Freshness.modificationTime(repository.path($0)) ?? 0) > stamp }) {
            return .needsSwiftPM("\(changed) changed since SwiftPM's last build")
        }
        guard let plan = cachedPlan(repository: repository) else { return .needsSwiftPM("no usable .build/debug.yaml") }
        let onDisk = Set(
            Freshness.sources(in: repository).filter { $0.hasPrefix("exercises/") && $0.hasSuffix(".swift") }.map { repository.path($0) })
        guard onDisk == plan.exerciseSources else { return .needsSwiftPM("an exercise file was added or removed") }

        // Every source older than this start is in the program once it is linked.
        let started = repository.path(".build/.workbook-quick-started-\(getpid())")
        guard FileManager.default.createFile(atPath: started, contents: nil) else { return .needsSwiftPM("cannot write in .build") }
        defer { unlink(started) }

        // The modules that import Exercises are compiled again when its interface
        // changed, or when the program was not linked since that interface last was
        // written (a build that stopped between the two): their drivers decide what.
        let moduleBefore = FileManager.default.contents(atPath: plan.exercisesModule)
        let linkedSinceModule =
            (Freshness.modificationTime(plan.executable) ?? 0) >= (Freshness.modificationTime(plan.exercisesModule) ?? .infinity)
        // The compiler driver's record of what it compiled, and when, goes before and
        // after: the driver misses a file saved within moments of its last build (seen
        // here: the save a second after a build compiled nothing, and the program kept
        // the code before it). Without a record it compiles the module's few files
        // whole (about 0.1 s more), here and in SwiftPM's next build.
        func forgetRecord() { for path in plan.driverRecord { unlink(path) } }
        forgetRecord()
        defer { forgetRecord() }
        if let failure = run(plan.compileExercises, in: repository) { return .failed(failure) }
        if moduleBefore != FileManager.default.contents(atPath: plan.exercisesModule) || !linkedSinceModule {
            for command in [plan.wrapExercises, plan.compileWorkbook, plan.compileMain] {
                if let failure = run(command, in: repository) { return .failed(failure) }
            }
        }
        if let failure = run(plan.link, in: repository) { return .failed(failure) }
        guard rename(started, repository.path(".build/workbook-build-started")) == 0 else {
            return .failed("cannot write .build/workbook-build-started")
        }
        return .built
    }

    /// Removes the Exercises driver's incremental record, so that its next run (here or
    /// SwiftPM's) compiles the module's few files whole from what is on disk: the
    /// driver trusts the record's times, and a file saved while it compiled once
    /// looked unchanged to it afterwards (the program kept the code before the save).
    public static func forgetDriverRecord(repository: Repository) {
        let mapPath = repository.path(".build/debug/Exercises.build/output-file-map.json")
        guard let data = FileManager.default.contents(atPath: mapPath),
            let map = try? JSONSerialization.jsonObject(with: data) as? [String: [String: String]],
            let record = map[""]?["swift-dependencies"], record.hasSuffix(".swiftdeps")
        else { return }
        unlink(record)
        unlink(String(record.dropLast(".swiftdeps".count)) + ".priors")
    }

    /// The plan read last, and the identity of the files it was read from.
    nonisolated(unsafe) static var lastPlan: (key: String, plan: Plan)?

    /// `readPlan`, read again only when SwiftPM wrote its plan or the Exercises source
    /// list since: half a megabyte of YAML is a tenth of a second of CPU in a debug
    /// build, four times that in wall time on a busy machine, on every save.
    static func cachedPlan(repository: Repository) -> Plan? {
        let files = [".build/debug.yaml", ".build/debug/Exercises.build/sources", ".build/debug/Exercises.build/output-file-map.json"]
        let identities = files.map { Freshness.identity(of: repository.path($0)) }
        guard !identities.contains(nil) else { return nil }
        let key = identities.map { $0 ?? "" }.joined(separator: "|")
        if let last = lastPlan, last.key == key { return last.plan }
        guard let plan = readPlan(repository: repository) else { return nil }
        lastPlan = (key, plan)
        return plan
    }

    /// The commands, from the `args:` lines of SwiftPM's plan (each a JSON array).
    static func readPlan(repository: Repository) -> Plan? {
        guard let text = try? String(contentsOfFile: repository.path(".build/debug.yaml"), encoding: .utf8) else { return nil }
        var commands: [String: [String]] = [:]
        var key: Substring = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("  \""), line.hasSuffix("\":"), !line.hasPrefix("   ") {
                key = line.dropFirst(3).dropLast(2)
            } else if line.hasPrefix("    args: "), isWanted(key),
                let data = line.dropFirst("    args: ".count).data(using: .utf8),
                let array = try? JSONSerialization.jsonObject(with: data) as? [String]
            {
                commands[String(key)] = array
            }
        }
        func command(_ match: (String) -> Bool) -> [String]? {
            let found = commands.filter { match($0.key) }
            return found.count == 1 ? found.first?.value : nil
        }
        guard
            let compileExercises = command({ $0.hasPrefix("C.Exercises-") && $0.hasSuffix("-debug.module") }),
            let wrapExercises = command({ $0.hasSuffix("/Exercises.build/Exercises.swiftmodule.o") }),
            let compileWorkbook = command({ $0.hasPrefix("C.Workbook-") && $0.hasSuffix("-debug.module") }),
            let compileMain = command({ $0.hasPrefix("C.workbook-") && $0.hasSuffix("-debug.module") }),
            let link = command({ $0.hasPrefix("C.workbook-") && $0.hasSuffix("-debug.exe") }),
            let listArgument = compileExercises.first(where: { $0.hasPrefix("@") && $0.hasSuffix("/Exercises.build/sources") }),
            let list = try? String(contentsOfFile: String(listArgument.dropFirst()), encoding: .utf8),
            let moduleIndex = compileExercises.firstIndex(of: "-emit-module-path"), moduleIndex + 1 < compileExercises.count,
            let outputIndex = link.firstIndex(of: "-o"), outputIndex + 1 < link.count,
            let mapIndex = compileExercises.firstIndex(of: "-output-file-map"), mapIndex + 1 < compileExercises.count,
            let mapData = FileManager.default.contents(atPath: compileExercises[mapIndex + 1]),
            let map = try? JSONSerialization.jsonObject(with: mapData) as? [String: [String: String]],
            let record = map[""]?["swift-dependencies"], record.hasSuffix(".swiftdeps")
        else { return nil }
        // The sources file holds one path a line (quoted when it has a space).
        let sources = Set(
            list.split(separator: "\n").map { line in
                line.hasPrefix("\"") && line.hasSuffix("\"") && line.count >= 2 ? String(line.dropFirst().dropLast()) : String(line)
            })
        // The program the plan links must be the one watch runs.
        let executable = link[outputIndex + 1]
        guard Freshness.resolved(executable) == Freshness.resolved(repository.path(".build/debug/workbook")) else { return nil }
        return Plan(
            compileExercises: compileExercises, wrapExercises: wrapExercises, compileWorkbook: compileWorkbook,
            compileMain: compileMain, link: link, exerciseSources: sources,
            exercisesModule: compileExercises[moduleIndex + 1], executable: executable,
            driverRecord: [record, String(record.dropLast(".swiftdeps".count)) + ".priors"])
    }

    static func isWanted(_ key: Substring) -> Bool {
        key.hasPrefix("C.Exercises-") || key.hasPrefix("C.Workbook-") || key.hasPrefix("C.workbook-")
            || key.hasSuffix("/Exercises.build/Exercises.swiftmodule.o")
    }

    /// Runs one of the plan's commands in `./workbook`'s fixed environment, its output
    /// dropped (SwiftPM shows it when the same command fails there); nil when it worked.
    static func run(_ command: [String], in repository: Repository) -> String? {
        guard let program = command.first else { return "an empty command" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = Array(command.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: repository.root)
        let inherited = ProcessInfo.processInfo.environment
        var environment: [String: String] = [:]
        for key in ["HOME", "PATH", "TMPDIR"] { environment[key] = inherited[key] }
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return "cannot run \(program): \(error.localizedDescription)" }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? nil : "\((program as NSString).lastPathComponent) exited \(process.terminationStatus)"
    }
}
