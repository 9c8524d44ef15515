public import PostgresNIO
import Synchronization

/// How long the database may take to answer before it counts as unavailable
/// (`CONCERT_DATABASE_TIMEOUT_SECONDS`, 10 s by default): a statement, a new connection, or the
/// wait for a pooled one.
///
/// A server that stops answering without closing its connections (paused, behind a silent
/// network, in the middle of a failover) would otherwise hold every statement for the kernel's
/// TCP timeout, about fifteen minutes. A statement not answered in time fails with
/// `ConnectionLost` (its outcome unknown) and its connection is closed, so the pool opens a new
/// one; a lease not granted in time fails as `DependencyUnavailable` (nothing was sent).
public enum DatabaseTimeout {
    private static let limit = Atomic<Int64>(10_000_000_000)

    /// The limit every statement and lease of this process runs under (`nil` inside `withoutLimit`).
    public static var current: Duration? {
        if isUnlimited { return nil }
        return .nanoseconds(limit.load(ordering: .relaxed))
    }

    /// The process's limit, whether or not the current task runs `withoutLimit`.
    static var configured: Duration { .nanoseconds(limit.load(ordering: .relaxed)) }

    @TaskLocal static var isUnlimited = false

    /// Runs `body` with no time limit on its statements: migrations and the demo seed, which may
    /// rightly take minutes (a lock to wait for, a large table) and are run by an operator.
    public static func withoutLimit<Result>(_ body: () async throws -> Result) async rethrows -> Result {
        try await $isUnlimited.withValue(true) { try await body() }
    }

    /// Sets the process's limit (at start-up, from the configuration).
    public static func set(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        limit.store(max(1, seconds * 1_000_000_000 + attoseconds / 1_000_000_000), ordering: .relaxed)
    }

    /// NIO's event loops carry the timers: cheaper than a task per statement.
    static var timers: any EventLoopGroup { PostgresConnection.defaultEventLoopGroup }
}

extension PostgresClient {
    /// `withConnection`, for at most `DatabaseTimeout.current` waiting for the lease: past it the
    /// wait is abandoned and this throws `DependencyUnavailable` (nothing was sent).
    public func withConnectionWithinTimeout<Value: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Value
    ) async throws -> Value {
        let leased = Atomic<Bool>(false)
        let task = Task {
            try await withConnection { connection in
                leased.store(true, ordering: .relaxed)
                return try await body(connection)
            }
        }
        guard let limit = DatabaseTimeout.current else { return try await task.value }
        let timer = DatabaseTimeout.timers.any().scheduleTask(in: .nanoseconds(Int64(limit / .nanoseconds(1)))) {
            if !leased.load(ordering: .relaxed) { task.cancel() }
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch  where !leased.load(ordering: .relaxed) && !Task.isCancelled {
            // The lease was abandoned (or the pool gave up): the database did not answer in time.
            throw DependencyUnavailable(.database, outcomeUnknown: false, underlying: "no connection within \(limit): \(error)")
        }
    }
}
