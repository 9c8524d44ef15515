public import Logging
public import PostgresNIO
import Synchronization

// PostgresNIO 1.33 never completes a query written to a connection whose channel has just
// closed (it writes the query with no promise, so the failed write is dropped): the caller hangs
// for ever. A database restart makes that likely — the pool can hand out a connection the server
// is ending, and no check before the write closes the window. Every statement of this project
// therefore goes through these helpers, which race the statement against the connection's close
// and fail with `ConnectionLost` (a 503 for the API, a retry for the workers) when the connection
// closes first.

extension PostgresConnection {
    /// Runs a statement and collects its rows; `ConnectionLost` if the connection closes first.
    @discardableResult
    public func fetch(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await untilClosed {
            var rows: [PostgresRow] = []
            for try await row in try await self.query(query, logger: logger) { rows.append(row) }
            return rows
        }
    }

    /// Runs a statement whose rows do not matter.
    public func execute(_ query: PostgresQuery, logger: Logger) async throws {
        _ = try await fetch(query, logger: logger)
    }

    /// Runs `operation` on this connection and returns its result, or throws `ConnectionLost` as
    /// soon as the connection closes or `DatabaseTimeout.current` passes (the connection is then
    /// closed: a server that stopped answering gets no more statements on it), whichever comes
    /// first. The operation runs in a task of its own, so a statement PostgresNIO never completes
    /// is left behind (suspended, holding only its closed connection) instead of its caller.
    /// A statement refused because the server is read-only (`25006`) closes the connection too:
    /// after a failover it reached a standby, and the pool must open a new one to the leader.
    func untilClosed<Value: Sendable>(_ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
        guard !isClosed else { throw ConnectionLost() }
        let answer = Mutex<CheckedContinuation<Value, any Error>?>(nil)
        let take: @Sendable () -> CheckedContinuation<Value, any Error>? = { answer.withLock { $0.take() } }
        let limit = DatabaseTimeout.current
        return try await withCheckedThrowingContinuation { continuation in
            answer.withLock { $0 = continuation }
            let watch = ClosedConnectionWatch.shared.register(self) { take()?.resume(throwing: ConnectionLost()) }
            let timer = limit.map { limit in
                eventLoop.scheduleTask(in: .nanoseconds(Int64(limit / .nanoseconds(1)))) { [self] in
                    guard let waiting = take() else { return }
                    waiting.resume(throwing: ConnectionLost(timedOutAfter: limit))
                    let closing: EventLoopFuture<Void> = close()
                    closing.whenComplete { _ in }
                }
            }
            Task { [self] in
                let result: Result<Value, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                timer?.cancel()
                ClosedConnectionWatch.shared.unregister(watch)
                take()?.resume(with: result)
                if case .failure(let error as PSQLError) = result, error.isReadOnlyServer {
                    // A server that cannot take writes (a standby, or a demoted primary a proxy
                    // still routes to) stays so: this connection must not be leased again. Closed
                    // after the answer, so the caller learns the statement was refused, not lost.
                    let closing: EventLoopFuture<Void> = close()
                    closing.whenComplete { _ in }
                }
            }
        }
    }
}

/// Who waits on which connection: one close callback per connection (not one per statement, which
/// would pile up on a long-lived connection) fails every statement still waiting on it.
final class ClosedConnectionWatch: Sendable {
    static let shared = ClosedConnectionWatch()

    struct Registration: Sendable {
        let connection: ObjectIdentifier
        let id: Int
    }

    private struct Waiters {
        /// Kept until its close callback removes the entry: a connection freed while still listed
        /// would let a new connection at the same address inherit the entry — and the old
        /// connection's close would then fail the new one's statements.
        let connection: PostgresConnection
        var next = 0
        var onClose: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex<[ObjectIdentifier: Waiters]>([:])

    /// Calls `onClose` when `connection` closes, unless unregistered first; at once if it has closed.
    func register(_ connection: PostgresConnection, onClose: @escaping @Sendable () -> Void) -> Registration {
        let key = ObjectIdentifier(connection)
        let (id, isFirst) = state.withLock { connections in
            let isFirst = connections[key] == nil
            var waiters = connections[key] ?? Waiters(connection: connection)
            let id = waiters.next
            waiters.next += 1
            waiters.onClose[id] = onClose
            connections[key] = waiters
            return (id, isFirst)
        }
        if isFirst {
            // The first statement on a connection: from now on a silent peer is found out even while it idles.
            connection.enableKeepalive()
            connection.closeFuture.whenComplete { _ in
                let waiting = self.state.withLock { $0.removeValue(forKey: key) }
                for onClose in waiting?.onClose.values ?? [:].values { onClose() }
            }
        }
        return Registration(connection: key, id: id)
    }

    /// How many statements wait on `connection` (for tests).
    func waiting(on connection: PostgresConnection) -> Int {
        state.withLock { $0[ObjectIdentifier(connection)]?.onClose.count ?? 0 }
    }

    func unregister(_ registration: Registration) {
        state.withLock { connections in
            _ = connections[registration.connection]?.onClose.removeValue(forKey: registration.id)
        }
    }
}

extension PostgresClient {
    /// Runs a statement on a leased connection and collects its rows (see `PostgresConnection.fetch`).
    /// A transient failure becomes `DependencyUnavailable`.
    @discardableResult
    public func fetch(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await Self.unavailableOnTransientFailure {
            try await withConnectionWithinTimeout { connection in try await connection.fetch(query, logger: logger) }
        }
    }

    /// Maps the failures that say nothing about the statement — the database unreachable,
    /// restarting, short of resources — to `DependencyUnavailable`. A lost connection leaves the
    /// outcome unknown; a refused connection or statement does not.
    static func unavailableOnTransientFailure<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let lost as ConnectionLost {
            throw DependencyUnavailable(.database, outcomeUnknown: true, underlying: lost.description)
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
    /// executed: no parsing or planning per call) and collects its rows; `ConnectionLost` if the
    /// connection closes first.
    @discardableResult
    public func run<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        try await untilClosed {
            var rows: [Statement.Row] = []
            for try await row in try await self.execute(statement, logger: logger) { rows.append(row) }
            return rows
        }
    }
}

extension PostgresClient {
    /// Runs a prepared statement on a leased connection (see `PostgresConnection.run`).
    @discardableResult
    public func run<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        try await Self.unavailableOnTransientFailure {
            try await withConnectionWithinTimeout { connection in try await connection.run(statement, logger: logger) }
        }
    }
}
