import Syscalls

/// Why a container did not start, as the person running it should read it: the step
/// of the story that failed, what went wrong there, and the exit code it means.
///
/// Exit codes follow Docker's: 125 the runtime failed, 126 the command cannot be
/// executed, 127 the command was not found.
public struct ContainerError: Error, CustomStringConvertible, Sendable {
    public let step: String
    public let reason: String
    public let exitCode: Int32

    public init(step: String, reason: String, exitCode: Int32 = ExitCode.runtimeFailed) {
        self.step = step
        self.reason = reason
        self.exitCode = exitCode
    }

    public var description: String { "\(step): \(reason)" }
}

/// Docker's exit codes for what goes wrong before the command runs.
public enum ExitCode {
    public static let runtimeFailed: Int32 = 125
    public static let cannotExecute: Int32 = 126
    public static let notFound: Int32 = 127
    /// Added to a signal's number when the container died of that signal.
    public static let signalBase: Int32 = 128
}

/// What a learner's unfinished exercise throws. It names the chapter and the file, so
/// the runtime's error says exactly where to go next.
public struct NotDoneYet: Error, CustomStringConvertible, Sendable {
    public let chapter: Int
    public let file: String
    /// The function to write: the stub's own name, filled in by the compiler.
    public let function: String

    public init(chapter: Int, file: String, function: String = #function) {
        self.chapter = chapter
        self.file = file
        self.function = function
    }

    public var description: String { "chapter \(chapter): not done yet — see \(file), \(function)" }
}

/// Runs one step of the story; any error becomes a `ContainerError` naming the step.
@discardableResult
public func step<T: ~Copyable>(_ name: String, _ body: () throws -> T) throws(ContainerError) -> T {
    do {
        return try body()
    } catch let error as ContainerError {
        throw error
    } catch {
        throw ContainerError(step: name, reason: "\(error)")
    }
}
