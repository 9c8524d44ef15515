import Foundation

/// `scripts/services`, as a test that stops, restarts, kills or alarms a service runs it.
public enum ServicesScript {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/services").path

    /// Runs `scripts/services ARGUMENTS` to completion, its output to this process's; its exit status.
    ///
    /// The test may be disturbing the broker: from now on this process deletes a virtual host only
    /// once its quorum queues run with a leader again (`BrokerVirtualHost`).
    public static func run(_ arguments: [String]) async -> Int32 {
        BrokerVirtualHost.noteDisturbance()
        return await runToCompletion(path, arguments)
    }

    /// Runs `scripts/services ARGUMENTS` to completion with its standard output captured; its exit
    /// status and output. `disturbing`: the command may stop, restart or alarm the broker (as
    /// `run`); false for one that only looks at it or closes connections.
    public static func output(_ arguments: [String], disturbing: Bool) async throws -> (status: Int32, output: String) {
        if disturbing { BrokerVirtualHost.noteDisturbance() }
        return try await runCapturingOutput(path, arguments)
    }
}
