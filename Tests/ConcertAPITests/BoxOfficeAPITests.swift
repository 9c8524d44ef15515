import ConcertAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import TestSupport
import Testing

extension Buyer {
    /// Submits a reservation body and waits for the outcome (`Prefer: wait=10`).
    func reserve(_ body: String) async throws -> TestResponse {
        try await send(.post, "/v1/reservations", body, headers: [HTTPField.Name("Prefer")!: "wait=10"])
    }

    func release(_ reservationID: String) async throws -> TestResponse {
        try await send(.delete, "/v1/reservations/\(reservationID)", headers: [HTTPField.Name("Prefer")!: "wait=10"])
    }
}

/// The box office over HTTP against real RabbitMQ and PostgreSQL: several seats all or none, the
/// best available together, a hold let go, a user's tickets, refunds and a cancelled date.
@Suite(.enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct BoxOfficeAPITests {
    static let date = "2099-06-01"

    static func seats(_ response: TestResponse) throws -> [Int] {
        guard case .array(let seats)? = try response.json()["result"]?["seats"] else { return [] }
        return seats.compactMap { if case .number(let n)? = $0["number"] { Int(n) } else { nil } }
    }

    static func numbers(_ value: JSONValue?) -> [Int] {
        guard case .array(let values)? = value else { return [] }
        return values.compactMap { if case .number(let n) = $0 { Int(n) } else { nil } }
    }

    static func count(_ sql: PostgresQuery, _ harness: APIHarness) async throws -> Int {
        try await harness.client.query(sql, logger: DatabaseEnvironment.logger).decode(Int.self).reduce(0, +)
    }

    /// A buyer of concert 1 with a balance, admitted.
    static func admitted(_ client: any TestClientProtocol, _ harness: APIHarness, _ user: String, balance: Int = 2_000_000) async throws -> Buyer {
        var buyer = Buyer(client, user)
        try await buyer.charge(balance)
        try await buyer.queue()
        try await harness.admit()
        return buyer
    }

    @Test func severalSeatsAreHeldAllOrNoneAndPaidAsOne() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2, maximumSeatsPerUser: 4)) { client, harness in
            #expect(try await CatalogueAPITests.send(client, .put, "/admin/concerts/1/dates/\(Self.date)", CatalogueAPITests.hall).status == .created)
            let ana = try await Self.admitted(client, harness, "ana")
            let three = try await ana.reserve(#"{"concertId":1,"date":"\#(Self.date)","seatNumbers":[3,1,2]}"#)
            #expect(three.status == .created, "\(String(buffer: three.body))")
            #expect(try Self.seats(three) == [1, 2, 3])
            #expect(try three.json()["result"]?["price"] == .number(495_000))
            #expect(try three.json()["result"]?["seatNumber"] == nil, "several seats: no seatNumber")
            guard case .array(let placed)? = try three.json()["result"]?["seats"] else { throw TestFailure("no seats") }
            #expect(placed[2]["section"] == .string("Floor A") && placed[2]["row"] == .string("1") && placed[2]["seat"] == .string("3"))

            // All or none: one taken seat refuses the whole request, naming it; the others stay free.
            let ben = try await Self.admitted(client, harness, "ben")
            let clash = try await ben.reserve(#"{"concertId":1,"date":"\#(Self.date)","seatNumbers":[3,4]}"#)
            #expect(clash.status == .conflict)
            #expect(try clash.json()["code"] == .string("SEAT_UNAVAILABLE"))
            #expect(Self.numbers(try clash.json()["seatNumbers"]) == [3])
            #expect(try Self.seats(try await ben.reserve(#"{"concertId":1,"date":"\#(Self.date)","seatNumbers":[4]}"#)) == [4])
            // The limit counts seats: three held, a fourth and fifth are one too many.
            let over = try await ana.reserve(#"{"concertId":1,"date":"\#(Self.date)","seatNumbers":[5,6]}"#)
            #expect(try over.json()["code"] == .string("SEAT_LIMIT_REACHED"))

            // One payment pays the whole reservation.
            guard case .string(let reservation)? = try three.json()["result"]?["reservationId"] else { throw TestFailure("no id") }
            let paid = try await ana.pay(reservation)
            #expect(paid.status == .created)
            #expect(try paid.json()["result"]?["amount"] == .number(495_000))
            #expect(try await ana.balance() == .number(2_000_000 - 495_000))
            #expect(
                try await Self.count(
                    "SELECT count(*)::int FROM seats s JOIN schedules d ON d.id = s.schedule_id WHERE d.date = '2099-06-01' AND s.state = 'sold'",
                    harness
                ) == 3
            )
        }
    }

    @Test func theBestAvailableSeatsAreFoundTogetherWithoutStrandingOne() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            // Floor A: rows of 3 (seats 1–3 at 165 000, 4–6 at 150 000); Balcony: a row of 4 (7–10 at 99 000).
            #expect(try await CatalogueAPITests.send(client, .put, "/admin/concerts/1/dates/\(Self.date)", CatalogueAPITests.hall).status == .created)
            let cho = try await Self.admitted(client, harness, "cho")
            func best(_ members: String) async throws -> TestResponse {
                try await cho.reserve(#"{"concertId":1,"date":"\#(Self.date)",\#(members)}"#)
            }
            // Two in a row of three would leave one alone: the balcony's four take them.
            #expect(try Self.seats(try await best(#""quantity":2"#)) == [7, 8])
            #expect(try Self.seats(try await best(#""quantity":3"#)) == [1, 2, 3])
            #expect(try Self.seats(try await best(#""quantity":1,"maxPrice":100000"#)) == [9])
            let none = try await best(#""quantity":4,"section":"Floor A""#)
            #expect(none.status == .conflict)
            #expect(try none.json()["code"] == .string("SEATS_UNAVAILABLE"))
            #expect(try none.json()["freeSeats"] == .number(3))
            // Apart when asked: the first free seats in order.
            #expect(try Self.seats(try await best(#""quantity":4,"together":false"#)) == [4, 5, 6, 10])
            let soldOut = try await best(#""quantity":1"#)
            #expect(try soldOut.json()["code"] == .string("SEATS_UNAVAILABLE"))
            #expect(try soldOut.json()["freeSeats"] == .number(0))
        }
    }

    @Test func aHoldLetGoFreesItsSeatsAtOnce() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            let dan = try await Self.admitted(client, harness, "dan")
            let date = try await PurchaseFlowTests.firstDate(dan)
            let held = try await dan.reserve(#"{"concertId":1,"date":"\#(date)","seatNumbers":[7,8]}"#)
            guard case .string(let reservation)? = try held.json()["result"]?["reservationId"] else { throw TestFailure("no id") }

            let eve = try await Self.admitted(client, harness, "eve")
            #expect(try await eve.release(reservation).json()["code"] == .string("NOT_RESERVATION_OWNER"))
            let released = try await dan.release(reservation)
            #expect(released.status == .created)
            #expect(try released.json()["result"]?["status"] == .string("released"))
            #expect(Self.numbers(try released.json()["result"]?["seatNumbers"]) == [7, 8])
            // Free at once: listed, and reserved by someone else.
            let free = try await eve.send(.get, "/v1/concerts/1/dates/\(date)/seats").json()
            guard case .array(let listed)? = free["seats"] else { throw TestFailure("no seats") }
            #expect(listed.contains { $0["number"] == .number(7) })
            #expect(try Self.seats(try await eve.reserve(#"{"concertId":1,"date":"\#(date)","seatNumbers":[7]}"#)) == [7])
            // Nothing to pay; letting it go again changes nothing.
            #expect(try await dan.pay(reservation).json()["code"] == .string("RESERVATION_RELEASED"))
            let again = try await dan.release(reservation)
            #expect(again.status == .created)
            #expect(Self.numbers(try again.json()["result"]?["seatNumbers"]).isEmpty)
            #expect(try await dan.send(.get, "/v1/reservations/\(reservation)").json()["status"] == .string("released"))

            // A paid hold cannot be let go.
            let kept = try await dan.reserve(#"{"concertId":1,"date":"\#(date)","seatNumber":9}"#)
            guard case .string(let keptID)? = try kept.json()["result"]?["reservationId"] else { throw TestFailure("no id") }
            #expect(try await dan.pay(keptID).status == .created)
            var after = Buyer(client, "dan")
            try await after.queue()
            try await harness.admit()
            let refused = try await after.release(keptID)
            #expect(refused.status == .conflict)
            #expect(try refused.json()["code"] == .string("ALREADY_PAID"))
        }
    }

    @Test func aUserSeesTheirTicketsNewestFirstPageByPage() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            let fay = try await Self.admitted(client, harness, "fay")
            let date = try await PurchaseFlowTests.firstDate(fay)
            var ids: [String] = []
            for seats in ["[1]", "[2,3]", "[4]"] {
                let held = try await fay.reserve(#"{"concertId":1,"date":"\#(date)","seatNumbers":\#(seats)}"#)
                guard case .string(let id)? = try held.json()["result"]?["reservationId"] else { throw TestFailure("no id") }
                ids.append(id)
            }
            #expect(try await fay.pay(ids[1]).status == .created)
            let headers = APIHarness.authorization("fay")
            let first = try await fay.send(.get, "/v1/users/fay/reservations?limit=2", headers: headers).json()
            guard case .array(let page)? = first["reservations"] else { throw TestFailure("no page: \(first)") }
            #expect(page.map { $0["reservationId"]?.string } == [ids[2], ids[1]])
            #expect(page[1]["status"] == .string("paid"))
            #expect(page[1]["price"] == .number(300_000))
            guard case .array(let seats)? = page[1]["seats"] else { throw TestFailure("no seats") }
            #expect(seats.map { $0["number"] } == [.number(2), .number(3)])
            #expect(page[1]["paymentId"]?.string != nil && page[1]["paidAt"]?.string != nil)
            #expect(page[0]["status"] == .string("held") && page[0]["seatNumber"] == .number(4))
            let cursor = try #require(first["next"]?.string)
            let second = try await fay.send(.get, "/v1/users/fay/reservations?limit=2&before=\(cursor)", headers: headers).json()
            guard case .array(let rest)? = second["reservations"] else { throw TestFailure("no page") }
            #expect(rest.map { $0["reservationId"]?.string } == [ids[0]])
            #expect(second["next"] == nil)
            // Only the user's own.
            let other = try await fay.send(.get, "/v1/users/fay/reservations", headers: APIHarness.authorization("gus"))
            #expect(other.status == .forbidden)
            #expect(try await fay.send(.get, "/v1/users/fay/reservations?limit=0", headers: headers).status == .badRequest)
        }
    }

    @Test func aRefundCreditsTheWalletOnceAndPutsTheSeatsOnSaleAgain() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            let gus = try await Self.admitted(client, harness, "gus", balance: 1_000_000)
            let date = try await PurchaseFlowTests.firstDate(gus)
            let held = try await gus.reserve(#"{"concertId":1,"date":"\#(date)","seatNumbers":[11,12]}"#)
            guard case .string(let id)? = try held.json()["result"]?["reservationId"] else { throw TestFailure("no id") }
            let price = try #require(try held.json()["result"]?["price"])
            let notYet = try await CatalogueAPITests.send(client, .post, "/admin/reservations/\(id)/refund")
            #expect(notYet.status == .conflict)
            #expect(try notYet.json()["code"] == .string("NOT_PAID"))
            #expect(try await gus.pay(id).status == .created)

            let refunded = try await CatalogueAPITests.send(client, .post, "/admin/reservations/\(id)/refund")
            #expect(refunded.status == .ok, "\(String(buffer: refunded.body))")
            #expect(try refunded.json()["result"]?["amount"] == price)
            #expect(try refunded.json()["type"] == .string("Refund"))
            #expect(try await gus.balance() == .number(1_000_000))
            let again = try await CatalogueAPITests.send(client, .post, "/admin/reservations/\(id)/refund")
            #expect(again.status == .conflict)
            #expect(try again.json()["code"] == .string("ALREADY_REFUNDED"))
            #expect(try await gus.balance() == .number(1_000_000))
            #expect(try await Self.count("SELECT count(*)::int FROM wallet_ledger WHERE user_id = 'gus' AND kind = 'refund'", harness) == 1)
            #expect(
                try await Self.count(
                    "SELECT count(*)::int FROM wallets w WHERE balance <> (SELECT sum(amount) FROM wallet_ledger l WHERE l.user_id = w.user_id)",
                    harness
                ) == 0
            )
            // On sale again, and the owner sees it refunded.
            var back = Buyer(client, "gus")
            try await back.queue()
            try await harness.admit()
            #expect(try Self.seats(try await back.reserve(#"{"concertId":1,"date":"\#(date)","seatNumbers":[11,12]}"#)) == [11, 12])
            let ticket = try await back.send(.get, "/v1/reservations/\(id)").json()
            #expect(ticket["status"] == .string("refunded") && ticket["refundedAt"]?.string != nil)
            #expect(try await CatalogueAPITests.send(client, .post, "/admin/reservations/\(UUID())/refund").status == .notFound)
        }
    }

    @Test func aCancelledDateReleasesItsHoldsRefundsItsSalesAndLeavesTheSale() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            #expect(try await CatalogueAPITests.send(client, .put, "/admin/concerts/1/dates/\(Self.date)", CatalogueAPITests.hall).status == .created)
            let hal = try await Self.admitted(client, harness, "hal", balance: 1_000_000)
            let ivy = try await Self.admitted(client, harness, "ivy", balance: 1_000_000)
            let paid = try await hal.reserve(#"{"concertId":1,"date":"\#(Self.date)","seatNumbers":[1,2]}"#)
            guard case .string(let paidID)? = try paid.json()["result"]?["reservationId"] else { throw TestFailure("no id") }
            #expect(try await hal.pay(paidID).status == .created)
            #expect(try await ivy.reserve(#"{"concertId":1,"date":"\#(Self.date)","seatNumber":5}"#).status == .created)
            #expect(try await ivy.reserve(#"{"concertId":1,"date":"\#(Self.date)","quantity":2}"#).status == .created)

            let cancelled = try await CatalogueAPITests.send(client, .delete, "/admin/concerts/1/dates/\(Self.date)")
            #expect(cancelled.status == .ok, "\(String(buffer: cancelled.body))")
            let result = try #require(try cancelled.json()["result"])
            #expect(result["released"] == .number(2) && result["refunded"] == .number(1) && result["refundedAmount"] == .number(330_000))
            #expect(result["alreadyCancelled"] == .bool(false))
            #expect(try await hal.balance() == .number(1_000_000))
            let again = try await CatalogueAPITests.send(client, .delete, "/admin/concerts/1/dates/\(Self.date)")
            #expect(try again.json()["result"]?["alreadyCancelled"] == .bool(true))
            #expect(try await hal.balance() == .number(1_000_000))

            // Off sale: not listed, no seats, no holds; the admin API says so.
            let dates = try await ivy.send(.get, "/v1/concerts/1/dates").json()
            guard case .array(let listed)? = dates["dates"] else { throw TestFailure("no dates") }
            #expect(!listed.contains { $0["date"] == .string(Self.date) })
            #expect(try await ivy.send(.get, "/v1/concerts/1/dates/\(Self.date)/seats").status == .notFound)
            #expect(try await ivy.reserve(#"{"concertId":1,"date":"\#(Self.date)","seatNumber":9}"#).json()["code"] == .string("SCHEDULE_NOT_FOUND"))
            let detail = try await CatalogueAPITests.send(client, .get, "/admin/concerts/1").json()
            guard case .array(let adminDates)? = detail["dates"] else { throw TestFailure("no dates") }
            #expect(adminDates.first { $0["date"] == .string(Self.date) }?["cancelled"] == .bool(true))
            #expect(try await CatalogueAPITests.send(client, .delete, "/admin/concerts/1/dates/2099-06-02").status == .notFound)
        }
    }

    @Test(arguments: [
        (#"{"concertId":1,"date":"2099-06-01"}"#, "seatNumber"),
        (#"{"concertId":1,"date":"2099-06-01","seatNumber":1,"quantity":2}"#, "seatNumber"),
        (#"{"concertId":1,"date":"2099-06-01","seatNumbers":[]}"#, "seatNumbers"),
        (#"{"concertId":1,"date":"2099-06-01","seatNumbers":[2,2]}"#, "seatNumbers[1]"),
        (#"{"concertId":1,"date":"2099-06-01","seatNumbers":[1,2,3,4,5]}"#, "seatNumbers"),
        (#"{"concertId":1,"date":"2099-06-01","quantity":0}"#, "quantity"),
        (#"{"concertId":1,"date":"2099-06-01","quantity":5}"#, "quantity"),
        (#"{"concertId":1,"date":"2099-06-01","seatNumber":1,"section":"A"}"#, "quantity"),
        (#"{"concertId":1,"date":"2099-06-01","quantity":1,"maxPrice":0}"#, "maxPrice"),
        (#"{"concertId":1,"date":"2099-06-01","quantity":1,"section":" "}"#, "section"),
        (#"{"concertId":1,"date":"2099-06-01","seatNumber":1,"quantity":null}"#, "quantity"),
    ])
    func aReservationThatAsksForNoneOrTwoFormsIsRefusedNamingTheField(body: String, field: String) async throws {
        // Refused before anything is published: no pipeline (eleven virtual hosts at once stall the broker).
        try await APIHarness.withAPI { client, harness in
            let jo = try await Self.admitted(client, harness, "jo")
            let refused = try await jo.reserve(body)
            #expect(refused.status == .badRequest, "\(body)")
            #expect(try refused.json()["detail"]?.string?.hasPrefix(field) == true, "\(String(buffer: refused.body))")
            #expect(try await Self.count("SELECT count(*)::int FROM reservations", harness) == 0)
        }
    }
}
