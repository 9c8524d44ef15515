import Foundation
import Logging
import PostgresNIO

/// What the soak checks in the database when the load is over: every accepted command settled,
/// and the invariants of DESIGN §7 (1–6) — each check a count of violations, which must be 0.
struct SoakChecks {
    let database: PostgresClient
    let logger: Logger

    struct Check: Sendable, Codable {
        let name: String
        let violations: Int
    }

    /// Of `ids`, how many have no outcome and are not in the dead-letter archive.
    func unsettled(_ ids: [UUID]) async throws -> Int {
        var settled = 0
        for chunk in stride(from: 0, to: ids.count, by: 20_000).map({ Array(ids[$0..<min($0 + 20_000, ids.count)]) }) {
            let texts = chunk.map { $0.uuidString.lowercased() }
            let rows = try await database.query(
                """
                SELECT (SELECT count(*) FROM commands WHERE id = ANY(\(chunk)) AND status IN ('succeeded', 'failed'))
                     + (SELECT count(*) FROM dead_letters WHERE message_id = ANY(\(texts)))
                """,
                logger: logger
            )
            for try await count in rows.decode(Int.self) { settled += count }
        }
        return ids.count - settled
    }

    /// Of `ids`, how many were applied (an answer of unknown outcome may or may not have been enqueued).
    func applied(_ ids: [UUID]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        let rows = try await database.query(
            "SELECT count(*) FROM commands WHERE id = ANY(\(ids)) AND status IN ('succeeded', 'failed')",
            logger: logger
        )
        return try await rows.decode(Int.self).reduce(0, +)
    }

    /// How long the most overdue live hold has been past its deadline, in seconds (0 if none).
    func mostOverdueHold() async throws -> Double {
        let rows = try await database.query(
            "SELECT coalesce(extract(epoch FROM now() - min(held_until)), 0)::float8 FROM reservations WHERE status = 'held' AND held_until < now()",
            logger: logger
        )
        return try await rows.decode(Double.self).reduce(0, +)
    }

    /// The invariants, as counts of violations.
    func invariants() async throws -> [Check] {
        let checks: [(String, String)] = [
            (
                "1 no seat with two live reservations",
                """
                SELECT count(*) FROM (SELECT 1 FROM reservations WHERE status IN ('held', 'paid')
                                      GROUP BY schedule_id, seat_number HAVING count(*) > 1) AS doubled
                """
            ),
            (
                "1 every sold seat is sold to its paid reservation",
                """
                SELECT count(*) FROM seats s WHERE s.state = 'sold' AND NOT EXISTS (
                    SELECT 1 FROM reservations r WHERE r.id = s.reservation_id AND r.status = 'paid'
                      AND r.schedule_id = s.schedule_id AND r.seat_number = s.number)
                """
            ),
            (
                "1 every paid reservation's seat is sold to it",
                """
                SELECT count(*) FROM reservations r WHERE r.status = 'paid' AND NOT EXISTS (
                    SELECT 1 FROM seats s WHERE s.schedule_id = r.schedule_id AND s.number = r.seat_number
                      AND s.state = 'sold' AND s.reservation_id = r.id)
                """
            ),
            (
                "2 no wallet negative or different from the sum of its ledger",
                """
                SELECT count(*) FROM wallets w WHERE w.balance < 0
                    OR w.balance <> (SELECT coalesce(sum(l.amount), 0) FROM wallet_ledger l WHERE l.user_id = w.user_id)
                """
            ),
            (
                "3 every paid reservation has one receipt, one debit of its price and an expired token",
                """
                SELECT count(*) FROM reservations r WHERE r.status = 'paid' AND (
                    (SELECT count(*) FROM payments p WHERE p.reservation_id = r.id) <> 1
                    OR (SELECT count(*) FROM payments p JOIN wallet_ledger l ON l.command_id = p.id
                        WHERE p.reservation_id = r.id AND p.amount = r.price AND l.kind = 'payment' AND l.amount = -r.price) <> 1
                    OR NOT EXISTS (SELECT 1 FROM schedules sc JOIN queue_tokens t ON t.concert_id = sc.concert_id
                                   WHERE sc.id = r.schedule_id AND t.user_id = r.user_id AND t.state = 'expired'))
                """
            ),
            (
                "3 no receipt for a reservation that is not paid",
                "SELECT count(*) FROM payments p JOIN reservations r ON r.id = p.reservation_id WHERE r.status <> 'paid'"
            ),
            (
                "3 every successful payment command has its receipt, and every receipt its command",
                """
                SELECT (SELECT count(*) FROM commands c WHERE c.type = 'Pay' AND c.status = 'succeeded'
                          AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = c.id))
                     + (SELECT count(*) FROM payments p
                          WHERE NOT EXISTS (SELECT 1 FROM commands c WHERE c.id = p.id AND c.type = 'Pay' AND c.status = 'succeeded'))
                """
            ),
            (
                "5 no command with two debits",
                "SELECT count(*) FROM (SELECT 1 FROM wallet_ledger WHERE command_id IS NOT NULL GROUP BY command_id HAVING count(*) > 1) AS twice"
            ),
            (
                "5 every reservation made by exactly one successful command, and every such command made one",
                """
                SELECT (SELECT count(*) FROM reservations r
                          WHERE NOT EXISTS (SELECT 1 FROM commands c WHERE c.id = r.id AND c.type = 'ReserveSeat' AND c.status = 'succeeded'))
                     + (SELECT count(*) FROM commands c WHERE c.type = 'ReserveSeat' AND c.status = 'succeeded'
                          AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.id = c.id))
                """
            ),
            (
                "6 no unpaid hold more than 2 s past its deadline",
                "SELECT count(*) FROM reservations WHERE status = 'held' AND held_until < now() - interval '2 seconds'"
            ),
            (
                "6 no seat held more than 2 s past its deadline",
                "SELECT count(*) FROM seats WHERE state = 'held' AND hold_deadline < now() - interval '2 seconds'"
            ),
        ]
        var results: [Check] = []
        for (name, sql) in checks {
            let rows = try await database.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            results.append(Check(name: name, violations: try await rows.decode(Int.self).reduce(0, +)))
        }
        return results
    }

    /// Totals worth reporting.
    func totals() async throws -> [String: Int] {
        let rows = try await database.query(
            """
            SELECT (SELECT count(*) FROM commands WHERE type = 'ReserveSeat' AND status = 'succeeded'),
                   (SELECT count(*) FROM commands WHERE type = 'ReserveSeat' AND status = 'failed'),
                   (SELECT count(*) FROM commands WHERE type = 'Pay' AND status = 'succeeded'),
                   (SELECT count(*) FROM commands WHERE type = 'Pay' AND status = 'failed'),
                   (SELECT count(*) FROM reservations WHERE status = 'expired'),
                   (SELECT count(*) FROM dead_letters)
            """,
            logger: logger
        )
        for try await (held, refused, paid, unpaid, expired, dead) in rows.decode((Int, Int, Int, Int, Int, Int).self) {
            return [
                "reservations succeeded": held, "reservations failed": refused, "payments succeeded": paid,
                "payments failed": unpaid, "holds expired": expired, "dead letters": dead,
            ]
        }
        return [:]
    }
}
