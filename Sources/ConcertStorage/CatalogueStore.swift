public import ConcertDomain
public import Foundation
public import Logging
public import PostgresNIO

/// Read paths of the catalogue: concerts, their dates with free seats, and the free seats of a date.
public struct CatalogueStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// A concert: what buyers see, and the waiting room's settings (unset: the process's defaults).
    public struct Concert: Sendable, Hashable {
        public let id: ConcertID
        public let title: String
        public let venue: String?
        public let window: SaleWindow
        public let capacity: Int?
        public let admitPerSecond: Int?
        public let externalKey: String?

        public init(
            id: ConcertID,
            title: String,
            venue: String? = nil,
            window: SaleWindow = .always,
            capacity: Int? = nil,
            admitPerSecond: Int? = nil,
            externalKey: String? = nil
        ) {
            self.id = id
            self.title = title
            self.venue = venue
            self.window = window
            self.capacity = capacity
            self.admitPerSecond = admitPerSecond
            self.externalKey = externalKey
        }
    }

    /// A date with at least one free seat.
    public struct AvailableDate: Sendable, Hashable, Codable {
        public let date: ScheduleDate
        public let availableSeats: Int
    }

    /// A free seat, its price and, for a date given a seat map, where it is: its section, row
    /// and label within the row.
    public struct FreeSeat: Sendable, Hashable, Codable {
        public let number: SeatNumber
        public let price: Won
        public let section: String?
        public let row: String?
        public let seat: String?
    }

    /// Every concert, by id.
    public func concerts() async throws -> [Concert] {
        let rows = try await client.fetch("SELECT \(unescaped: Self.concertColumns) FROM concerts ORDER BY id", logger: logger)
        return try rows.compactMap { Self.concert(try $0.decode(ConcertRow.self)) }
    }

    /// One concert, or `nil` when there is none of that id.
    public func concert(_ id: ConcertID) async throws -> Concert? {
        let rows = try await client.fetch("SELECT \(unescaped: Self.concertColumns) FROM concerts WHERE id = \(id.rawValue)", logger: logger)
        return try rows.compactMap { Self.concert(try $0.decode(ConcertRow.self)) }.first
    }

    static let concertColumns = "id, title, venue, queue_opens_at, on_sale_at, sale_ends_at, capacity, admit_per_second, external_key"
    typealias ConcertRow = (Int64, String, String?, Date?, Date?, Date?, Int?, Int?, String?)

    static func concert(_ row: ConcertRow) -> Concert? {
        guard let id = ConcertID(row.0) else { return nil }
        return Concert(
            id: id,
            title: row.1,
            venue: row.2,
            window: SaleWindow(unchecked: row.3, row.4, row.5),
            capacity: row.6,
            admitPerSecond: row.7,
            externalKey: row.8
        )
    }

    /// True when the concert exists.
    public func concertExists(_ id: ConcertID) async throws -> Bool {
        let rows = try await client.fetch("SELECT 1 FROM concerts WHERE id = \(id.rawValue)", logger: logger)
        for _ in rows { return true }
        return false
    }

    /// Dates from `today` on, not cancelled, with at least one free seat (a hold past its deadline counts as free).
    public func availableDates(of concert: ConcertID, from today: ScheduleDate, now: Date) async throws -> [AvailableDate] {
        var dates: [AvailableDate] = []
        let rows = try await client.fetch(
            """
            SELECT to_char(s.date, 'YYYY-MM-DD'), count(*)
            FROM schedules s JOIN seats ON seats.schedule_id = s.id
            WHERE s.concert_id = \(concert.rawValue) AND s.date >= \(today.description)::date AND s.cancelled_at IS NULL
              AND (seats.state = 'free' OR (seats.state = 'held' AND seats.hold_deadline <= \(now)))
            GROUP BY s.date ORDER BY s.date
            """,
            logger: logger
        )
        for (date, count) in try (rows).map({ try $0.decode((String, Int).self) }) {
            if let date = ScheduleDate(date) { dates.append(AvailableDate(date: date, availableSeats: count)) }
        }
        return dates
    }

    /// The free seats of one schedule, or `nil` when the concert does not play that day (or the date is cancelled).
    public func freeSeats(of schedule: ScheduleKey, now: Date) async throws -> [FreeSeat]? {
        let scheduleRows = try await client.fetch(
            """
            SELECT id FROM schedules
            WHERE concert_id = \(schedule.concertID.rawValue) AND date = \(schedule.date.description)::date AND cancelled_at IS NULL
            """,
            logger: logger
        )
        var scheduleID: Int64?
        for id in try (scheduleRows).map({ try $0.decode(Int64.self) }) { scheduleID = id }
        guard let scheduleID else { return nil }
        var seats: [FreeSeat] = []
        let rows = try await client.fetch(
            """
            SELECT number, price, section, row_label, seat_label FROM seats
            WHERE schedule_id = \(scheduleID)
              AND (state = 'free' OR (state = 'held' AND hold_deadline <= \(now)))
            ORDER BY number
            """,
            logger: logger
        )
        for (number, price, section, row, seat) in try (rows).map({ try $0.decode((Int, Int64, String?, String?, String?).self) }) {
            if let number = SeatNumber(number) {
                seats.append(FreeSeat(number: number, price: Won(price), section: section, row: row, seat: seat))
            }
        }
        return seats
    }
}
