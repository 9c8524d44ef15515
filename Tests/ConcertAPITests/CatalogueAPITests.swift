import ConcertAPI
import ConcertDomain
import ConcertStorage
import ConcertWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import TestSupport
import Testing

/// The catalogue an operator runs over the admin API, and the sale times it sets: the queue
/// closed before it opens, a pre-queue nobody leaves before the start, no tokens or holds after
/// the end.
@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct CatalogueAPITests {
    static let admin: HTTPFields = [.authorization: "Bearer \(APIHarness.adminToken)"]

    static func time(_ offset: TimeInterval) -> String {
        RFC3339.string(Date().addingTimeInterval(offset))
    }

    static func send(
        _ client: any TestClientProtocol,
        _ method: HTTPRequest.Method,
        _ uri: String,
        _ body: String? = nil
    ) async throws -> TestResponse {
        var headers = admin
        if body != nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }

    static func count(_ sql: PostgresQuery, _ harness: APIHarness) async throws -> Int {
        try await harness.client.query(sql, logger: DatabaseEnvironment.logger).decode(Int.self).reduce(0, +)
    }

    @Test func anOperatorCreatesChangesAndListsConcerts() async throws {
        try await APIHarness.withAPI { client, harness in
            let onSale = Self.time(3600)
            let created = try await Self.send(
                client,
                .post,
                "/admin/concerts",
                #"{"title":"Aurora Live","venue":"Olympic Hall","onSaleAt":"\#(onSale)","capacity":50}"#
            )
            #expect(created.status == .created)
            let concert = try created.json()
            let id = try #require(concert["id"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } })
            #expect(created.headers[.location] == "/admin/concerts/\(id)")
            #expect(concert["status"] == .string("scheduled"))
            #expect(concert["onSaleAt"] == .string(onSale))
            // The queue opens 30 minutes before the sale unless told otherwise.
            #expect(
                concert["queueOpensAt"] == .string(RFC3339.string(Date(timeIntervalSince1970: RFC3339.date(onSale)!.timeIntervalSince1970 - 1800)))
            )
            #expect(concert["capacity"] == .number(50))
            #expect(concert["admitPerSecond"] == .number(0), "the process's default")

            let changed = try await Self.send(client, .patch, "/admin/concerts/\(id)", #"{"onSaleAt":null,"capacity":null,"title":"Aurora Live II"}"#)
            #expect(changed.status == .ok)
            #expect(try changed.json()["status"] == .string("on-sale"))
            #expect(try changed.json()["queueOpensAt"] == nil)
            #expect(try changed.json()["capacity"] == .number(1000))
            #expect(try changed.json()["title"] == .string("Aurora Live II"))

            let listed = try await client.execute(uri: "/v1/concerts", method: .get).json()
            guard case .array(let concerts)? = listed["concerts"] else { throw TestFailure("no list") }
            let mine = try #require(concerts.first { $0["id"] == .number(Double(id)) })
            #expect(mine["venue"] == .string("Olympic Hall"))
            #expect(mine["status"] == .string("on-sale"))
            #expect(mine["capacity"] == nil, "buyers do not see the waiting room's settings")

            // The seeded concert: its dates with their seats by state.
            let one = try await Self.send(client, .get, "/admin/concerts/1").json()
            guard case .array(let dates)? = one["dates"] else { throw TestFailure("no dates") }
            #expect(!dates.isEmpty)
            #expect(dates.first.map { if case .number(let free)? = $0["free"] { free > 0 } else { false } } == true)
            #expect(try await Self.send(client, .get, "/admin/concerts/999999").status == .notFound)

            // An import key makes a second create change nothing.
            let first = try await Self.send(client, .post, "/admin/concerts", #"{"title":"Keyed","externalKey":"venue-2027-01"}"#)
            let again = try await Self.send(client, .post, "/admin/concerts", #"{"title":"Other title","externalKey":"venue-2027-01"}"#)
            #expect(first.status == .created)
            #expect(again.status == .ok)
            #expect(try again.json()["id"] == first.json()["id"])
            #expect(try again.json()["title"] == .string("Keyed"))
        }
    }

    @Test(arguments: [
        (#"{"venue":"x"}"#, "title", 400),
        (#"{"title":""}"#, "title", 400),
        (#"{"title":"   "}"#, "title", 400),
        (#"{"title":"a\u0000b"}"#, "title", 400),
        (#"{"title":"x","venue":"a\u0007"}"#, "venue", 400),
        (#"{"title":"x","onSaleAt":"tomorrow"}"#, "onSaleAt", 400),
        (#"{"title":"x","capacity":0}"#, "capacity", 400),
        (#"{"title":"x","admitPerSecond":-1}"#, "admitPerSecond", 400),
        (#"{"title":"x","capacity":1.5}"#, "capacity", 400),
        (#"{"title":"x","queueOpensAt":"2027-01-01T00:00:00Z"}"#, "queueOpensAt", 409),
        (#"{"title":"x","queueOpensAt":"2027-01-02T00:00:00Z","onSaleAt":"2027-01-01T00:00:00Z"}"#, "queueOpensAt", 409),
        (#"{"title":"x","onSaleAt":"2027-01-01T00:00:00Z","saleEndsAt":"2027-01-01T00:00:00Z"}"#, "saleEndsAt", 409),
    ])
    func badConcertsAreRefusedNamingTheFieldAndChangeNothing(body: String, field: String, status: Int) async throws {
        try await APIHarness.withAPI { client, harness in
            let before = try await Self.count("SELECT count(*) FROM concerts", harness)
            let response = try await Self.send(client, .post, "/admin/concerts", body)
            #expect(response.status.code == status)
            #expect(try response.json()["code"] == .string(status == 400 ? "INVALID_REQUEST" : "SALE_TIMES_OUT_OF_ORDER"))
            let detail = try response.json()["detail"]
            #expect(detail.map { if case .string(let text) = $0 { text.hasPrefix(field) } else { false } } == true, "\(String(describing: detail))")
            #expect(try await Self.count("SELECT count(*) FROM concerts", harness) == before)
            // Changes are checked the same way, against the stored times too.
            let patch = try await Self.send(
                client,
                .patch,
                "/admin/concerts/1",
                #"{"saleEndsAt":"2000-01-01T00:00:00Z","onSaleAt":"2001-01-01T00:00:00Z"}"#
            )
            #expect(patch.status == .conflict)
            _ = try await Self.send(client, .patch, "/admin/concerts/1", #"{"onSaleAt":"2001-01-01T00:00:00Z"}"#)
            let before2001 = try await Self.send(client, .patch, "/admin/concerts/1", #"{"saleEndsAt":"2000-01-01T00:00:00Z"}"#)
            #expect(before2001.status == .conflict)
            #expect(try await Self.count("SELECT count(*) FROM concerts WHERE sale_ends_at IS NOT NULL", harness) == 0)
            let key = try await Self.send(client, .patch, "/admin/concerts/1", #"{"externalKey":"k"}"#)
            #expect(key.status == .badRequest)
        }
    }

    @Test func theAdminCatalogueNeedsTheAdminToken() async throws {
        try await APIHarness.withAPI { client, _ in
            let response = try await client.execute(
                uri: "/admin/concerts",
                method: .post,
                headers: [.authorization: "Bearer wrong", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"title":"x"}"#)
            )
            #expect(response.status == .unauthorized)
        }
    }

    @Test func theSaleTimesGateTokensAdmissionAndHolds() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1)) { client, harness in
            let created = try await Self.send(client, .post, "/admin/concerts", #"{"title":"Later","onSaleAt":"\#(Self.time(7200))"}"#)
            let id = try #require(try created.json()["id"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } })
            var buyer = Buyer(client, "early")

            // Before the queue opens: no token, and the problem says when it opens.
            let closed = try await buyer.send(.post, "/v1/queue/tokens", #"{"concertId":\#(id)}"#, headers: APIHarness.authorization("early"))
            #expect(closed.status == .forbidden)
            #expect(try closed.json()["code"] == .string("QUEUE_NOT_OPEN"))
            #expect(try closed.json()["queueOpensAt"] != nil)
            #expect(closed.headers[.retryAfter].flatMap(Int.init).map { $0 > 5000 } == true)

            // The queue open, the sale not started: a pre-queue token, no position, nobody admitted.
            // Ten seconds ahead: the checks before the start must run before it even on a loaded
            // machine (at four, an admission pass that came late drew and abandoned the token).
            let startsAt = Date().addingTimeInterval(10)
            let onSale = RFC3339.string(startsAt)
            _ = try await Self.send(client, .patch, "/admin/concerts/\(id)", #"{"queueOpensAt":"\#(Self.time(-1))","onSaleAt":"\#(onSale)"}"#)
            try await harness.services.view.refresh()
            let issued = try await buyer.send(.post, "/v1/queue/tokens", #"{"concertId":\#(id)}"#, headers: APIHarness.authorization("early"))
            #expect(issued.status == .created)
            #expect(try issued.json()["status"] == .string("pre-queue"))
            #expect(try issued.json()["position"] == nil)
            #expect(try issued.json()["onSaleAt"] == .string(onSale))
            buyer.token = try #require(try issued.json()["token"].flatMap { if case .string(let s) = $0 { s } else { nil } })
            let waiting = try await buyer.send(.get, "/v1/queue/status")
            #expect(try waiting.json()["status"] == .string("pre-queue"))
            #expect(waiting.headers[.retryAfter].flatMap(Int.init).map { (1...13).contains($0) } == true)
            // Admission passes before the start, long after the abandon window: nobody admitted, nobody abandoned.
            try await harness.admit(abandonAfter: 0.1)
            #expect(Date() < startsAt, "the admission pass came after the start: the test's window is too short for this machine")
            #expect(try await Self.count("SELECT count(*) FROM queue_tokens WHERE concert_id = \(id) AND state = 'waiting'", harness) == 1)

            // At the start: admitted in order.
            try await Task.sleep(for: .seconds(max(0, startsAt.timeIntervalSinceNow) + 0.5))
            try await harness.services.view.refresh()
            try await harness.admit()
            try await eventually("the early buyer is admitted") {
                try await buyer.send(.get, "/v1/queue/status").json()["status"] == .string("active")
            }

            // After the end: no tokens for anyone, no new holds; the seeded concert 1 sells as before.
            _ = try await Self.send(client, .patch, "/admin/concerts/\(id)", #"{"saleEndsAt":"\#(Self.time(1))"}"#)
            try await Task.sleep(for: .seconds(1.5))
            try await harness.services.view.refresh()
            let late = try await Buyer(client, "late").send(
                .post,
                "/v1/queue/tokens",
                #"{"concertId":\#(id)}"#,
                headers: APIHarness.authorization("late")
            )
            #expect(try late.json()["code"] == .string("QUEUE_CLOSED"))
            let hold = try await buyer.reserve(seat: 1, date: "2099-12-31", concert: id)
            #expect(hold.status == .conflict)
            #expect(try hold.json()["code"] == .string("SALE_ENDED"))
        }
    }

    /// The place a queue token's signature vouches for (its `seq` claim).
    static func signedSeq(_ token: String) throws -> Int64 {
        let parts = token.split(separator: ".")
        var payload = String(parts[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        let claims = try JSONDecoder().decode([String: JSONValue].self, from: try #require(Data(base64Encoded: payload)))
        guard case .number(let seq)? = claims["seq"] else { throw TestFailure("no seq in \(claims)") }
        return Int64(seq)
    }

    static func string(_ value: JSONValue?) -> String? {
        if case .string(let text)? = value { text } else { nil }
    }

    /// Spearman's rank correlation of two rankings of the same items (no ties).
    static func rankCorrelation(_ first: [Int64], _ second: [Int64]) -> Double {
        func ranks(_ values: [Int64]) -> [Double] {
            var ranks = [Double](repeating: 0, count: values.count)
            for (rank, index) in values.indices.sorted(by: { values[$0] < values[$1] }).enumerated() { ranks[index] = Double(rank) }
            return ranks
        }
        let (a, b) = (ranks(first), ranks(second))
        let n = Double(a.count)
        let squares = zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return 1 - 6 * squares / (n * (n * n - 1))
    }

    /// 300 buyers arrive one after another in the pre-queue; at the start they are placed 1…300
    /// in a random order (no correlation with arrival), the first admitted are the first places,
    /// later buyers queue behind in arrival order, and a second API process tells the same places.
    @Test func thePreQueueIsDrawnAtTheStartInARandomOrderEveryProcessAgreesOn() async throws {
        try await APIHarness.withAPI { client, harness in
            let created = try await Self.send(
                client,
                .post,
                "/admin/concerts",
                #"{"title":"Draw","queueOpensAt":"\#(Self.time(-1))","onSaleAt":"\#(Self.time(3600))"}"#
            )
            let id = try #require(try created.json()["id"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } })
            var early: [Buyer] = []
            for index in 0..<300 {
                var buyer = Buyer(client, "early\(index)")
                let issued = try await buyer.send(.post, "/v1/queue/tokens", #"{"concertId":\#(id)}"#, headers: APIHarness.authorization(buyer.user))
                #expect(try issued.json()["status"] == .string("pre-queue"))
                let token = try #require(Self.string(try issued.json()["token"]))
                buyer.token = token
                early.append(buyer)
            }
            // The sale moved up to start in two seconds, however long the pre-queue took to fill.
            let moved = try await Self.send(
                client,
                .patch,
                "/admin/concerts/\(id)",
                #"{"onSaleAt":"\#(Self.time(2))","queueOpensAt":"\#(Self.time(-60))"}"#
            )
            let onSaleAt = try #require(Self.string(try moved.json()["onSaleAt"]).flatMap(RFC3339.date))
            try await Task.sleep(for: .seconds(max(0, onSaleAt.timeIntervalSinceNow) + 0.2))

            // The admitter's first pass after the start draws the places, then admits five.
            try await harness.admit(capacity: 5)
            try await harness.services.view.refresh()
            var places: [Int64] = []
            var admitted: [Int64] = []
            for buyer in early {
                let status = try await buyer.send(.get, "/v1/queue/status").json()
                #expect(status["tokenReplaced"] == .bool(true))
                let replacement = try #require(Self.string(status["token"]))
                let place = try Self.signedSeq(replacement)
                places.append(place)
                if status["status"] == .string("active") {
                    admitted.append(place)
                } else {
                    #expect(status["position"] == .number(Double(place - 5)))
                }
            }
            #expect(Set(places) == Set(1...300))
            #expect(admitted.sorted() == [1, 2, 3, 4, 5])
            let rho = Self.rankCorrelation(Array(0..<300).map(Int64.init), places)
            #expect(abs(rho) < 0.2, "rank correlation with arrival \(rho)")

            // A second API process reads the same draw.
            let other = await APIHarness.services(harness.client, broker: harness.broker, partitions: 2)
            try await other.view.refresh()
            for (buyer, place) in zip(early, places) {
                let provisional = try Self.signedSeq(buyer.token)
                #expect(WaitingRoom.isProvisional(provisional))
                #expect(other.view.place(ConcertID(Int64(id))!, provisional: provisional) == place)
            }

            // Later buyers queue behind, in arrival order.
            for index in 0..<50 {
                let late = Buyer(client, "late\(index)")
                let issued = try await late.send(.post, "/v1/queue/tokens", #"{"concertId":\#(id)}"#, headers: APIHarness.authorization(late.user))
                #expect(try issued.json()["status"] == .string("waiting"))
                let token = try #require(Self.string(try issued.json()["token"]))
                #expect(try Self.signedSeq(token) == Int64(301 + index))
                #expect(try issued.json()["position"] == .number(Double(301 + index - 5)))
            }
        }
    }

    static let hall =
        #"{"sections":[{"name":"Floor A","rows":[{"label":"1","seats":3,"price":165000},{"label":"2","seats":3,"price":150000}]},{"name":"Balcony","rows":[{"label":"A","seats":4,"price":99000}]}]}"#

    /// A date given its seats through its partition's worker: reservable at once with the row's
    /// price, its seats listed with section, row and label; replaced while nothing is held, refused
    /// once a seat is.
    @Test func aSeatMapGoesThroughThePartitionAndADateInUseKeepsIt() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            let created = try await Self.send(client, .put, "/admin/concerts/1/dates/2099-06-01", Self.hall)
            #expect(created.status == .created)
            #expect(try created.json()["seats"] == .number(10))
            #expect(try created.json()["created"] == .bool(true))

            var buyer = Buyer(client, "mapped")
            try await buyer.charge(1_000_000)
            try await buyer.queue()
            try await harness.admit()
            let seats = try await buyer.send(.get, "/v1/concerts/1/dates/2099-06-01/seats").json()
            guard case .array(let list)? = seats["seats"] else { throw TestFailure("no seats: \(seats)") }
            #expect(list.count == 10)
            #expect(list[3]["section"] == .string("Floor A"))
            #expect(list[3]["row"] == .string("2"))
            #expect(list[3]["seat"] == .string("1"))
            #expect(list[3]["price"] == .number(150000))
            #expect(list[9]["section"] == .string("Balcony"))
            #expect(list[9]["seat"] == .string("4"))

            // Replaced while nothing is held: fewer seats.
            let replaced = try await Self.send(
                client,
                .put,
                "/admin/concerts/1/dates/2099-06-01",
                #"{"sections":[{"name":"Floor A","rows":[{"label":"1","seats":5,"price":170000}]}]}"#
            )
            #expect(replaced.status == .ok)
            #expect(try replaced.json()["created"] == .bool(false))
            let held = try await buyer.reserve(seat: 5, date: "2099-06-01")
            #expect(held.status == .created)
            #expect(try held.json()["result"]?["price"] == .number(170000))
            #expect(try await buyer.reserve(seat: 6, date: "2099-06-01").json()["code"] == .string("SEAT_NOT_FOUND"))

            // A held seat keeps the date's map.
            let refused = try await Self.send(client, .put, "/admin/concerts/1/dates/2099-06-01", Self.hall)
            #expect(refused.status == .conflict)
            #expect(try refused.json()["code"] == .string("SCHEDULE_IN_USE"))
            #expect(
                try await Self.count("SELECT count(*) FROM seats s JOIN schedules d ON d.id = s.schedule_id WHERE d.date = '2099-06-01'", harness)
                    == 5
            )

            let detail = try await Self.send(client, .get, "/admin/concerts/1").json()
            guard case .array(let dates)? = detail["dates"] else { throw TestFailure("no dates") }
            let date = try #require(dates.first { $0["date"] == .string("2099-06-01") })
            #expect(date["free"] == .number(4))
            #expect(date["held"] == .number(1))
            #expect(date["sold"] == .number(0))
            #expect(try await Self.send(client, .put, "/admin/concerts/999999/dates/2099-06-01", Self.hall).status == .notFound)
        }
    }

    @Test(arguments: [
        (#"{"sections":[]}"#, "sections", 400),
        (#"{"sections":[{"name":"A","rows":[]}]}"#, "sections[0].rows", 400),
        (
            #"{"sections":[{"name":"A","rows":[{"label":"1","seats":2,"price":1000},{"label":"1","seats":2,"price":1000}]}]}"#,
            "sections[0].rows[1].label", 409
        ),
        (#"{"sections":[{"name":"A","rows":[{"label":"1","seats":2,"price":0}]}]}"#, "sections[0].rows[0].price", 400),
        (#"{"sections":[{"name":"A","rows":[{"label":"1","seats":0,"price":10}]}]}"#, "sections[0].rows[0].seats", 400),
        (
            #"{"sections":[{"name":"A","rows":[{"label":"1","seats":2,"price":10}]},{"name":"A","rows":[{"label":"1","seats":2,"price":10}]}]}"#,
            "sections[1].name", 409
        ),
        (#"{"sections":[{"name":" ","rows":[{"label":"1","seats":2,"price":10}]}]}"#, "sections[0].name", 400),
        (#"{"sections":[{"name":"A","rows":[{"label":"1","seats":2.5,"price":10}]}]}"#, "sections", 400),
    ])
    func badSeatMapsAreRefusedNamingTheFieldAndChangeNothing(body: String, field: String, status: Int) async throws {
        try await APIHarness.withAPI { client, harness in
            let response = try await Self.send(client, .put, "/admin/concerts/1/dates/2099-06-02", body)
            #expect(response.status.code == status)
            #expect(try response.json()["code"] == .string(status == 400 ? "INVALID_REQUEST" : "SEAT_MAP_INCONSISTENT"))
            let detail = Self.string(try response.json()["detail"]) ?? ""
            #expect(detail.hasPrefix(field), "\(detail)")
            #expect(try await Self.count("SELECT count(*) FROM schedules WHERE date = '2099-06-02'", harness) == 0)
        }
    }

    @Test func aStadiumHasAtMostAHundredThousandSeats() async throws {
        try await APIHarness.withAPI { client, _ in
            func stadium(rows: Int) -> String {
                let list = (1...rows).map { #"{"label":"\#($0)","seats":1000,"price":50000}"# }.joined(separator: ",")
                return #"{"sections":[{"name":"Stands","rows":[\#(list)]}]}"#
            }
            let over = try await Self.send(client, .put, "/admin/concerts/1/dates/2099-06-03", stadium(rows: 101))
            #expect(over.status == .conflict)
            #expect(Self.string(try over.json()["detail"])?.hasPrefix("sections: must have at most 100000 seats") == true)
        }
    }

    /// `concert catalogue list` prints each concert with its sale times and status, and each date's seats by state.
    @Test func theCLIListsTheCatalogue() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            let created = try await Self.send(
                client,
                .post,
                "/admin/concerts",
                #"{"title":"Listed Live","venue":"Olympic Hall","onSaleAt":"2099-01-01T10:00:00Z","externalKey":"listed-2099"}"#
            )
            let id = try #require(try created.json()["id"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } })
            #expect(try await Self.send(client, .put, "/admin/concerts/\(id)/dates/2099-06-01", Self.hall).status == .created)
            let list = try await DeadLetterTests.concert(harness, "catalogue", "list")
            #expect(list.status == 0, "\(list.output)")
            #expect(list.output.contains("\(id)  Listed Live — Olympic Hall  [scheduled]"), "\(list.output)")
            #expect(
                list.output.contains("queue opens 2099-01-01T09:30:00Z  on sale 2099-01-01T10:00:00Z  sale ends -  key listed-2099"),
                "\(list.output)"
            )
            #expect(list.output.contains("2099-06-01  free 10  held 0  sold 0"), "\(list.output)")
            #expect(list.output.contains("1  "), "the seeded concert is listed too")
        }
    }
}
