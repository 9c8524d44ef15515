import ConcertDomain
import Foundation
import PostgresNIO
import TestSupport
import Testing

@testable import ConcertStorage

/// The statements of the hot paths: how they read (by index, whatever a table holds) and what
/// they refuse (a stale write of a partition).
@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct PartitionStatementTests {
    let logger = DatabaseEnvironment.logger

    /// A connection keeps the generic plan it settled on while `queue_tokens` was empty; the issue
    /// statement must still look up each requested user's live token by index, not scan every live
    /// token of the concert per batch (which made token issue slower the longer the queue grew).
    @Test func tokenIssueReadsOnlyTheRequestedUsersTokensWhateverTheQueueLength() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            try await Migrator().migrate(client, logger: logger)
            _ = try await DemoData().seed(client, logger: logger)
            let users = (1...10).map { "new-user-\($0)" }.joined(separator: ",")
            let read = try await queueTokenRowsRead(
                client,
                prepare: "issue_probe(bigint[], text[])",
                as: WaitingRoomStore.IssueTokens.sql,
                warmUp: "('{1}', '{first-user}')",
                probe: "('{1,1,1,1,1,1,1,1,1,1}', '{\(users)}')"
            )
            #expect(read <= 10, "the issue statement read \(read) rows of queue_tokens for 10 new users")
        }
    }

    /// The API's batched token read answers each key that has a row, and its generic plan looks
    /// each key up alone, however long the queue grew after the plan was made.
    @Test func tokenRowsAreReadByKeyWhateverTheQueueLength() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            try await Migrator().migrate(client, logger: logger)
            _ = try await DemoData().seed(client, logger: logger)
            let store = WaitingRoomStore(client: client, logger: logger)
            let concert = ConcertID(1)!
            let alice = try await store.issue(concert: concert, user: UserID("alice")!).token
            let bob = try await store.issue(concert: concert, user: UserID("bob")!).token
            let rows = try await store.tokens([(concert, bob.seq), (concert, 999_999), (concert, alice.seq), (ConcertID(2)!, alice.seq)])
            #expect(rows.map(\.userID.rawValue) == ["bob", "alice"])
            #expect(rows.map(\.seq) == [bob.seq, alice.seq])
            #expect(try await store.tokens([]).isEmpty)

            let read = try await queueTokenRowsRead(
                client,
                prepare: "rows_probe(bigint[], bigint[])",
                as: WaitingRoomStore.TokenRows.sql,
                warmUp: "('{1}', '{1}')",
                probe: "('{1,1,1,1,1}', '{3,30,300,3000,30000}')"
            )
            #expect(read <= 5, "the token read statement read \(read) rows of queue_tokens for 5 keys")
        }
    }

    /// Prepares `sql` as `prepare` on one connection, runs it with `warmUp` while `queue_tokens`
    /// is nearly empty and keeps that generic plan (as a pooled connection would), grows the queue
    /// by 20 000 waiting tokens, and returns the rows of `queue_tokens` the plan reads for `probe`.
    func queueTokenRowsRead(_ client: PostgresClient, prepare: String, as sql: String, warmUp: String, probe: String) async throws -> Int {
        try await client.withConnection { connection in
            let name = String(prepare.prefix { $0 != "(" })
            try await connection.query(PostgresQuery(unsafeSQL: "PREPARE \(prepare) AS " + sql), logger: logger)
            try await connection.query("SET plan_cache_mode = force_generic_plan", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: "EXECUTE \(name)\(warmUp)"), logger: logger)
            try await connection.query(
                """
                INSERT INTO queue_tokens (concert_id, seq, user_id, state)
                SELECT 1, nextval('queue_seq_1'), 'waiting-' || g, 'waiting' FROM generate_series(1, 20000) AS g
                """,
                logger: logger
            )
            let explained = try await connection.fetch(
                PostgresQuery(unsafeSQL: "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE \(name)\(probe)"),
                logger: logger
            )
            let plan = try explained[0].decode(String.self)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(plan.utf8)) as? [[String: Any]])
            return Self.rowsRead(from: "queue_tokens", in: try #require(document.first?["Plan"] as? [String: Any]))
        }
    }

    /// Rows the plan's scans of `table` returned (per loop times loops), modifications not counted.
    static func rowsRead(from table: String, in node: [String: Any]) -> Int {
        var read = 0
        if node["Relation Name"] as? String == table, node["Node Type"] as? String != "ModifyTable" {
            read += (node["Actual Rows"] as? Int ?? 0) * (node["Actual Loops"] as? Int ?? 1)
        }
        for child in node["Plans"] as? [[String: Any]] ?? [] { read += rowsRead(from: table, in: child) }
        return read
    }

    /// A worker taking a schedule over loads every seat with its price and live reservation.
    @Test func seatMapsLoadEverySeatWithItsPriceAndLiveReservation() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            try await Migrator().migrate(client, logger: logger)
            try await client.query("INSERT INTO concerts (id, title) VALUES (7, 'Load test')", logger: logger)
            try await client.query("INSERT INTO schedules (concert_id, date) VALUES (7, '2026-12-24'), (7, '2026-12-25')", logger: logger)
            try await client.query(
                """
                INSERT INTO seats (schedule_id, number, price)
                SELECT s.id, n, 1000 * n + s.id FROM schedules s, generate_series(1, 300) AS n
                """,
                logger: logger
            )
            let held = UUID()
            let paid = UUID()
            let expired = UUID()
            try await client.query(
                """
                UPDATE seats SET state = 'held', holder = 'alice', reservation_id = \(held), hold_deadline = now() + interval '5 minutes'
                WHERE number = 17 AND schedule_id = (SELECT id FROM schedules WHERE date = '2026-12-24')
                """,
                logger: logger
            )
            try await client.query(
                """
                UPDATE seats SET state = 'sold', holder = 'bob', reservation_id = \(paid)
                WHERE number = 250 AND schedule_id = (SELECT id FROM schedules WHERE date = '2026-12-24')
                """,
                logger: logger
            )
            try await client.query(
                """
                INSERT INTO reservations (id, schedule_id, seat_number, user_id, price, status, held_until)
                SELECT v.id, s.id, v.seat, v.user_id, 1000 * v.seat + s.id, v.status, now() + interval '5 minutes'
                FROM schedules s, (VALUES (\(held), 17, 'alice', 'held'), (\(paid), 250, 'bob', 'paid'), (\(expired), 3, 'carol', 'expired'))
                    AS v(id, seat, user_id, status)
                WHERE s.date = '2026-12-24'
                """,
                logger: logger
            )
            let christmasEve = ScheduleKey(concertID: ConcertID(7)!, date: ScheduleDate("2026-12-24")!)
            let christmas = ScheduleKey(concertID: ConcertID(7)!, date: ScheduleDate("2026-12-25")!)
            let loaded = try await client.withConnection { connection in
                try await PartitionStore(connection: connection, logger: logger).loadSchedules([christmasEve, christmas])
            }
            let eve = try #require(loaded[christmasEve])
            let day = try #require(loaded[christmas])
            for (schedule, id) in [(eve.seats, eve.id), (day.seats, day.id)] {
                #expect(schedule.seatCount == 300)
                for number in 1...300 {
                    let seat = try #require(schedule.seat(SeatNumber(number)!))
                    #expect(seat.price == Won(Int64(1000 * number) + id))
                }
            }
            #expect(eve.seats.seat(SeatNumber(17)!)?.reservationID == held)
            #expect(eve.seats.seat(SeatNumber(250)!)?.reservationID == paid)
            #expect((1...300).filter { eve.seats.seat(SeatNumber($0)!)?.reservationID != nil }.count == 2)
            #expect((1...300).allSatisfy { day.seats.seat(SeatNumber($0)!)?.reservationID == nil })
            #expect(Set(eve.seats.reservations.keys) == [held, paid])
            #expect(eve.seats.reservations[paid]?.status == .paid)
        }
    }

    /// A decision made on a stale memory, written straight through the storage layer: the
    /// expiry of a reservation another writer sold, a hold over a seat whose occupant changed,
    /// the outcome of a command already answered, and a second refund of a refunded reservation. Storage refuses each whole (SQLSTATE
    /// `PartitionStore.staleWriteState`) and changes nothing.
    @Test func staleWritesOfAPartitionAreRefusedAndChangeNothing() async throws {
        try await DatabaseEnvironment.withSeededDatabase { client in
            let (scheduleID, day, schedule) = try await firstDateOfConcert1(client)
            let sold = UUID()
            try await client.query(
                """
                INSERT INTO reservations (id, schedule_id, seat_number, user_id, price, status, held_until)
                VALUES (\(sold), \(scheduleID), 7, 'alice', 1000, 'paid', now() - interval '1 minute')
                """,
                logger: logger
            )
            try await client.query(
                "UPDATE seats SET state = 'sold', holder = 'alice', reservation_id = \(sold) WHERE schedule_id = \(scheduleID) AND number = 7",
                logger: logger
            )
            try await client.query(
                "INSERT INTO payments (id, reservation_id, user_id, amount, balance_after, paid_at) VALUES (gen_random_uuid(), \(sold), 'alice', 1000, 0, now())",
                logger: logger
            )
            // A reservation paid and refunded already (its seat free again), and alice's wallet.
            let refunded = UUID()
            try await client.query(
                """
                INSERT INTO reservations (id, schedule_id, seat_number, user_id, price, status, held_until)
                VALUES (\(refunded), \(scheduleID), 8, 'alice', 1000, 'refunded', now() - interval '1 minute')
                """,
                logger: logger
            )
            try await client.query("INSERT INTO wallets (user_id, balance) VALUES ('alice', 1000)", logger: logger)
            try await client.query(
                "INSERT INTO wallet_ledger (user_id, amount, balance_after, kind, idempotency_key) VALUES ('alice', 1000, 1000, 'charge', 'k')",
                logger: logger
            )
            let answered = UUID()
            try await client.query(
                """
                INSERT INTO commands (id, type, user_id, partition_key, status, submitted_at, completed_at)
                VALUES (\(answered), 'reserveSeat', 'bob', \(schedule.partitionKey), 'failed', now(), now())
                """,
                logger: logger
            )
            let before = try await snapshot(client)

            func refused(_ outcome: Outcome, seats: [PartitionStore.SeatRow]) async throws {
                var writes = PartitionWrites()
                writes.add(outcome)
                let error = await #expect(throws: PSQLError.self) {
                    try await client.withConnection { connection in
                        try await connection.query("BEGIN", logger: logger)
                        do {
                            try await PartitionStore(connection: connection, logger: logger).write(
                                writes,
                                seats: seats,
                                scheduleIDs: [schedule: scheduleID]
                            )
                        } catch {
                            try await connection.query("ROLLBACK", logger: logger)
                            throw error
                        }
                        try await connection.query("COMMIT", logger: logger)
                    }
                }
                #expect(error?.isStaleWrite == true, "\(String(reflecting: error))")
            }

            // The expiry of the sold reservation, as its former holder's memory decides it.
            let expired = Reservation(
                id: sold,
                schedule: schedule,
                seat: SeatNumber(7)!,
                userID: UserID("alice")!,
                price: 1000,
                status: .expired,
                heldUntil: Date()
            )
            let expiry = CommandEnvelope(
                id: UUID(),
                userId: UserID("system")!,
                partitionKey: schedule.partitionKey,
                command: .expireHold(.init(reservationIds: [sold])),
                submittedAt: Date()
            )
            try await refused(
                Outcome(expiry, .success(.none), effects: [.end(expired)]),
                seats: [PartitionStore.SeatRow(scheduleID: scheduleID, number: SeatNumber(7)!, reservation: nil, expected: sold)]
            )

            // A hold on seat 9, free in storage, by a memory that saw someone else's hold there.
            let hold = Reservation(
                id: UUID(),
                schedule: schedule,
                seat: SeatNumber(9)!,
                userID: UserID("carol")!,
                price: 1000,
                status: .held,
                heldUntil: Date().addingTimeInterval(300)
            )
            let reserve = CommandEnvelope(
                id: UUID(),
                userId: UserID("carol")!,
                partitionKey: schedule.partitionKey,
                command: .reserveSeat(.init(concertId: ConcertID(1)!, date: ScheduleDate(day)!, seatNumber: SeatNumber(9)!)),
                submittedAt: Date()
            )
            let result = ReservationResult(hold, seats: hold.seats.map { SeatResult($0, place: SeatMap.Place(section: nil, row: nil, seat: nil)) })
            try await refused(
                Outcome(reserve, .success(.reservation(result)), effects: [.hold(hold)]),
                seats: [PartitionStore.SeatRow(scheduleID: scheduleID, number: SeatNumber(9)!, reservation: hold, expected: UUID())]
            )

            // An outcome for a command a second writer answered already.
            let again = CommandEnvelope(
                id: answered,
                userId: UserID("bob")!,
                partitionKey: schedule.partitionKey,
                command: .reserveSeat(.init(concertId: ConcertID(1)!, date: ScheduleDate(day)!, seatNumber: SeatNumber(11)!)),
                submittedAt: Date()
            )
            try await refused(Outcome(again, .failure(.seatUnavailable)), seats: [])

            // A second refund of the refunded reservation, by a memory that still saw it paid: no second credit.
            let stillPaid = Reservation(
                id: refunded,
                schedule: schedule,
                seat: SeatNumber(8)!,
                userID: UserID("alice")!,
                price: 1000,
                status: .refunded,
                heldUntil: Date()
            )
            let refund = CommandEnvelope(
                id: UUID(),
                userId: .operator,
                partitionKey: schedule.partitionKey,
                command: .refund(.init(reservationId: refunded)),
                submittedAt: Date()
            )
            let receipt = RefundReceipt(refundId: refund.id, reservation: stillPaid, refundedAt: Date())
            try await refused(
                Outcome(refund, .success(.refund(receipt)), effects: [.refund(stillPaid, receipt)]),
                seats: [PartitionStore.SeatRow(scheduleID: scheduleID, number: SeatNumber(8)!, reservation: nil, expected: refunded)]
            )

            #expect(try await snapshot(client) == before)
        }
    }

    /// A batch that only holds seats and records outcomes is written by the smaller statement,
    /// which leaves out payments, refunds, cancelled dates and ended tokens: the hold, its seat
    /// and both outcomes (a success and a refusal) are written, and the connection never prepared
    /// the statement with the other parts.
    @Test func aBatchOfHoldsIsWrittenWithoutThePartsItDoesNotUse() async throws {
        try await DatabaseEnvironment.withSeededDatabase { client in
            let (scheduleID, day, schedule) = try await firstDateOfConcert1(client)
            let hold = Reservation(
                id: UUID(),
                schedule: schedule,
                seat: SeatNumber(12)!,
                userID: UserID("dana")!,
                price: 1000,
                status: .held,
                heldUntil: Date().addingTimeInterval(300)
            )
            func reserve(_ user: String) -> CommandEnvelope {
                CommandEnvelope(
                    id: UUID(),
                    userId: UserID(user)!,
                    partitionKey: schedule.partitionKey,
                    command: .reserveSeat(.init(concertId: ConcertID(1)!, date: ScheduleDate(day)!, seatNumber: SeatNumber(12)!)),
                    submittedAt: Date()
                )
            }
            let won = reserve("dana")
            let lost = reserve("erin")
            var writes = PartitionWrites()
            let result = ReservationResult(hold, seats: hold.seats.map { SeatResult($0, place: SeatMap.Place(section: nil, row: nil, seat: nil)) })
            writes.add(Outcome(won, .success(.reservation(result)), effects: [.hold(hold)]))
            writes.add(Outcome(lost, .failure(.seatUnavailable)))
            #expect(PartitionStore.WriteHolds.covers(writes))

            let prepared = try await client.withConnection { connection in
                try await PartitionStore(connection: connection, logger: logger).write(
                    writes,
                    seats: [PartitionStore.SeatRow(scheduleID: scheduleID, number: SeatNumber(12)!, reservation: hold, expected: nil)],
                    scheduleIDs: [schedule: scheduleID]
                )
                let statements = try await connection.query("SELECT statement FROM pg_prepared_statements", logger: logger)
                return try await statements.decode(String.self).reduce(into: []) { $0.append($1) }
            }
            #expect(prepared.contains { $0.contains("new_reservations") })
            #expect(!prepared.contains { $0.contains("new_payments") }, "\(prepared)")

            let written = try await snapshot(client)
            #expect(written.contains("r \(hold.id.uuidString.lowercased()) held"))
            #expect(written.contains("s \(scheduleID)/12 held \(hold.id.uuidString.lowercased())"))
            #expect(written.contains("c \(won.id.uuidString.lowercased()) succeeded "))
            #expect(written.contains("c \(lost.id.uuidString.lowercased()) failed SEAT_UNAVAILABLE"))
        }
    }

    /// The seeded concert 1's first date: its row id, its day, its key.
    private func firstDateOfConcert1(_ client: PostgresClient) async throws -> (id: Int64, day: String, key: ScheduleKey) {
        let rows = try await client.query(
            "SELECT id, to_char(date, 'YYYY-MM-DD') FROM schedules WHERE concert_id = 1 ORDER BY date LIMIT 1",
            logger: logger
        )
        let (id, day) = try #require(try await rows.decode((Int64, String).self).first { _ in true })
        return (id, day, ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate(day)!))
    }

    /// Every reservation, seat occupant, payment and command, as text.
    private func snapshot(_ client: PostgresClient) async throws -> [String] {
        let rows = try await client.query(
            """
            SELECT 'r ' || id || ' ' || status FROM reservations
            UNION ALL SELECT 's ' || schedule_id || '/' || number || ' ' || state || ' ' || coalesce(reservation_id::text, '-') FROM seats WHERE reservation_id IS NOT NULL
            UNION ALL SELECT 'p ' || reservation_id FROM payments
            UNION ALL SELECT 'c ' || id || ' ' || status || ' ' || coalesce(error_code, '') FROM commands
            UNION ALL SELECT 'w ' || user_id || ' ' || balance FROM wallets
            UNION ALL SELECT 'l ' || user_id || ' ' || amount || ' ' || kind FROM wallet_ledger
            UNION ALL SELECT 'f ' || reservation_id FROM refunds
            ORDER BY 1
            """,
            logger: logger
        )
        return try await rows.decode(String.self).reduce(into: []) { $0.append($1) }
    }
}
