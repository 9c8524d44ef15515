public import Logging
public import PostgresNIO

// PostgresNIO 1.33 never completes a query written to a connection whose channel already
// closed: the caller hangs for ever. A database restart makes that likely (the pool can hand out
// a connection the server just ended). Every statement of this project therefore goes through
// these helpers, which check the connection right before writing and fail with `ConnectionLost`
// (a 503 for the API, a retry for the workers) instead.

extension PostgresConnection {
    /// Runs a statement and collects its rows; `ConnectionLost` instead of writing to a closed connection.
    @discardableResult
    public func fetch(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        guard !isClosed else { throw ConnectionLost() }
        var rows: [PostgresRow] = []
        for try await row in try await self.query(query, logger: logger) { rows.append(row) }
        return rows
    }

    /// Runs a statement whose rows do not matter.
    public func execute(_ query: PostgresQuery, logger: Logger) async throws {
        _ = try await fetch(query, logger: logger)
    }
}

extension PostgresClient {
    /// Runs a statement on a leased connection and collects its rows (see `PostgresConnection.fetch`).
    /// A transient failure becomes `DependencyUnavailable`.
    @discardableResult
    public func fetch(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await Self.unavailableOnTransientFailure { try await withConnection { connection in try await connection.fetch(query, logger: logger) } }
    }

    /// Maps the failures that say nothing about the statement — the database unreachable,
    /// restarting, short of resources — to `DependencyUnavailable`. A lost connection leaves the
    /// outcome unknown; a refused connection or statement does not.
    static func unavailableOnTransientFailure<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch is ConnectionLost {
            throw DependencyUnavailable(.database, outcomeUnknown: true, underlying: "connection lost")
        } catch let error as PSQLError where error.isTransient {
            let lost = error.code == .serverClosedConnection || error.code == .uncleanShutdown
            throw DependencyUnavailable(.database, outcomeUnknown: lost, underlying: error.sqlState ?? "\(error.code)")
        }
    }

    /// Runs a statement whose rows do not matter.
    public func execute(_ query: PostgresQuery, logger: Logger) async throws {
        _ = try await fetch(query, logger: logger)
    }
}

extension PostgresConnection {
    /// Runs a prepared statement (prepared on this connection the first time, then only bound and
    /// executed: no parsing or planning per call) and collects its rows; `ConnectionLost` instead
    /// of writing to a closed connection.
    @discardableResult
    public func run<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws -> [Statement.Row] {
        guard !isClosed else { throw ConnectionLost() }
        var rows: [Statement.Row] = []
        for try await row in try await execute(statement, logger: logger) { rows.append(row) }
        return rows
    }
}

extension PostgresClient {
    /// Runs a prepared statement on a leased connection (see `PostgresConnection.run`).
    @discardableResult
    public func run<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws -> [Statement.Row] {
        try await Self.unavailableOnTransientFailure { try await withConnection { connection in try await connection.run(statement, logger: logger) } }
    }
}
