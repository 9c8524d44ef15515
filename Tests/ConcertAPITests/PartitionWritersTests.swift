import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWorkers
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import TestSupport
import Testing

/// One writer per partition, even when the broker's guarantee of it fails: a worker whose
/// channel went away must not write what it still holds, and storage refuses a stale decision
/// of a second writer by itself.
@Suite(.enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct PartitionWritersTests {
    static let logger = DatabaseEnvironment.logger

    /// A worker takes a batch, and while it waits for the database its broker connection drops:
    /// the broker gives the batch to the standby consumer. When the database answers again the
    /// old worker must commit none of it (the standby owns it now).
    @Test func aWorkerWhoseChannelClosedWhileItHeldABatchCommitsNoneOfIt() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1, inProcessWorkers: false)) { client, harness in
            let (databaseProxy, database) = try harness.databaseBehindProxy()
            defer { databaseProxy.close() }
            let brokerProxy = try SeverableProxy(targetPort: harness.amqp.port)
            defer { brokerProxy.close() }
            var brokerConfiguration = harness.amqp
            brokerConfiguration.port = brokerProxy.port
            brokerConfiguration.connectionName = "worker-behind-proxy"
            let connection = AMQPConnection(configuration: brokerConfiguration, logger: Self.logger)
            let worker = PartitionWorker(
                partition: 0,
                connection: connection,
                database: database,
                publisher: CommandPublisher(connection: connection, partitions: 1),
                replies: ReplySender(connection: connection, local: nil, logger: Self.logger),
                settings: .init(holdDuration: 300),
                logger: Self.logger
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.run() }
                group.addTask { try await connection.run() }
                group.addTask { try await worker.run() }
                defer { group.cancelAll() }

                var buyer = Buyer(client, "held")
                try await buyer.queue()
                try await harness.admit()
                let date = try await PurchaseFlowTests.firstDate(buyer)
                // One command through, so the worker is subscribed with its full prefetch.
                #expect(try await buyer.reserve(seat: 1, date: date).status == .created)

                databaseProxy.freeze()
                var submitted: [UUID] = []
                for seat in 2...4 {
                    let response = try await buyer.send(.post, "/v1/reservations", #"{"concertId":1,"date":"\#(date)","seatNumber":\#(seat)}"#)
                    #expect(response.status == .accepted)
                    let id = try response.json()["commandId"]?.string
                    submitted.append(try #require(id.flatMap(UUID.init(uuidString:))))
                }
                let queue = PipelineTopology.partitionQueue(0)
                try await eventually("the worker holds the batch") {
                    let state = try await harness.broker.inspectQueue(queue)
                    return state.messageCount == 0
                }
                // A standby consumer, which the broker makes active once the worker's connection is gone.
                let standby = try await harness.broker.consume(queue: queue, prefetch: 10)
                brokerProxy.severClients()
                var taken: [AMQPDelivery] = []
                for try await delivery in standby {
                    taken.append(delivery)
                    if taken.count == submitted.count { break }
                }
                databaseProxy.thaw()
                // Long enough for the old worker to have finished its batch, had it gone on.
                try await Task.sleep(for: .seconds(3))
                #expect(try await Self.count("SELECT count(*) FROM commands WHERE id = ANY(\(submitted))", harness) == 0)
                #expect(try await Self.count("SELECT count(*) FROM reservations", harness) == 1)
                try await standby.cancel()
            }
        }
    }

    /// The broker's single active consumer bypassed: the partition's queue is a plain one, and two
    /// workers, each with a memory of its own, take its commands in turn while buyers hold, pay
    /// (some just past the deadline) and let holds expire. Each decides on what it saw; storage
    /// must refuse every stale decision, so that every invariant still holds. (An expiry decided by
    /// a memory that never saw the hold does nothing; the hold sweeper sends it again.)
    @Test func twoWorkersGivenOnePartitionsCommandsStillKeepEveryInvariant() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1, holdSeconds: 2, inProcessWorkers: false)) { client, harness in
            let queue = PipelineTopology.partitionQueue(0)
            _ = try await harness.broker.deleteQueue(queue)
            _ = try await harness.broker.declare(AMQPQueue(name: queue))
            try await harness.broker.declare(
                AMQPBinding(queue: queue, exchange: PipelineTopology.commandsExchange, routingKey: PipelineTopology.partitionRoutingKey(0))
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                for name in ["first", "second"] {
                    var configuration = harness.amqp
                    configuration.connectionName = "writer-\(name)"
                    let connection = AMQPConnection(configuration: configuration, logger: Self.logger)
                    let worker = PartitionWorker(
                        partition: 0,
                        connection: connection,
                        database: harness.client,
                        publisher: CommandPublisher(connection: connection, partitions: 1),
                        replies: ReplySender(connection: connection, local: nil, logger: Self.logger),
                        settings: .init(holdDuration: 2),
                        prefetch: 4,
                        logger: Self.logger
                    )
                    // As in every worker process: a hold a stale memory did not know to expire is swept.
                    let sweeper = HoldSweeper(
                        reservations: ReservationStore(client: harness.client, logger: Self.logger),
                        publisher: CommandPublisher(connection: connection, partitions: 1),
                        logger: Self.logger
                    )
                    group.addTask { try await connection.run() }
                    group.addTask { try await worker.run() }
                    group.addTask { try await sweeper.run() }
                }
                defer { group.cancelAll() }

                var buyers: [Buyer] = []
                for index in 0..<16 {
                    var buyer = Buyer(client, "writer\(index)")
                    try await buyer.queue()
                    try await buyer.charge(10_000_000)
                    buyers.append(buyer)
                }
                try await harness.admit()
                let date = try await PurchaseFlowTests.firstDate(buyers[0])
                let paid = Locked(0)
                for round in 0..<3 {
                    try await withThrowingTaskGroup(of: Void.self) { buying in
                        for (index, buyer) in buyers.enumerated() {
                            // Two buyers for each seat; paying from just before to just after the hold's end.
                            let seat = round * 8 + index / 2 + 1
                            buying.addTask {
                                let reserved = try await buyer.reserve(seat: seat, date: date)
                                guard reserved.status == .created, let id = try reserved.json()["result"]?["reservationId"]?.string else { return }
                                try await Task.sleep(for: .milliseconds(Int.random(in: 1_500...2_600)))
                                if try await buyer.pay(id).status == .created { paid.withLock { $0 += 1 } }
                            }
                        }
                        try await buying.waitForAll()
                    }
                }
                try await eventually(timeout: .seconds(60), "every overdue hold expires") {
                    try await Self.count("SELECT count(*) FROM reservations WHERE status = 'held'", harness) == 0
                }
                #expect(paid.withLock { $0 } > 0)
                try await Self.expectInvariants(harness)
            }
        }
    }

    /// DESIGN §7's invariants 1–3 and the wallet's, read from storage.
    static func expectInvariants(_ harness: APIHarness) async throws {
        // A paid reservation has exactly its payment; a payment's reservation is paid.
        #expect(
            try await count(
                "SELECT count(*) FROM reservations r WHERE r.status = 'paid' AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.reservation_id = r.id)",
                harness
            ) == 0
        )
        #expect(
            try await count("SELECT count(*) FROM payments p JOIN reservations r ON r.id = p.reservation_id WHERE r.status <> 'paid'", harness) == 0
        )
        // At most one live reservation a seat, and the seat's row says which.
        #expect(
            try await count(
                "SELECT count(*) FROM (SELECT 1 FROM reservations WHERE status IN ('held', 'paid') GROUP BY schedule_id, seat_number HAVING count(*) > 1) d",
                harness
            ) == 0
        )
        #expect(
            try await count(
                """
                SELECT count(*) FROM seats s LEFT JOIN reservations r ON r.id = s.reservation_id
                WHERE (s.state = 'sold') <> coalesce(r.status = 'paid', false) OR (s.state = 'held') <> coalesce(r.status = 'held', false)
                """,
                harness
            ) == 0
        )
        #expect(
            try await count(
                "SELECT count(*) FROM reservations r WHERE r.status IN ('held', 'paid') AND NOT EXISTS (SELECT 1 FROM seats s WHERE s.reservation_id = r.id)",
                harness
            ) == 0
        )
        // Every wallet equals its ledger, and every payment debited exactly once.
        #expect(
            try await count(
                "SELECT count(*) FROM wallets w WHERE w.balance <> (SELECT coalesce(sum(amount), 0) FROM wallet_ledger l WHERE l.user_id = w.user_id)",
                harness
            ) == 0
        )
        #expect(try await count("SELECT (SELECT count(*) FROM wallet_ledger WHERE kind = 'payment') - (SELECT count(*) FROM payments)", harness) == 0)
    }

    static func count(_ query: PostgresQuery, _ harness: APIHarness) async throws -> Int {
        try await harness.client.query(query, logger: logger).decode(Int.self).reduce(0, +)
    }
}
