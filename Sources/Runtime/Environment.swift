import Glibc
import Syscalls

// Chapter 6 — the environment: configuration that comes from outside the image.
//
// The same image runs everywhere; what differs between a laptop and production comes
// in through a few controlled doors, and variables are the first of them. The
// container never inherits the runtime's own environment: the host's variables (an
// SSH agent's socket, a cloud token, the host's PATH and HOME) are not the container's
// business, and leaking them is how secrets end up in a container's logs.
//
// Docker's precedence, lowest first — a later source replaces an earlier one's
// variable of the same name, in place (chapter 6's `environment` does the merge, in the
// child; step 1 reads the sources, so a bad env file fails before anything exists):
//
//   PATH, HOSTNAME, HOME, TERM   defaults, only for names nobody else set
//   the image's Env              what the image's author chose
//   config.json process.env      what a tool wrote (run --config)
//   --env-file FILE ...          each file in order
//   -e K=V, -e K ...             each flag in order (-e K: the host's value, if set)

/// `-e K=V` as given, or `-e K` with the host's value: the variable, or nil when K is
/// not set on the host (Docker leaves it out rather than set it empty).
public func environmentFlag(_ value: String) throws(ContainerError) -> String? {
    let name = variableName(value)
    if let problem = variableNameProblem(name) {
        throw ContainerError(step: "check the request", reason: "-e \(ContainerSpec.quoted(value)): \(problem)")
    }
    if name.utf8.count < value.utf8.count { return value }
    return environmentValue(name).map { name + "=" + $0 }
}

/// The variables of an env file in Docker's format: `K=V` and `K` lines (K: the host's
/// value, left out if unset), `#` comments and blank lines skipped, leading whitespace
/// dropped. No quotes are processed: `K="v"` sets K to `"v"`, quotes and all, as Docker
/// does — an env file is not a shell script.
public func environmentFile(_ path: String) throws(ContainerError) -> [String] {
    environmentFileVariables(try environmentFileLines(path))
}

/// The lines of an env file as written, once checked (step 1): a missing file or a
/// malformed line fails here, naming the line, before anything exists. The child
/// reads the variables out of them (chapter 6's `environment`).
public func environmentFileLines(_ path: String) throws(ContainerError) -> [String] {
    func invalid(_ reason: String) -> ContainerError {
        ContainerError(step: "read the env file", reason: "--env-file \(path): \(reason)")
    }
    let bytes: [UInt8]
    do {
        // 1 MiB, far past what execve(2) takes in all (ARG_MAX): `--env-file /dev/zero`
        // ends here instead of in the runtime's memory running out.
        bytes = try readFile(path, limit: 1 << 20)
    } catch {
        let hint = error.errno == ENOENT ? " — give the path of an existing file (relative to where you run scratch)" : ""
        let size = error.errno == EFBIG ? " (more than 1 MiB: not an env file)" : ""
        throw invalid("\(Errno.describe(error.errno))\(size)\(hint)")
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw invalid("not UTF-8 text — an env file holds K=V lines")
    }
    var lines: [String] = []
    for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        var line = Substring(rawLine)
        if line.last == "\r" { line.removeLast() }
        // A byte-order mark, as some editors write, is not part of the first name.
        if index == 0 && line.hasPrefix("\u{FEFF}") { line.removeFirst() }
        lines.append(String(line))
        let content = line.drop { $0 == " " || $0 == "\t" }
        if content.isEmpty || content.hasPrefix("#") { continue }
        let name = variableName(String(content))
        if let problem = variableNameProblem(name) {
            throw invalid("line \(index + 1): \(ContainerSpec.quoted(String(content))): \(problem)")
        }
        if name.contains(where: { $0 == " " || $0 == "\t" }) {
            throw invalid("line \(index + 1): the name \(ContainerSpec.quoted(name)) holds whitespace — write K=V with no space before '='")
        }
    }
    return lines
}

