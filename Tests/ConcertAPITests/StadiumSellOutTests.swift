import AMQPClient
import ConcertAPI
import ConcertPipeline
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Synchronization
import TestSupport
import Testing

/// The 60 000-seat stadium of `scripts/catalogue/stadium`, imported and sold through: listed,
/// then 15 000 buyers each ask for four seats best available (apart when no four are left
/// together) and pay them, over the API, against
/// a `concert worker` process whose memory is read from the kernel before and after. Heavy
/// (about two minutes of both cores in a debug build): `scripts/test` runs it on its own.
@Suite(.enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct StadiumSellOutTests {
    static let seats = 60_000
    static let buyers = 15_000
    static let date = "2027-06-05"

    /// VmRSS and VmHWM of a process, in MiB.
    static func memory(of pid: Int32) throws -> (resident: Double, peak: Double) {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func kibibytes(_ field: String) -> Double {
            let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
            return Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return (kibibytes("VmRSS") / 1024, kibibytes("VmHWM") / 1024)
    }

    /// A value shared by concurrent tasks.
    final class Shared<Value: Sendable>: Sendable {
        let value: Mutex<Value>
        init(_ value: Value) { self.value = Mutex(value) }
    }

    /// Runs `body(i)` for every i in 0..<count on `lanes` concurrent tasks.
    static func concurrently(_ count: Int, lanes: Int = 48, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let next = Shared(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<lanes {
                group.addTask {
                    while true {
                        let index = next.value.withLock { value in
                            defer { value += 1 }
                            return value
                        }
                        guard index < count else { return }
                        try await body(index)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func aStadiumIsImportedListedAndSoldThroughFourSeatsAtATime() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2, inProcessWorkers: false)) { client, harness in
            let worker = try await harness.startWorker(partitions: 2, name: "stadium")
            defer { if worker.isRunning { worker.terminate() } }
            try await eventually("the worker listens") {
                for partition in 0..<2 where try await harness.broker.inspectQueue(PipelineTopology.partitionQueue(partition)).consumerCount < 1 {
                    return false
                }
                return true
            }
            let idle = try Self.memory(of: worker.pid)

            // Imported from the sample generator, through the partition worker.
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("stadium-\(UUID().uuidString.prefix(6)).json").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            let generated = try await runCapturingOutput(
                "/usr/bin/env",
                ["python3", APIHarness.root.appendingPathComponent("scripts/catalogue/stadium").path]
            )
            #expect(generated.status == 0)
            try generated.output.write(toFile: file, atomically: true, encoding: .utf8)
            let imported = try await runCapturingOutput(
                APIHarness.root.appendingPathComponent(".build/debug/concert").path,
                ["catalogue", "import", file],
                environment: harness.childEnvironment(partitions: 2),
                standardError: .combinedWithOutput
            )
            #expect(imported.status == 0, "\(imported.output)")
            #expect(imported.output.contains("\(Self.date): created, 60000 seats"), "\(imported.output)")
            let concert = try #require(imported.output.split(separator: " ").dropFirst().first.flatMap { Int($0) })
            // Room for every buyer at once.
            let patched = try await CatalogueAPITests.send(client, .patch, "/admin/concerts/\(concert)", #"{"capacity":100000}"#)
            #expect(patched.status == .ok)

            // Every buyer's wallet, written as a charge would be (balance and ledger entry).
            try await harness.client.query(
                """
                WITH buyers AS (SELECT 'fan' || g AS user_id FROM generate_series(0, \(Self.buyers - 1)) g),
                     wallets_made AS (INSERT INTO wallets (user_id, balance) SELECT user_id, 1000000 FROM buyers RETURNING user_id)
                INSERT INTO wallet_ledger (user_id, amount, balance_after, kind, idempotency_key)
                SELECT user_id, 1000000, 1000000, 'charge', 'stadium-test' FROM wallets_made
                """,
                logger: DatabaseEnvironment.logger
            )
            let tokens = Shared<[String]>(Array(repeating: "", count: Self.buyers))
            try await Self.concurrently(Self.buyers) { index in
                var buyer = Buyer(client, "fan\(index)")
                try await buyer.queue(concert: concert)
                let token = buyer.token
                tokens.value.withLock { $0[index] = token }
            }
            try await harness.admit(capacity: 100_000)

            var first = Buyer(client, "fan0")
            first.token = tokens.value.withLock { $0[0] }
            let listed = try await first.send(.get, "/v1/concerts/\(concert)/dates/\(Self.date)/seats").json()
            guard case .array(let free)? = listed["seats"] else { throw TestFailure("no seats") }
            #expect(free.count == Self.seats)
            #expect(free.first?["section"] == .string("Floor 1"))
            #expect(free.last?["section"] == .string("240"))
            #expect(free.last?["price"] == .number(77_000))

            let started = ContinuousClock.now
            let paid = Shared(0)
            try await Self.concurrently(Self.buyers) { index in
                var buyer = Buyer(client, "fan\(index)")
                buyer.token = tokens.value.withLock { $0[index] }
                let held = try await buyer.reserve(#"{"concertId":\#(concert),"date":"\#(Self.date)","quantity":4,"together":false}"#)
                guard held.status == .created, case .string(let reservation)? = try held.json()["result"]?["reservationId"] else {
                    throw TestFailure("order \(index): \(held.status) \(String(buffer: held.body))")
                }
                let receipt = try await buyer.pay(reservation)
                guard receipt.status == .created else { throw TestFailure("payment of order \(index): \(receipt.status)") }
                paid.value.withLock { $0 += 1 }
            }
            let elapsed = ContinuousClock.now - started
            let sold = try Self.memory(of: worker.pid)
            #expect(paid.value.withLock { $0 } == Self.buyers)

            // Sold out: nothing listed, every seat sold once, every wallet equal to its ledger.
            let after = try await first.send(.get, "/v1/concerts/\(concert)/dates/\(Self.date)/seats")
            #expect(after.status == .unauthorized, "fan0's payment ended its token")
            let counts = try await harness.client.query(
                """
                SELECT count(*) FILTER (WHERE seats.state = 'sold')::int, count(DISTINCT seats.reservation_id)::int,
                    (SELECT count(*)::int FROM payments), (SELECT count(*)::int FROM wallets w
                        WHERE w.balance <> (SELECT sum(amount) FROM wallet_ledger l WHERE l.user_id = w.user_id))
                FROM seats JOIN schedules s ON s.id = seats.schedule_id WHERE s.concert_id = \(concert)
                """,
                logger: DatabaseEnvironment.logger
            ).decode((Int, Int, Int, Int).self)
            for try await (soldSeats, reservations, payments, unbalanced) in counts {
                #expect(soldSeats == Self.seats)
                #expect(reservations == Self.buyers)
                #expect(payments == Self.buyers)
                #expect(unbalanced == 0)
            }
            print(
                String(
                    format:
                        "stadium: 60 000 seats in 15 000 orders of four, best available, reserved and paid in %.1f s; worker memory idle %.1f MiB, sold out %.1f MiB (peak %.1f MiB)",
                    Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                    idle.resident,
                    sold.resident,
                    sold.peak
                )
            )
            // Generous: the map and its 60 000 reservations are a few tens of MiB.
            #expect(sold.resident - idle.resident < 256, "the worker grew by \(sold.resident - idle.resident) MiB")
        }
    }
}
