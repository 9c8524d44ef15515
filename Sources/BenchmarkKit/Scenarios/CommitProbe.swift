import Foundation
import Logging
import PostgresNIO

/// Reads from the sandbox's database what the pipeline committed: how many reservations are
/// decided, and when each command was committed.
struct CommitProbe: Sendable {
    let client: PostgresClient
    let logger: Logger

    /// Reservation commands with an outcome.
    func decided() async throws -> Int {
        let rows = try await client.query(
            "SELECT count(*) FROM commands WHERE type = 'ReserveSeat' AND status <> 'pending'",
            logger: logger
        )
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// Waits until `target` reservations are decided; returns when that was seen, or throws after `timeout`.
    @discardableResult
    func waitUntilDecided(
        _ target: Int,
        from start: Int = 0,
        timeout: Duration = .seconds(180),
        progress: Progress? = nil
    ) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + timeout
        while true {
            let count = try await decided()
            progress?.update(done: count - start, total: target - start)
            if count >= target { return .now }
            guard ContinuousClock.now < deadline else {
                throw BenchError("only \(count) of \(target) accepted reservations were committed within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// When each command was committed (`completed_at`), for the ids that have an outcome.
    func completions(of ids: [UUID]) async throws -> [UUID: Date] {
        var completions: [UUID: Date] = [:]
        for chunk in stride(from: 0, to: ids.count, by: 10_000).map({ Array(ids[$0..<min($0 + 10_000, ids.count)]) }) {
            let rows = try await client.query(
                "SELECT id, completed_at FROM commands WHERE id = ANY(\(chunk)) AND completed_at IS NOT NULL",
                logger: logger
            )
            for try await (id, completed) in rows.decode((UUID, Date).self) { completions[id] = completed }
        }
        return completions
    }
}