/// The variables of an env file's (checked) lines: comments and blank lines skipped,
/// leading whitespace dropped, a bare `K` given the host's value or left out.
public func environmentFileVariables(_ lines: [String]) -> [String] {
    var variables: [String] = []
    for rawLine in lines {
        let line = String(rawLine.drop { $0 == " " || $0 == "\t" })
        if line.isEmpty || line.hasPrefix("#") { continue }
        let name = variableName(line)
        if name.utf8.count < line.utf8.count {
            variables.append(line)
        } else if let value = environmentValue(name) {
            variables.append(name + "=" + value)
        }
    }
    return variables
}

/// `base` with each of `overrides` replacing the variable of the same name in place,
/// or appended when `base` has none: how Docker lays -e over the image's Env.
public func mergedEnvironment(_ base: [String], _ overrides: [String]) -> [String] {
    var result = base
    for variable in overrides {
        let name = variableName(variable)
        if let index = result.firstIndex(where: { variableName($0) == name }) {
            result[index] = variable
        } else {
            result.append(variable)
        }
    }
    return result
}

/// The environment the command starts with: the container's own variables (image, env
/// files, -e, already merged), and Docker's defaults for the names they leave unset.
/// `scratch exec` starts its process with it; the container's first process gets
/// chapter 6's `environment`, from the sources.
public func containerEnvironment(_ variables: [String], hostname: String, home: String) -> [String] {
    let names = Set(variables.map(variableName))
    return defaultEnvironment(hostname: hostname, home: home).filter { !names.contains(variableName($0)) } + variables
}

/// Docker's defaults: PATH, HOSTNAME, HOME and, on a terminal, TERM.
///
/// HOME comes from the user's passwd entry (chapter 6's `--user`), so `-u app` gets
/// `/home/app` and not root's. TERM only when a terminal is attached: then the
/// terminal is the host's, and the host's TERM is what describes it; a container whose
/// output goes to a pipe or a file has no terminal to describe.
public func defaultEnvironment(hostname: String, home: String) -> [String] {
    var defaults = ["PATH=" + defaultPath, "HOSTNAME=" + hostname, "HOME=" + home]
    if isatty(0) == 1 || isatty(1) == 1 {
        defaults.append("TERM=" + (environmentValue("TERM") ?? "xterm"))
    }
    return defaults
}

/// Where the container's variables come from (step 1 reads them; the child merges
/// them with chapter 6's `environment`).
public struct EnvironmentSources: Sendable, Equatable {
    /// The image's Env.
    public var image: [String] = []
    /// A config file's process.env.
    public var config: [String] = []
    /// Every --env-file's lines, as written, in order.
    public var envFileLines: [String] = []
    /// -e, in order, `-e K` given the host's value (or left out).
    public var flags: [String] = []

    public init() {}
}

extension Reference: ConfigurationSteps {
    public func environment(image: [String], config: [String], envFileLines: [String], flags: [String], defaults: [String]) -> [String] {
        // Lowest first: each later source replaces an earlier one's variable in place.
        var merged = image
        for source in [config, environmentFileVariables(envFileLines), flags] {
            merged = mergedEnvironment(merged, source)
        }
        // The defaults only fill gaps: an image that sets its own PATH keeps it.
        let names = Set(merged.map(variableName))
        return defaults.filter { !names.contains(variableName($0)) } + merged
    }
}

/// The name part of `K=V` (all of it when there is no '=').
public func variableName(_ variable: String) -> String {
    guard let equals = variable.utf8.firstIndex(of: UInt8(ascii: "=")) else { return variable }
    return String(variable[..<equals])
}

/// What is wrong with a variable's name, or nil. Docker refuses only an empty name;
/// so do we: `-e =x` and `-e ''` name nothing, and a name with a NUL cannot reach
/// execve(2) at all.
func variableNameProblem(_ name: String) -> String? {
    if name.isEmpty { return "a variable needs a name before '=' — write -e NAME=value, or -e NAME to pass the host's NAME" }
    return nil
}
