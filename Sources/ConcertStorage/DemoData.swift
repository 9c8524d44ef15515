public import Logging
public import PostgresNIO

/// The demo catalogue `concert seed` loads: a few concerts, each on several future dates, each with a priced seat map.
public struct DemoData: Sendable {
    /// Concert ids and titles.
    public var concerts: [(id: Int64, title: String)]
    /// Days from today of each concert's dates.
    public var dayOffsets: [Int]
    /// Seats per schedule, numbered from 1.
    public var seatsPerSchedule: Int

    /// The first titles of the demo catalogue; concerts past them are called "Concert #n".
    public static let titles = ["Seoul Philharmonic — New Year Gala", "Aurora Lights Live in Seoul", "Han River Jazz Night"]

    /// `concerts` concerts (ids 1…), each on `dates` dates a week apart from a week ahead, each with
    /// `seats` seats: the shape `concert seed --concerts --dates --seats` asks for.
    public init(concerts: Int, dates: Int, seats: Int) {
        precondition(concerts > 0 && dates > 0 && seats > 0)
        self.init(
            concerts: (1...concerts).map { id in (Int64(id), id <= Self.titles.count ? Self.titles[id - 1] : "Concert #\(id)") },
            dayOffsets: (1...dates).map { $0 * 7 },
            seatsPerSchedule: seats
        )
    }

    /// 3 concerts × 5 dates (one to five weeks ahead) × 50 seats.
    public init(
        concerts: [(id: Int64, title: String)] = [
            (1, "Seoul Philharmonic — New Year Gala"),
            (2, "Aurora Lights Live in Seoul"),
            (3, "Han River Jazz Night"),
        ],
        dayOffsets: [Int] = [7, 14, 21, 28, 35],
        seatsPerSchedule: Int = 50
    ) {
        self.concerts = concerts
        self.dayOffsets = dayOffsets
        self.seatsPerSchedule = seatsPerSchedule
    }

    /// What a seed run found or created.
    public struct Summary: Sendable, Equatable {
        public let concerts: Int
        public let schedules: Int
        public let seats: Int
    }

    /// Loads the catalogue; running it again changes nothing (rows that exist are left as they are,
    /// so seats already held or sold stay so). Prices: seats 1–10 ₩150 000, 11–30 ₩110 000, the rest ₩80 000.
    /// Each concert's waiting room and token sequence come with it (the trigger of migration 5).
    @discardableResult
    public func seed(_ client: PostgresClient, logger: Logger) async throws -> Summary {
        // No statement time limit: a large catalogue takes as long as it takes.
        try await DatabaseTimeout.withoutLimit { try await seedCatalogue(client, logger: logger) }
    }

    private func seedCatalogue(_ client: PostgresClient, logger: Logger) async throws -> Summary {
        let ids = concerts.map(\.id)
        let titles = concerts.map(\.title)
        let offsets = dayOffsets
        let seats = seatsPerSchedule
        return try await client.withUnwrappedTransaction(logger: logger) { connection in
            try await connection.fetch(
                """
                INSERT INTO concerts (id, title)
                SELECT * FROM unnest(\(ids)::bigint[], \(titles)::text[])
                ON CONFLICT (id) DO NOTHING
                """,
                logger: logger
            )
            try await connection.fetch(
                """
                INSERT INTO schedules (concert_id, date)
                SELECT c, current_date + d FROM unnest(\(ids)::bigint[]) AS c CROSS JOIN unnest(\(offsets)::integer[]) AS d
                ON CONFLICT (concert_id, date) DO NOTHING
                """,
                logger: logger
            )
            try await connection.fetch(
                """
                INSERT INTO seats (schedule_id, number, price)
                SELECT s.id, n, CASE WHEN n <= 10 THEN 150000 WHEN n <= 30 THEN 110000 ELSE 80000 END
                FROM schedules s CROSS JOIN generate_series(1, \(seats)) AS n
                WHERE s.concert_id = ANY(\(ids)::bigint[]) AND s.date >= current_date
                ON CONFLICT (schedule_id, number) DO NOTHING
                """,
                logger: logger
            )
            let rows = try await connection.fetch(
                """
                SELECT (SELECT count(*) FROM concerts WHERE id = ANY(\(ids)::bigint[])),
                       (SELECT count(*) FROM schedules WHERE concert_id = ANY(\(ids)::bigint[])),
                       (SELECT count(*) FROM seats JOIN schedules ON schedules.id = seats.schedule_id
                        WHERE schedules.concert_id = ANY(\(ids)::bigint[]))
                """,
                logger: logger
            )
            for (concertCount, scheduleCount, seatCount) in try (rows).map({ try $0.decode((Int, Int, Int).self) }) {
                return Summary(concerts: concertCount, schedules: scheduleCount, seats: seatCount)
            }
            throw MigrationError(message: "seed summary returned no row")
        }
    }
}
