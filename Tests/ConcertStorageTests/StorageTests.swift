import ConcertDomain
import Foundation
import PostgresNIO
import TestSupport
import Testing

@testable import ConcertStorage

@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct StorageTests {
    let logger = DatabaseEnvironment.logger

    @Test func roundTripThroughPostgresNIO() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            try await client.query("CREATE TABLE notes (id integer PRIMARY KEY, text text NOT NULL)", logger: logger)
            let text = "one statement, bound values: ' ; DROP TABLE notes; --"
            try await client.query("INSERT INTO notes (id, text) VALUES (\(1), \(text))", logger: logger)
            let rows = try await client.query("SELECT id, text FROM notes", logger: logger)
            var read: [(Int, String)] = []
            for try await row in rows.decode((Int, String).self) { read.append(row) }
            #expect(read.count == 1)
            #expect(read.first?.0 == 1)
            #expect(read.first?.1 == text)
        }
    }

    @Test func migrationsApplyInOrderOnceAndRecordTheirVersions() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            let first = try await Migrator().migrate(client, logger: logger)
            #expect(first == Migration.all.map(\.version))
            let second = try await Migrator().migrate(client, logger: logger)
            #expect(second.isEmpty)

            var recorded: [Int] = []
            for try await version in try await client.query("SELECT version FROM schema_migrations ORDER BY version", logger: logger)
                .decode(Int.self)
            {
                recorded.append(version)
            }
            #expect(recorded == Migration.all.map(\.version))
        }
    }

    @Test func aDatabaseNewerThanTheBuildIsRefused() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            try await Migrator().migrate(client, logger: logger)
            try await client.query("INSERT INTO schema_migrations (version, name) VALUES (9999, 'from the future')", logger: logger)
            await #expect(throws: MigrationError.self) { try await Migrator().migrate(client, logger: logger) }
        }
    }

    @Test func seedLoadsTheDemoCatalogueAndIsIdempotent() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            try await Migrator().migrate(client, logger: logger)
            let first = try await DemoData().seed(client, logger: logger)
            #expect(first == DemoData.Summary(concerts: 3, schedules: 15, seats: 750))
            // A seat sold between two runs stays sold.
            try await client.query(
                "UPDATE seats SET state = 'sold', reservation_id = gen_random_uuid() WHERE number = 1",
                logger: logger
            )
            let second = try await DemoData().seed(client, logger: logger)
            #expect(second == first)
            let sold = try await client.query("SELECT count(*) FROM seats WHERE state = 'sold'", logger: logger).decode(Int.self)
            for try await count in sold { #expect(count == 15) }

            let prices = try await client.query("SELECT DISTINCT price FROM seats ORDER BY price", logger: logger).decode(Int64.self)
            var distinct: [Int64] = []
            for try await price in prices { distinct.append(price) }
            #expect(distinct == [80_000, 110_000, 150_000])
        }
    }

    @Test func seedTakesTheShapeItIsAskedFor() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            try await Migrator().migrate(client, logger: logger)
            let summary = try await DemoData(concerts: 5, dates: 2, seats: 7).seed(client, logger: logger)
            #expect(summary == DemoData.Summary(concerts: 5, schedules: 10, seats: 70))
            let titles = try await client.query("SELECT title FROM concerts ORDER BY id", logger: logger).decode(String.self)
            var names: [String] = []
            for try await title in titles { names.append(title) }
            #expect(names == DemoData.titles + ["Concert #4", "Concert #5"])
            // Dates a week apart from a week ahead, and every concert's waiting room came with it.
            let offsets = try await client.query(
                "SELECT DISTINCT date - current_date FROM schedules ORDER BY 1",
                logger: logger
            ).decode(Int.self)
            var days: [Int] = []
            for try await offset in offsets { days.append(offset) }
            #expect(days == [7, 14])
            let rooms = try await client.query("SELECT count(*) FROM waiting_rooms", logger: logger).decode(Int.self)
            for try await count in rooms { #expect(count == 5) }
        }
    }

    @Test func constraintsBackTheInvariants() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            try await Migrator().migrate(client, logger: logger)
            try await DemoData().seed(client, logger: logger)

            // A wallet is never negative.
            try await client.query("INSERT INTO wallets (user_id, balance) VALUES ('alice', 100)", logger: logger)
            await #expect(throws: PSQLError.self) {
                try await client.query("UPDATE wallets SET balance = balance - 101 WHERE user_id = 'alice'", logger: logger)
            }

            // A seat has at most one live hold or sale.
            let insertHold: (String) async throws -> Void = { user in
                try await client.query(
                    """
                    INSERT INTO reservations (id, schedule_id, seat_number, user_id, price, status, held_until)
                    SELECT gen_random_uuid(), id, 7, \(user), 80000, 'held', now() + interval '5 minutes'
                    FROM schedules ORDER BY id LIMIT 1
                    """,
                    logger: logger
                )
            }
            try await insertHold("alice")
            await #expect(throws: PSQLError.self) { try await insertHold("bob") }

            // One payment per reservation.
            let insertPayment = { () async throws -> Void in
                _ = try await client.query(
                    """
                    INSERT INTO payments (id, reservation_id, user_id, amount, balance_after, paid_at)
                    SELECT gen_random_uuid(), id, user_id, price, 0, now() FROM reservations LIMIT 1
                    """,
                    logger: logger
                )
            }
            try await insertPayment()
            await #expect(throws: PSQLError.self) { try await insertPayment() }
        }
    }
}

/// PostgresNIO 1.33 never answers a statement written to a connection that has just closed; every
/// statement of the project therefore races the connection's close (`untilClosed`).
@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct ClosedConnectionTests {
    let logger = DatabaseEnvironment.logger

    @Test func aStatementStillWaitingWhenTheServerEndsTheConnectionFailsWithConnectionLost() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            try await client.withConnection { connection in
                let backend = try await connection.fetch("SELECT pg_backend_pid()", logger: logger)[0].decode(Int32.self)
                // Stands for the statement PostgresNIO never answers: it waits far longer than the test.
                let waiting = Task {
                    try await connection.untilClosed {
                        try await Task.sleep(for: .seconds(600))
                        return 0
                    }
                }
                let started = ContinuousClock.now
                try await client.withConnection { other in
                    try await other.execute("SELECT pg_terminate_backend(\(backend))", logger: logger)
                }
                await #expect(throws: ConnectionLost.self) { try await waiting.value }
                #expect(ContinuousClock.now - started < .seconds(10))
                // And the next statement on it fails at once instead of hanging.
                await #expect(throws: ConnectionLost.self) { try await connection.execute("SELECT 1", logger: logger) }
            }
        }
    }

    @Test func statementsThatFinishLeaveNothingWaitingOnTheConnection() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            try await client.withConnection { connection in
                for value in 0..<50 {
                    let rows = try await connection.fetch("SELECT \(value)::int", logger: logger)
                    #expect(try rows[0].decode(Int.self) == value)
                }
                #expect(ClosedConnectionWatch.shared.waiting(on: connection) == 0)
            }
        }
    }
}
