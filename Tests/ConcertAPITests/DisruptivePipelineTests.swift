import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertPipeline
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Synchronization
import TestSupport
import Testing

/// Failures of whole processes and of the database in the middle of a burst. `scripts/test`
/// runs `Disruptive…` suites after the others, on their own: the database restart would break
/// other tests' connections.
@Suite(.serialized, .enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct DisruptivePipelineTests {
    static func startWorker(_ harness: APIHarness, partitions: Int, name: String) async throws -> SpawnedProcess {
        try await harness.startWorker(partitions: partitions, name: name)
    }

    /// Submits `count` reservations from `buyers` concurrently (seats drawn so that many collide)
    /// and returns the ids of the commands the API accepted.
    /// `until`, when given, ends the burst early: it is asked before each submission.
    static func burst(
        _ buyers: [Buyer],
        dates: [String],
        count: Int,
        until isDone: @escaping @Sendable () -> Bool = { false },
        onAccepted: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws -> [UUID] {
        let accepted = Locked<[UUID]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                if index >= 32 { try await group.next() }
                if isDone() { break }
                let buyer = buyers[index % buyers.count]
                let body = #"{"concertId":1,"date":"\#(dates[index % dates.count])","seatNumber":\#(index % 40 + 1)}"#
                group.addTask {
                    let response = try await buyer.send(.post, "/v1/reservations", body)
                    guard response.status == .accepted, case .string(let id)? = try response.json()["commandId"], let uuid = UUID(uuidString: id)
                    else {
                        return
                    }
                    let total = accepted.withLock { ids in
                        ids.append(uuid)
                        return ids.count
                    }
                    onAccepted(total)
                }
            }
            try await group.waitForAll()
        }
        return accepted.withLock { $0 }
    }

    /// Every accepted command finished, no seat has two live reservations, and every successful
    /// reservation is stored as the seat's reservation.
    static func expectConsistent(_ harness: APIHarness, accepted: [UUID]) async throws {
        let logger = DatabaseEnvironment.logger
        try await eventually(timeout: .seconds(60), "every accepted command finishes") {
            let rows = try await harness.client.query(
                "SELECT count(*) FROM commands WHERE id = ANY(\(accepted)) AND status IN ('succeeded', 'failed')",
                logger: logger
            )
            return try await rows.decode(Int.self).reduce(0, +) == accepted.count
        }
        let doubled = try await harness.client.query(
            """
            SELECT count(*) FROM (SELECT schedule_id, seat_number FROM reservations WHERE status IN ('held', 'paid')
                                  GROUP BY schedule_id, seat_number HAVING count(*) > 1) AS d
            """,
            logger: logger
        )
        #expect(try await doubled.decode(Int.self).reduce(0, +) == 0)
        let disagreeing = try await harness.client.query(
            """
            SELECT count(*) FROM commands c
            WHERE c.id = ANY(\(accepted)) AND c.status = 'succeeded'
              AND NOT EXISTS (SELECT 1 FROM seats s WHERE s.reservation_id = (c.result::jsonb->>'reservationId')::uuid AND s.state = 'held')
            """,
            logger: logger
        )
        #expect(try await disagreeing.decode(Int.self).reduce(0, +) == 0)
        let outcomes = try await harness.client.query(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE error_code = 'SEAT_UNAVAILABLE') FROM commands WHERE id = ANY(\(accepted))",
            logger: logger
        )
        for try await (succeeded, unavailable) in outcomes.decode((Int, Int).self) {
            #expect(succeeded + unavailable == accepted.count)
            #expect(succeeded > 0)
        }
    }

    static func buyers(_ client: any TestClientProtocol, _ harness: APIHarness, count: Int) async throws -> ([Buyer], [String]) {
        var buyers: [Buyer] = []
        for index in 0..<count {
            var buyer = Buyer(client, "burst\(index)")
            try await buyer.queue()
            buyers.append(buyer)
        }
        try await harness.admit()
        let dates = try await buyers[0].send(.get, "/v1/concerts/1/dates").json()
        guard case .array(let days)? = dates["dates"] else { throw TestFailure("no dates") }
        return (buyers, days.compactMap { $0["date"]?.string })
    }

    @Test func killingTheActiveWorkerMidBurstLosesNothing() async throws {
        let partitions = 2
        try await APIHarness.withAPI(pipeline: .init(partitions: partitions, inProcessWorkers: false)) { client, harness in
            let first = try await Self.startWorker(harness, partitions: partitions, name: "first")
            defer { if first.isRunning { first.terminate() } }
            try await eventually("the first worker consumes every partition") {
                for partition in 0..<partitions
                where try await harness.broker.inspectQueue(PipelineTopology.partitionQueue(partition)).consumerCount < 1 {
                    return false
                }
                return true
            }
            let second = try await Self.startWorker(harness, partitions: partitions, name: "second")
            defer { if second.isRunning { second.terminate() } }
            try await eventually(timeout: .seconds(30), "the second worker stands by on every partition") {
                for partition in 0..<partitions
                where try await BrokerVirtualHost.consumerCount(of: PipelineTopology.partitionQueue(partition), in: harness.amqp.virtualHost) < 2 {
                    return false
                }
                return true
            }

            let (buyers, dates) = try await Self.buyers(client, harness, count: 40)
            let killed = Locked(false)
            let accepted = try await Self.burst(
                buyers,
                dates: dates,
                count: 400,
                onAccepted: { total in
                    // Mid-burst, the active worker dies without any chance to clean up.
                    let kill = killed.withLock { done in
                        defer { done = done || total >= 150 }
                        return !done && total >= 150
                    }
                    if kill { first.send(SIGKILL) }
                }
            )
            #expect(killed.withLock { $0 })
            #expect(accepted.count == 400)
            try await Self.expectConsistent(harness, accepted: accepted)

            // The survivor stops cleanly on SIGTERM.
            #expect(await second.stop() == 0)
        }
    }

    @Test func restartingTheDatabaseMidBurstLosesNothing() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            let (buyers, dates) = try await Self.buyers(client, harness, count: 40)
            // nil: not yet; 0: restarting; then the number of submissions accepted after it.
            let restart = Locked<Int?>(nil)
            let accepted = try await Self.burst(
                buyers,
                dates: dates,
                count: 4000,
                // The burst goes on through the restart and for 100 accepted submissions after it.
                until: { restart.withLock { ($0 ?? 0) >= 100 } }
            ) { total in
                let begin = restart.withLock { state in
                    if let after = state, after > 0 { state = after + 1 }
                    guard state == nil, total >= 100 else { return false }
                    state = 0
                    return true
                }
                if begin {
                    // In the background, so the burst goes on against a database that is going away.
                    Task {
                        let status = await ServicesScript.run(["restart-postgres"])
                        restart.withLock { $0 = status == 0 ? 1 : 100 }
                        #expect(status == 0, "scripts/services restart-postgres")
                    }
                }
            }
            #expect(restart.withLock { $0 } ?? 0 >= 100)
            // Some submissions got 503 while the database was down; every one that was accepted completes.
            #expect(accepted.count >= 100)
            try await Self.expectConsistent(harness, accepted: accepted)
        }
    }
}

/// A value shared between tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }
}
