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
import NIOCore
import PostgresNIO
import TestSupport
import Testing

/// A buyer going through the API: helpers that say what a client would do.
struct Buyer: Sendable {
    let client: any TestClientProtocol
    let user: String
    var token = ""

    init(_ client: any TestClientProtocol, _ user: String) {
        self.client = client
        self.user = user
    }

    func send(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, headers extra: HTTPFields = [:]) async throws -> TestResponse {
        var headers = extra
        if !token.isEmpty, headers[.authorization] == nil { headers[.authorization] = "Bearer \(token)" }
        if body != nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }

    mutating func queue(concert: Int = 1) async throws {
        let response = try await send(.post, "/v1/queue/tokens", #"{"concertId":\#(concert)}"#, headers: APIHarness.authorization(user))
        guard case .string(let token) = try response.json()["token"] else { throw TestFailure("no token: \(response.status)") }
        self.token = token
    }

    func charge(_ amount: Int) async throws {
        let response = try await send(.post, "/v1/users/\(user)/balance/charges", #"{"amount":\#(amount)}"#, headers: APIHarness.authorization(user))
        guard response.status == .ok else { throw TestFailure("charge failed: \(response.status)") }
    }

    func balance() async throws -> JSONValue? {
        try await send(.get, "/v1/users/\(user)/balance", headers: APIHarness.authorization(user)).json()["balance"]
    }

    /// Submits and waits for the outcome with `Prefer: wait=10`.
    func reserve(seat: Int, date: String, concert: Int = 1) async throws -> TestResponse {
        try await send(
            .post,
            "/v1/reservations",
            #"{"concertId":\#(concert),"date":"\#(date)","seatNumber":\#(seat)}"#,
            headers: [HTTPField.Name("Prefer")!: "wait=10"]
        )
    }

    func pay(_ reservationID: String) async throws -> TestResponse {
        try await send(.post, "/v1/payments", #"{"reservationId":"\#(reservationID)"}"#, headers: [HTTPField.Name("Prefer")!: "wait=10"])
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension JSONValue {
    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}

@Suite(.enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct PurchaseFlowTests {
    static func firstDate(_ buyer: Buyer, concert: Int = 1) async throws -> String {
        let dates = try await buyer.send(.get, "/v1/concerts/\(concert)/dates").json()
        guard case .array(let days)? = dates["dates"], let date = days.first?["date"]?.string else { throw TestFailure("no dates") }
        return date
    }

    @Test func theWholePurchase() async throws {
        try await APIHarness.withAPI(pipeline: .init()) { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.charge(200_000)
            try await alice.queue()
            try await harness.admit()
            let date = try await Self.firstDate(alice)
            let seats = try await alice.send(.get, "/v1/concerts/1/dates/\(date)/seats").json()
            guard case .array(let free)? = seats["seats"] else { throw TestFailure("no seats") }
            #expect(free.count == 50)

            // Without waiting: 202 + Location, then the poll finds the outcome.
            let accepted = try await alice.send(.post, "/v1/reservations", #"{"concertId":1,"date":"\#(date)","seatNumber":7}"#)
            #expect(accepted.status == .accepted)
            let location = try #require(accepted.headers[.location])
            #expect(try accepted.json()["status"] == "pending")
            var outcome: [String: JSONValue] = [:]
            try await eventually("the reservation completes") {
                outcome = try await alice.send(.get, location).json()
                return outcome["status"] != "pending"
            }
            #expect(outcome["status"] == "succeeded")
            #expect(outcome["type"] == "ReserveSeat")
            let result = try #require(outcome["result"])
            #expect(result["seatNumber"] == 7)
            #expect(result["price"] == 150_000)
            #expect(result["date"]?.string == date)
            let reservationID = try #require(result["reservationId"]?.string)

            let held = try await alice.send(.get, "/v1/reservations/\(reservationID)").json()
            #expect(held["status"] == "held")
            let seatsNow = try await alice.send(.get, "/v1/concerts/1/dates/\(date)/seats").json()
            if case .array(let stillFree)? = seatsNow["seats"] { #expect(stillFree.count == 49) }

            let paid = try await alice.pay(reservationID)
            #expect(paid.status == .created)
            #expect(paid.headers[HTTPField.Name("Preference-Applied")!] == "wait=10")
            let receipt = try #require(try paid.json()["result"])
            #expect(receipt["amount"] == 150_000)
            #expect(receipt["balanceAfter"] == 50_000)
            #expect(receipt["reservationId"]?.string == reservationID)
            #expect(receipt["seatNumber"] == 7)
            #expect(try await alice.balance() == 50_000)
            #expect(try await alice.send(.get, "/v1/reservations/\(reservationID)").json()["status"] == "paid")

            // Paying ended the token: nothing more is read with it.
            let after = try await alice.send(.get, "/v1/concerts/1/dates")
            #expect(after.status == .unauthorized)
            #expect(try after.json()["code"] == "TOKEN_EXPIRED")

            // The seat is gone for the next buyer.
            var bob = Buyer(client, "bob")
            try await bob.queue()
            try await harness.admit()
            let bobSeats = try await bob.send(.get, "/v1/concerts/1/dates/\(date)/seats").json()
            if case .array(let left)? = bobSeats["seats"] {
                #expect(left.count == 49)
                #expect(!left.contains { $0["number"] == 7 })
            }
            let taken = try await bob.reserve(seat: 7, date: date)
            #expect(taken.status == .conflict)
            #expect(try taken.json()["code"] == "SEAT_UNAVAILABLE")

            // Storage agrees: one receipt, one debit equal to the price, a sold seat, an expired token.
            let rows = try await harness.client.query(
                """
                SELECT (SELECT count(*) FROM payments WHERE reservation_id = \(UUID(uuidString: reservationID)!)),
                       (SELECT count(*) FROM wallet_ledger WHERE user_id = 'alice' AND kind = 'payment' AND amount = -150000),
                       (SELECT count(*) FROM seats WHERE state = 'sold'),
                       (SELECT count(*) FROM queue_tokens WHERE user_id = 'alice' AND state = 'expired'),
                       (SELECT balance FROM wallets WHERE user_id = 'alice') = (SELECT sum(amount) FROM wallet_ledger WHERE user_id = 'alice')
                """,
                logger: DatabaseEnvironment.logger
            )
            for try await (payments, debits, sold, expiredTokens, balanced) in rows.decode((Int, Int, Int, Int, Bool).self) {
                #expect(payments == 1)
                #expect(debits == 1)
                #expect(sold == 1)
                #expect(expiredTokens == 1)
                #expect(balanced)
            }
        }
    }

    @Test func oneUserSendingFiftyReservationsAtOnceGetsExactlyFourSeatsAndAReplayCountsOnce() async throws {
        try await APIHarness.withAPI(pipeline: .init(maximumSeatsPerUser: 4)) { client, harness in
            var hoarder = Buyer(client, "hoarder")
            try await hoarder.queue()
            try await harness.admit()
            let date = try await Self.firstDate(hoarder)
            let buyer = hoarder
            let answers = try await withThrowingTaskGroup(of: (seat: Int, response: TestResponse).self) { group in
                for seat in 1...50 {
                    group.addTask { (seat, try await buyer.reserve(seat: seat, date: date)) }
                }
                return try await group.reduce(into: [(seat: Int, response: TestResponse)]()) { $0.append($1) }
            }
            let created = answers.filter { $0.response.status == .created }
            #expect(created.count == 4)
            #expect(answers.filter { $0.response.status == .conflict && (try? $0.response.json()["code"]) == "SEAT_LIMIT_REACHED" }.count == 46)
            func holds() async throws -> Int {
                try await harness.client.query(
                    "SELECT count(*) FROM reservations WHERE user_id = 'hoarder' AND status = 'held'",
                    logger: DatabaseEnvironment.logger
                ).decode(Int.self).reduce(0, +)
            }
            #expect(try await holds() == 4)

            // A replay of a command that made a hold (the broker redelivers, an operator replays)
            // is recognised by its id: it counts once, and the limit still refuses a fifth seat.
            let replayed = try #require(created.first)
            guard case .string(let id)? = try replayed.response.json()["commandId"], let commandID = UUID(uuidString: id) else {
                throw TestFailure("no command id")
            }
            let schedule = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate(date)!)
            let envelope = CommandEnvelope(
                id: commandID,
                userId: UserID("hoarder")!,
                partitionKey: schedule.partitionKey,
                command: .reserveSeat(.init(concertId: ConcertID(1)!, date: ScheduleDate(date)!, seatNumber: SeatNumber(replayed.seat)!)),
                submittedAt: Date()
            )
            try await CommandPublisher(connection: harness.broker, partitions: 2).publish(envelope, schedule: schedule)
            // The next command of the partition is decided after the replay (one queue, in order).
            let free = try #require((1...50).first { seat in !created.contains { $0.seat == seat } })
            let fifth = try await hoarder.reserve(seat: free, date: date)
            #expect(fifth.status == .conflict)
            #expect(try fifth.json()["code"] == "SEAT_LIMIT_REACHED")
            #expect(try await holds() == 4)
        }
    }

    @Test func twoHundredBuyersRaceForOneSeatAndExactlyOneWins() async throws {
        try await APIHarness.withAPI(pipeline: .init()) { client, harness in
            var buyers: [Buyer] = []
            for index in 0..<200 {
                var buyer = Buyer(client, "racer\(index)")
                try await buyer.queue()
                buyers.append(buyer)
            }
            try await harness.admit()
            let date = try await Self.firstDate(buyers[0])
            let outcomes = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for buyer in buyers {
                    group.addTask {
                        let response = try await buyer.reserve(seat: 1, date: date)
                        return (response.status, try response.json()["code"]?.string)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0.0 == .created }.count == 1)
            #expect(outcomes.filter { $0.0 == .conflict && $0.1 == "SEAT_UNAVAILABLE" }.count == 199)
            let rows = try await harness.client.query(
                "SELECT count(*) FROM reservations WHERE seat_number = 1 AND status = 'held'",
                logger: DatabaseEnvironment.logger
            )
            for try await count in rows.decode(Int.self) { #expect(count == 1) }
        }
    }

    @Test func anUnpaidHoldExpiresFreesTheSeatAndALatePaymentIsRefused() async throws {
        try await APIHarness.withAPI(pipeline: .init(holdSeconds: 2)) { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.charge(500_000)
            try await alice.queue()
            var bob = Buyer(client, "bob")
            try await bob.queue()
            try await harness.admit()
            let date = try await Self.firstDate(alice)

            let held = try await alice.reserve(seat: 3, date: date)
            #expect(held.status == .created)
            let reservationID = try #require(try held.json()["result"]?["reservationId"]?.string)
            #expect(try await bob.reserve(seat: 3, date: date).status == .conflict)

            // Hold length + 2 s at most: the delayed ExpireHold releases it.
            try await eventually(timeout: .seconds(4), "the hold expires") {
                try await harness.client.query(
                    "SELECT count(*) FROM seats WHERE reservation_id = \(UUID(uuidString: reservationID)!)",
                    logger: DatabaseEnvironment.logger
                ).decode(Int.self).reduce(0, +) == 0
            }
            #expect(try await alice.send(.get, "/v1/reservations/\(reservationID)").json()["status"] == "expired")
            let late = try await alice.pay(reservationID)
            #expect(late.status == .gone)
            #expect(try late.json()["code"] == "HOLD_EXPIRED")
            #expect(try await alice.balance() == 500_000)
            #expect(try await bob.reserve(seat: 3, date: date).status == .created)
        }
    }

    @Test func aHoldWhoseExpiryMessageIsLostIsExpiredByTheSweeper() async throws {
        try await APIHarness.withAPI(pipeline: .init(holdSeconds: 1)) { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.queue()
            var bob = Buyer(client, "bob")
            try await bob.queue()
            try await harness.admit()
            let date = try await Self.firstDate(alice)
            let held = try await alice.reserve(seat: 5, date: date)
            let reservationID = try #require(try held.json()["result"]?["reservationId"]?.string.flatMap(UUID.init(uuidString:)))

            // The expiry message is lost (as a broker restart can lose it).
            try await eventually("the expiry is scheduled") {
                try await harness.broker.inspectQueue(PipelineTopology.holdDelayQueue).messageCount == 1
            }
            #expect(try await harness.broker.purgeQueue(PipelineTopology.holdDelayQueue) == 1)
            try await Task.sleep(for: .seconds(2.5))
            func status() async throws -> String? {
                try await harness.client.query("SELECT status FROM reservations WHERE id = \(reservationID)", logger: DatabaseEnvironment.logger)
                    .decode(String.self).reduce(into: nil) { $0 = $1 }
            }
            #expect(try await status() == "held", "without the sweeper the hold stays in storage")

            let sweeper = HoldSweeper(
                reservations: ReservationStore(client: harness.client, logger: DatabaseEnvironment.logger),
                publisher: CommandPublisher(connection: harness.broker, partitions: 2),
                logger: DatabaseEnvironment.logger
            )
            #expect(try await sweeper.sweep() == 1)
            try await eventually(timeout: .seconds(5), "the swept hold expires") { try await status() == "expired" }
            #expect(
                try await harness.client.query(
                    "SELECT count(*) FROM seats WHERE reservation_id = \(reservationID)",
                    logger: DatabaseEnvironment.logger
                )
                .decode(Int.self).reduce(0, +) == 0
            )
            #expect(try await sweeper.sweep() == 0, "nothing is left to sweep")
            #expect(try await bob.reserve(seat: 5, date: date).status == .created)
        }
    }

    @Test func paymentRules() async throws {
        try await APIHarness.withAPI(pipeline: .init()) { client, harness in
            var alice = Buyer(client, "alice")
            var mallory = Buyer(client, "mallory")
            try await alice.queue()
            try await mallory.queue()
            try await mallory.charge(1_000_000)
            try await harness.admit()
            let date = try await Self.firstDate(alice)
            let reservationID = try #require(try await alice.reserve(seat: 40, date: date).json()["result"]?["reservationId"]?.string)

            // Insufficient balance changes nothing.
            let poor = try await alice.pay(reservationID)
            #expect(poor.status.code == 402)
            #expect(try poor.json()["code"] == "INSUFFICIENT_BALANCE")
            #expect(try await alice.balance() == 0)
            #expect(try await alice.send(.get, "/v1/reservations/\(reservationID)").json()["status"] == "held")

            // Someone else's reservation.
            let stolen = try await mallory.pay(reservationID)
            #expect(stolen.status == .forbidden)
            #expect(try stolen.json()["code"] == "NOT_RESERVATION_OWNER")
            #expect(try await mallory.balance() == 1_000_000)

            // After a top-up it works, once.
            try await alice.charge(80_000)
            #expect(try await alice.pay(reservationID).status == .created)
            #expect(try await alice.balance() == 0)
            // The token ended with the payment, so a second attempt needs a new token — and is ALREADY_PAID.
            try await alice.queue()
            try await harness.admit()
            let again = try await alice.pay(reservationID)
            #expect(again.status == .conflict)
            #expect(try again.json()["code"] == "ALREADY_PAID")
            #expect(try await alice.balance() == 0)
        }
    }

    @Test func twoPaymentsRacingOnABalanceThatCoversOneLetExactlyOneThrough() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 4)) { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.queue()
            try await harness.admit()
            let date = try await Self.firstDate(alice)
            let first = try #require(try await alice.reserve(seat: 41, date: date).json()["result"]?["reservationId"]?.string)
            let second = try #require(try await alice.reserve(seat: 42, date: date).json()["result"]?["reservationId"]?.string)
            try await alice.charge(80_000)
            let buyer = alice
            async let one = buyer.pay(first)
            async let two = buyer.pay(second)
            let statuses = try await [one.status, two.status]
            #expect(statuses.filter { $0 == .created }.count == 1)
            #expect(statuses.filter { $0.code == 402 }.count == 1)
            #expect(try await alice.balance() == 0)
        }
    }

    @Test func aCommandWhileTheBrokerIsDownIs503AndLeavesNoTrace() async throws {
        try await APIHarness.withAPI { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.queue()
            try await harness.admit()
            let date = try await Self.firstDate(alice)
            let response = try await alice.send(.post, "/v1/reservations", #"{"concertId":1,"date":"\#(date)","seatNumber":1}"#)
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "5")
            #expect(try response.json()["code"] == "SERVICE_UNAVAILABLE")
            let rows = try await harness.client.query("SELECT count(*) FROM commands", logger: DatabaseEnvironment.logger)
            for try await count in rows.decode(Int.self) { #expect(count == 0) }
        }
    }

    @Test func unknownCommandsAre404AndBadIdsAre400() async throws {
        try await APIHarness.withAPI { client, _ in
            let unknown = try await client.execute(uri: "/v1/commands/\(UUID())", method: .get, headers: APIHarness.authorization("alice"))
            #expect(unknown.status == .notFound)
            #expect(try await client.execute(uri: "/v1/commands/not-a-uuid", method: .get).status == .badRequest)
        }
    }
}
