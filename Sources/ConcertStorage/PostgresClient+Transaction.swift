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
            try await connection.query("BEGIN", logger: logger)
            let value: Result
            do {
                value = try await body(connection)
            } catch {
                if !connection.isClosed {
                    // The body's error is what matters; a failed rollback ends with the connection anyway.
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                }
                throw error
            }
            guard !connection.isClosed else { throw ConnectionLost() }
            try await connection.query("COMMIT", logger: logger)
            return value
        }
    }
}

/// The database connection closed in the middle of a transaction; nothing was committed.
public struct ConnectionLost: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the database connection closed during the transaction; nothing was committed" }
}
