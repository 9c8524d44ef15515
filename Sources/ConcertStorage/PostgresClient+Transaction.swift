public import Logging
public import PostgresNIO

extension PostgresClient {
    /// `withTransaction`, but a failure of the closure surfaces as the closure's own error (the rollback
    /// still happens) instead of inside a `PostgresTransactionError`, so callers can match on it.
    public func withUnwrappedTransaction<Result>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        do {
            return try await withTransaction(logger: logger, isolation: isolation, body)
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error
        }
    }
}
