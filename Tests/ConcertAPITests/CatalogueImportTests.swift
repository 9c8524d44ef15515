import ConcertAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import TestSupport
import Testing

/// `concert catalogue import FILE` over the executable, against the harness's workers: a concert
/// and its seat maps from a file, a second import that changes nothing, new prices for a date in
/// use, a layout change refused while seats are held, and bad files refused naming the field.
@Suite(.enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct CatalogueImportTests {
    /// The file: two sections for every date but the second, which has one row of its own.
    static func file(key: String, floorPrice: Int = 150_000, floorSeats: Int = 3, secondDateSeats: Int = 5) -> String {
        #"""
        {"externalKey": "\#(key)", "title": "Imported Live", "venue": "Olympic Hall",
         "seatMap": {"sections": [
           {"name": "Floor A", "rows": [{"label": "1", "seats": \#(floorSeats), "price": \#(floorPrice)}, {"label": "2", "seats": 3, "price": \#(floorPrice)}]},
           {"name": "Balcony", "rows": [{"label": "A", "seats": 4, "price": 90000}]}]},
         "dates": [{"date": "2099-07-01"},
                   {"date": "2099-07-02", "sections": [{"name": "Terrace", "rows": [{"label": "T", "seats": \#(secondDateSeats), "price": 70000}]}]}]}
        """#
    }

    static func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("catalogue-\(UUID().uuidString.prefix(8)).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func importFile(_ harness: APIHarness, _ text: String) async throws -> (status: Int32, output: String) {
        let path = try write(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await runCapturingOutput(
            APIHarness.root.appendingPathComponent(".build/debug/concert").path,
            ["catalogue", "import", path, "--timeout", "20"],
            environment: harness.childEnvironment(partitions: 2),
            standardError: .combinedWithOutput
        )
    }

    static func count(_ sql: PostgresQuery, _ harness: APIHarness) async throws -> Int {
        try await harness.client.query(sql, logger: DatabaseEnvironment.logger).decode(Int.self).reduce(0, +)
    }

    /// Every seat row's version of the imported dates: unchanged when nothing was written.
    static func seatVersions(_ harness: APIHarness) async throws -> [String] {
        var versions: [String] = []
        let rows = try await harness.client.query(
            "SELECT seats.xmin::text FROM seats JOIN schedules s ON s.id = seats.schedule_id WHERE s.date >= '2099-07-01' ORDER BY s.date, seats.number",
            logger: DatabaseEnvironment.logger
        )
        for try await version in rows.decode(String.self) { versions.append(version) }
        return versions
    }

    @Test func aFileImportedTwiceChangesNothingTheSecondTime() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            let key = "import-\(UUID().uuidString.prefix(8))"
            let first = try await Self.importFile(harness, Self.file(key: key))
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains("Imported Live: created"), "\(first.output)")
            #expect(first.output.contains("2099-07-01: created, 10 seats"), "\(first.output)")
            #expect(first.output.contains("2099-07-02: created, 5 seats"), "\(first.output)")
            let id = try #require(first.output.split(separator: " ").dropFirst().first.flatMap { Int($0) }, "\(first.output)")

            let detail = try await CatalogueAPITests.send(client, .get, "/admin/concerts/\(id)").json()
            #expect(detail["externalKey"] == .string(key))
            #expect(detail["venue"] == .string("Olympic Hall"))
            guard case .array(let dates)? = detail["dates"] else { throw TestFailure("no dates: \(detail)") }
            #expect(dates.map { $0["free"] } == [.number(10), .number(5)])

            let versions = try await Self.seatVersions(harness)
            let second = try await Self.importFile(harness, Self.file(key: key))
            #expect(second.status == 0, "\(second.output)")
            #expect(second.output.contains("Imported Live: unchanged"), "\(second.output)")
            #expect(second.output.contains("2099-07-01: unchanged"), "\(second.output)")
            #expect(second.output.contains("2099-07-02: unchanged"), "\(second.output)")
            #expect(try await Self.seatVersions(harness) == versions, "a seat row was written again")
            #expect(try await Self.count("SELECT count(*)::int FROM concerts WHERE external_key = \(key)", harness) == 1)
        }
    }

    @Test func aDateInUseTakesNewPricesButKeepsItsLayoutAndTheHoldKeepsItsPrice() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            let key = "import-\(UUID().uuidString.prefix(8))"
            let first = try await Self.importFile(harness, Self.file(key: key))
            let id = try #require(first.output.split(separator: " ").dropFirst().first.flatMap { Int($0) }, "\(first.output)")
            var buyer = Buyer(client, "importer")
            try await buyer.queue(concert: id)
            try await harness.admit()
            let held = try await buyer.reserve(seat: 1, date: "2099-07-01", concert: id)
            #expect(held.status == .created, "\(String(buffer: held.body))")
            #expect(try held.json()["result"]?["price"] == .number(150_000))

            // Same layout, new prices: taken though a seat is held; the hold keeps its price.
            let repriced = try await Self.importFile(harness, Self.file(key: key, floorPrice: 160_000, secondDateSeats: 6))
            #expect(repriced.status == 0, "\(repriced.output)")
            #expect(repriced.output.contains("2099-07-01: new prices for its 10 seats"), "\(repriced.output)")
            #expect(repriced.output.contains("2099-07-02: replaced, 6 seats"), "\(repriced.output)")
            let seats = try await buyer.send(.get, "/v1/concerts/\(id)/dates/2099-07-01/seats").json()
            guard case .array(let free)? = seats["seats"] else { throw TestFailure("no seats: \(seats)") }
            #expect(free.first?["number"] == .number(2))
            #expect(free.first?["price"] == .number(160_000))
            #expect(try await Self.count("SELECT price::int FROM reservations WHERE status = 'held'", harness) == 150_000)

            // Another layout while a seat is held: refused, the date keeps its seats.
            let refused = try await Self.importFile(harness, Self.file(key: key, floorPrice: 160_000, floorSeats: 4, secondDateSeats: 6))
            #expect(refused.status != 0, "\(refused.output)")
            #expect(refused.output.contains("2099-07-01: refused: SCHEDULE_IN_USE"), "\(refused.output)")
            #expect(refused.output.contains("2099-07-02: unchanged"), "\(refused.output)")
            #expect(
                try await Self.count(
                    "SELECT count(*)::int FROM seats JOIN schedules s ON s.id = seats.schedule_id WHERE s.date = '2099-07-01' AND s.concert_id = \(id)",
                    harness
                ) == 10
            )

            // The admin API takes new prices for a date in use the same way.
            let map =
                #"{"sections":[{"name":"Floor A","rows":[{"label":"1","seats":3,"price":1000},{"label":"2","seats":3,"price":1000}]},{"name":"Balcony","rows":[{"label":"A","seats":4,"price":1000}]}]}"#
            let put = try await CatalogueAPITests.send(client, .put, "/admin/concerts/\(id)/dates/2099-07-01", map)
            #expect(put.status == .ok)
            #expect(try put.json()["pricesOnly"] == .bool(true))
            #expect(try await Self.count("SELECT count(*)::int FROM seats WHERE price = 1000", harness) == 10)
        }
    }

    @Test(arguments: [
        (#"{"title": "No key", "dates": [{"date": "2099-07-01", "sections": []}]}"#, "externalKey: is required"),
        (#"{"externalKey": "k", "title": "No dates", "dates": []}"#, "dates: must list at least one date"),
        (#"{"externalKey": "k", "title": "No map", "dates": [{"date": "2099-07-01"}]}"#, "dates[0].sections: is required"),
        (
            #"{"externalKey": "k", "title": "Free seats", "seatMap": {"sections": [{"name": "A", "rows": [{"label": "1", "seats": 2, "price": 0}]}]}, "dates": [{"date": "2099-07-01"}]}"#,
            "seatMap.sections[0].rows[0].price"
        ),
        (
            #"{"externalKey": "k", "title": "Twice", "seatMap": {"sections": [{"name": "A", "rows": [{"label": "1", "seats": 2, "price": 5}]}]}, "dates": [{"date": "2099-07-01"}, {"date": "2099-07-01"}]}"#,
            "dates[1].date"
        ),
        (
            #"{"externalKey": "k", "title": "Late", "onSaleAt": "2099-01-02T00:00:00Z", "saleEndsAt": "2099-01-01T00:00:00Z", "dates": []}"#,
            "saleEndsAt"
        ),
        (#"{"externalKey": "k", "title": 5, "dates": []}"#, "title: must be a string"),
        (#"not json"#, "not JSON"),
    ])
    func aBadFileIsRefusedNamingTheFieldAndChangesNothing(file: String, message: String) async throws {
        // Refused before anything is published: no pipeline (eight virtual hosts at once stall the broker).
        try await APIHarness.withAPI { _, harness in
            let concerts = try await Self.count("SELECT count(*)::int FROM concerts", harness)
            let result = try await Self.importFile(harness, file)
            #expect(result.status != 0)
            #expect(result.output.contains(message), "\(result.output)")
            #expect(try await Self.count("SELECT count(*)::int FROM concerts", harness) == concerts)
        }
    }
}
