import Foundation

/// `scripts/services`, as a test that stops, restarts, kills or alarms a service runs it.
public enum ServicesScript {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/services").path

    /// Runs `scripts/services ARGUMENTS` to completion, its output to this process's; its exit status.
    ///
    /// `disturbing`: the command may stop, restart, kill or pause the broker. From then on this
    /// process deletes a virtual host only once its quorum queues run with a leader again
    /// (`BrokerVirtualHost`). False for one that leaves the broker alone (a PostgreSQL member's).
    public static func run(_ arguments: [String], disturbing: Bool = true) async -> Int32 {
        if disturbing { BrokerVirtualHost.noteDisturbance() }
        return await runToCompletion(path, arguments)
    }

    /// Runs `scripts/services ARGUMENTS` to completion with its standard output captured; its exit
    /// status and output. `disturbing` as for `run`; false for a command that only looks at a
    /// service or closes connections.
    public static func output(
        _ arguments: [String],
        disturbing: Bool,
        standardError: CapturedCommandErrors = .inherited
    ) async throws -> (status: Int32, output: String) {
        if disturbing { BrokerVirtualHost.noteDisturbance() }
        return try await runCapturingOutput(path, arguments, standardError: standardError)
    }
}
