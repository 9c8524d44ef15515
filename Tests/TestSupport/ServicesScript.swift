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
}
