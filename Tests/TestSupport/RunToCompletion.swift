import Subprocess
import SystemPackage

/// Runs a program to completion through `Subprocess.run`, which waits for its exit without
/// blocking a thread and reaps it: in this process's environment, with its standard input, output
/// and error (as a shell runs a command). Its exit status (killed by a signal: 128 + the signal),
/// or -1 when it cannot be started.
public func runToCompletion(_ path: String, _ arguments: [String]) async -> Int32 {
    do {
        let result = try await Subprocess.run(
            .path(FilePath(path)),
            arguments: Arguments(arguments),
            environment: .inherit,
            input: .currentStandardInput,
            output: .currentStandardOutput,
            error: .currentStandardError
        )
        return shellStatus(result.terminationStatus)
    } catch {
        return -1
    }
}

/// Where the standard error of a command whose output `runCapturingOutput` captures goes.
public enum CapturedCommandErrors: Sendable {
    /// To this process's standard error (what Foundation's `Process` did by default).
    case inherited
    /// To `/dev/null`.
    case discarded
    /// Into the captured output, as `2>&1` does.
    case combinedWithOutput
}

/// Runs a program to completion through `Subprocess.run` and returns its exit status (killed by a
/// signal: 128 + the signal) and standard output (at most 16 MiB); nothing blocks a thread meanwhile.
/// It runs in exactly `environment`, or in this process's environment when that is nil, with this
/// process's standard input. Throws when it cannot be started.
public func runCapturingOutput(
    _ path: String,
    _ arguments: [String],
    environment: [String: String]? = nil,
    standardError: CapturedCommandErrors = .inherited
) async throws -> (status: Int32, output: String) {
    let configuration = Subprocess.Configuration(
        executable: .path(FilePath(path)),
        arguments: Arguments(arguments),
        environment: environment.map(exactly) ?? .inherit
    )
    switch standardError {
    case .inherited: return try await capture(configuration, error: .currentStandardError)
    case .discarded: return try await capture(configuration, error: .discarded)
    case .combinedWithOutput: return try await capture(configuration, error: .combinedWithOutput)
    }
}

private func capture<ErrorOutput: ErrorOutputProtocol>(
    _ configuration: Subprocess.Configuration,
    error: ErrorOutput
) async throws -> (status: Int32, output: String) {
    let result = try await Subprocess.run(
        configuration,
        input: .currentStandardInput,
        output: .string(limit: 16 * 1024 * 1024),
        error: error
    )
    return (shellStatus(result.terminationStatus), result.standardOutput)
}

/// `environment` exactly, nothing inherited.
func exactly(_ environment: [String: String]) -> Subprocess.Environment {
    .custom(Dictionary(uniqueKeysWithValues: environment.map { (Subprocess.Environment.Key(rawValue: $0.key)!, $0.value) }))
}

/// Exited normally: its exit code; killed by a signal: 128 + the signal, as a shell says.
func shellStatus(_ status: TerminationStatus) -> Int32 {
    switch status {
    case .exited(let code): code
    case .signaled(let signal): 128 + signal
    }
}
