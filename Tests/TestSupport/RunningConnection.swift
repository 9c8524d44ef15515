public import AMQPClient
import Logging

/// Runs `body` with `connection` running (its `run()` in a child task), and shuts it down afterwards.
public func withRunning<Result: Sendable>(_ connection: AMQPConnection, _ body: (AMQPConnection) async throws -> Result) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await connection.run() }
        defer { group.cancelAll() }
        return try await body(connection)
    }
}

/// Runs `body` with a connection to `configuration` that is running and connected.
public func withConnection<Result: Sendable>(
    _ configuration: AMQPConfiguration,
    _ body: (AMQPConnection) async throws -> Result
) async throws
    -> Result
{
    var logger = Logger(label: "tests")
    logger.logLevel = .error
    return try await withRunning(AMQPConnection(configuration: configuration, logger: logger)) { connection in
        try await connection.waitUntilConnected(timeout: .seconds(10))
        return try await body(connection)
    }
}
