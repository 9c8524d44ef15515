public import Logging
public import PostgresNIO

extension PostgresClient {
    /// Runs `body` in a transaction on one leased connection: `BEGIN`, then `COMMIT` if it returns,
    /// `ROLLBACK` if it throws — and a failure surfaces as the body's own error, so callers can match on it.
    ///
    /// Unlike `PostgresClient.withTransaction`, it never writes to a connection that has already
    /// closed: PostgresNIO 1.33 never completes a query written to a closed channel, so a database
    /// restart in the middle of a transaction would hang the caller for ever on the `ROLLBACK`.
    public func withUnwrappedTransaction<Result>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await withConnection(isolation: isolation) { connection in
            try await connection.execute("BEGIN" as PostgresQuery, logger: logger)
            let value: Result
            do {
                value = try await body(connection)
            } catch {
                // The body's error is what matters; a failed rollback ends with the connection anyway.
                try? await connection.execute("ROLLBACK" as PostgresQuery, logger: logger)
                throw error
            }
            try await connection.execute("COMMIT" as PostgresQuery, logger: logger)
            return value
        }
    }
}

/// The database connection closed before a statement was answered. Nothing of an open
/// transaction was committed — unless the statement was its `COMMIT`, whose outcome is then unknown.
public struct ConnectionLost: Error, CustomStringConvertible {
    /// Set when the connection was closed because the statement was not answered within it.
    public let timedOutAfter: Duration?

    public init(timedOutAfter: Duration? = nil) { self.timedOutAfter = timedOutAfter }

    public var description: String {
        if let timedOutAfter { return "the database did not answer the statement within \(timedOutAfter); its connection was closed" }
        return "the database connection closed before the statement was answered"
    }
}
