import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWire
import ConcertWorkers
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import TestSupport
import Testing

/// Faults of one connection or one piece of the topology, injected under a running pipeline:
/// none may lose a command or give a wrong answer. (Whole-service restarts are in the
/// `Disruptive…` suites.)
@Suite(.enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct PipelineFaultTests {
    static let logger = DatabaseEnvironment.logger

    /// The database commits a batch, and its answer is lost on the way back (the connection drops
    /// right after the commit). The worker retries; it must recognise the commands as applied and
    /// answer what was stored — not decide them again against the seats they now hold
    /// (`SEAT_UNAVAILABLE` for the buyer's own seat) — and still schedule the hold's expiry.
    @Test func aCommitWhoseAnswerIsLostIsAnsweredAsStoredAndItsHoldStillExpires() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1, holdSeconds: 2, inProcessWorkers: false)) { client, harness in
            // The worker reaches the database through a proxy the test can cut.
            let (proxy, database) = try harness.databaseBehindProxy()
            defer { proxy.close() }
            let worker = PartitionWorker(
                partition: 0,
                connection: harness.broker,
                database: database,
                publisher: CommandPublisher(connection: harness.broker, partitions: 1),
                replies: ReplySender(connection: harness.broker, local: harness.services.inbox, logger: Self.logger),
                settings: .init(holdDuration: 2),
                logger: Self.logger
            )
            // Writing the outcome of this buyer's command takes two seconds: time to cut the connection.
            try await harness.client.query(
                """
                CREATE FUNCTION slow_outcome() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$
                """,
                logger: Self.logger
            )
            try await harness.client.query(
                "CREATE TRIGGER slow_outcome AFTER INSERT ON commands FOR EACH ROW WHEN (NEW.user_id = 'unlucky') EXECUTE FUNCTION slow_outcome()",
                logger: Self.logger
            )

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.run() }
                group.addTask { try await worker.run() }
                defer { group.cancelAll() }

                var buyer = Buyer(client, "unlucky")
                try await buyer.queue()
                try await harness.admit()
                let date = try await PurchaseFlowTests.firstDate(buyer)
                let admitted = buyer
                async let answer = admitted.reserve(seat: 3, date: date)
                try await eventually("the worker's write is under way") {
                    try await harness.client.query(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%new_reservations%'",
                        logger: Self.logger
                    ).decode(Int.self).reduce(0, +) == 1
                }
                proxy.severClients()

                let response = try await answer
                #expect(response.status == .created)
                let reservation = try #require(try response.json()["result"]?["reservationId"]?.string)
                #expect(try await Self.count("SELECT count(*) FROM reservations", harness) == 1)
                // The hold was scheduled to expire although its batch's commit was never confirmed.
                try await eventually(timeout: .seconds(10), "the hold expires") {
                    try await buyer.send(.get, "/v1/reservations/\(reservation)").json()["status"] == "expired"
                }
                #expect(try await Self.count("SELECT count(*) FROM dead_letters", harness) == 0)
            }
        }
    }

    /// The seat map in a worker's memory misses a hold that storage has (written by a worker that
    /// had the partition meanwhile, or by a commit whose answer was lost). The unique index catches
    /// the double hold; the worker must reload and answer `SEAT_UNAVAILABLE`, not dead-letter the command.
    @Test func aSeatMapOutOfStepWithStorageStillAnswersSeatUnavailable() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1)) { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.queue()
            var bob = Buyer(client, "bob")
            try await bob.queue()
            try await harness.admit()
            let date = try await PurchaseFlowTests.firstDate(alice)
            // The schedule is in the worker's memory now (the second batch: the first one's
            // subscription is the careful one of poison isolation, and memory starts afresh after it).
            #expect(try await alice.reserve(seat: 4, date: date).status == .created)
            #expect(try await alice.reserve(seat: 7, date: date).status == .created)

            // Someone else's hold on seat 5 appears in storage behind the worker's back.
            try await harness.client.query(
                """
                WITH schedule AS (SELECT id FROM schedules WHERE concert_id = 1 AND date = \(date)::date),
                hold AS (
                    INSERT INTO reservations (id, schedule_id, seat_number, user_id, price, status, held_until)
                    SELECT gen_random_uuid(), schedule.id, 5, 'carol', 10000, 'held', now() + interval '5 minutes' FROM schedule
                    RETURNING id, schedule_id
                )
                UPDATE seats s SET state = 'held', holder = 'carol', reservation_id = hold.id, hold_deadline = now() + interval '5 minutes'
                FROM hold WHERE s.schedule_id = hold.schedule_id AND s.number = 5
                """,
                logger: Self.logger
            )

            let taken = try await bob.reserve(seat: 5, date: date)
            #expect(taken.status == .conflict)
            #expect(try taken.json()["code"] == "SEAT_UNAVAILABLE")
            // The rest of the batch stream goes on, from storage.
            #expect(try await bob.reserve(seat: 6, date: date).status == .created)
            #expect(try await alice.reserve(seat: 6, date: date).status == .conflict)
            #expect(try await Self.count("SELECT count(*) FROM dead_letters", harness) == 0)
        }
    }

    /// The dead-letter exchange is missing (deleted by an operator, say) when a malformed message
    /// arrives: it cannot be dead-lettered, so it is neither acknowledged nor dropped. It goes back
    /// to the queue, and once the exchange is back it is archived; the commands behind it are
    /// applied then.
    @Test func aDeadLetterThatCannotBePublishedIsKeptUntilItCanBe() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1)) { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.queue()
            try await harness.admit()
            let date = try await PurchaseFlowTests.firstDate(alice)

            try await harness.broker.deleteExchange(PipelineTopology.deadLetterExchange)
            try await harness.broker.publish(
                exchange: PipelineTopology.commandsExchange,
                routingKey: PipelineTopology.partitionRoutingKey(0),
                body: Array("not json".utf8),
                properties: AMQPMessageProperties(messageId: "garbage-without-a-way-out"),
                mandatory: true
            )
            // A reservation behind it, published as the API does. The broker closes a channel that
            // publishes to a missing exchange, failing publishes in flight on it: the same command
            // (same id) is sent again until the broker confirms it, as a client would after a 503.
            let schedule = ScheduleKey(concertID: ConcertID(1)!, date: try #require(ScheduleDate(date)))
            let envelope = CommandEnvelope(
                id: UUID(),
                userId: UserID("alice")!,
                partitionKey: schedule.partitionKey,
                command: .reserveSeat(.init(concertId: schedule.concertID, date: schedule.date, seatNumber: SeatNumber(9)!)),
                submittedAt: Date()
            )
            let publisher = CommandPublisher(connection: harness.broker, partitions: 1)
            try await eventually("the reservation is enqueued") { (try? await publisher.publish(envelope, schedule: schedule)) != nil }
            let status = "SELECT count(*) FROM commands WHERE id = '\(envelope.id.lowercasedString)' AND status = 'succeeded'"

            // A while later neither is settled: the reservation waits behind the letter, nothing is archived.
            try await Task.sleep(for: .seconds(2))
            #expect(try await Self.count(status, harness) == 0)
            #expect(try await Self.count("SELECT count(*) FROM dead_letters", harness) == 0)

            // The exchange is declared again: the letter is archived, the reservation applied.
            try await PipelineTopology(partitions: 1, holdSeconds: 300).apply(to: harness.broker)
            try await eventually("the malformed message is archived") {
                try await Self.count("SELECT count(*) FROM dead_letters WHERE message_id = 'garbage-without-a-way-out'", harness) == 1
            }
            try await eventually("the reservation behind it is applied") { try await Self.count(status, harness) == 1 }
        }
    }

    /// A dead letter whose headers PostgreSQL cannot store as they are (a NUL character, which
    /// `jsonb` and `text` refuse; non-finite numbers are covered by `ArchivedHeadersTests`, as
    /// RabbitMQ refuses to route them) is archived with the character replaced — and the letters after
    /// it are archived too (one such letter must not stop the archiver).
    @Test func aDeadLetterWithANulInItsHeadersIsArchivedAndSoAreTheNext() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1)) { _, harness in
            try await harness.broker.publish(
                exchange: PipelineTopology.deadLetterExchange,
                routingKey: "p.0",
                body: Array("odd".utf8),
                properties: AMQPMessageProperties(
                    messageId: "odd\u{0}letter",
                    type: "Odd\u{0}Type",
                    headers: ["x-concert-reason": .string("reason with a \u{0} inside"), "note\u{0}": .string("a\u{0}b")]
                ),
                mandatory: true
            )
            try await harness.broker.publish(
                exchange: PipelineTopology.deadLetterExchange,
                routingKey: "p.0",
                body: Array("plain".utf8),
                properties: AMQPMessageProperties(messageId: "plain-letter", headers: ["x-concert-reason": .string("plain")]),
                mandatory: true
            )
            try await eventually("both letters are archived") {
                try await Self.count("SELECT count(*) FROM dead_letters", harness) == 2
            }
            let odd = try await harness.client.query(
                "SELECT reason, headers->>'note\u{FFFD}' FROM dead_letters WHERE message_id = \("odd\u{FFFD}letter")",
                logger: Self.logger
            )
            var rows = 0
            for try await (reason, note) in odd.decode((String, String?).self) {
                rows += 1
                #expect(reason == "reason with a \u{FFFD} inside")
                #expect(note == "a\u{FFFD}b")
            }
            #expect(rows == 1)
        }
    }

    static func count(_ sql: String, _ harness: APIHarness) async throws -> Int {
        try await harness.client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self).reduce(0, +)
    }
}
