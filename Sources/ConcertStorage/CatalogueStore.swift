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

    /// A concert as listed.
    public struct Concert: Sendable, Hashable, Codable {
        public let id: ConcertID
        public let title: String
    }

    /// A date with at least one free seat.
    public struct AvailableDate: Sendable, Hashable, Codable {
        public let date: ScheduleDate
        public let availableSeats: Int
    }

    /// A free seat and its price.
    public struct FreeSeat: Sendable, Hashable, Codable {
        public let number: SeatNumber
        public let price: Won
    }

    /// Every concert, by id.
    public func concerts() async throws -> [Concert] {
        var concerts: [Concert] = []
        let rows = try await client.fetch("SELECT id, title FROM concerts ORDER BY id", logger: logger)
        for (id, title) in try (rows).map({ try $0.decode((Int64, String).self) }) {
            if let id = ConcertID(id) { concerts.append(Concert(id: id, title: title)) }
        }
        return concerts
    }

    /// True when the concert exists.
    public func concertExists(_ id: ConcertID) async throws -> Bool {
        let rows = try await client.fetch("SELECT 1 FROM concerts WHERE id = \(id.rawValue)", logger: logger)
        for _ in rows { return true }
        return false
    }

    /// Dates from `today` on with at least one free seat (a hold past its deadline counts as free).
    public func availableDates(of concert: ConcertID, from today: ScheduleDate, now: Date) async throws -> [AvailableDate] {
        var dates: [AvailableDate] = []
        let rows = try await client.fetch(
            """
            SELECT to_char(s.date, 'YYYY-MM-DD'), count(*)
            FROM schedules s JOIN seats ON seats.schedule_id = s.id
            WHERE s.concert_id = \(concert.rawValue) AND s.date >= \(today.description)::date
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

    /// The free seats of one schedule, or `nil` when the concert does not play that day.
    public func freeSeats(of schedule: ScheduleKey, now: Date) async throws -> [FreeSeat]? {
        let scheduleRows = try await client.fetch(
            "SELECT id FROM schedules WHERE concert_id = \(schedule.concertID.rawValue) AND date = \(schedule.date.description)::date",
            logger: logger
        )
        var scheduleID: Int64?
        for id in try (scheduleRows).map({ try $0.decode(Int64.self) }) { scheduleID = id }
        guard let scheduleID else { return nil }
        var seats: [FreeSeat] = []
        let rows = try await client.fetch(
            """
            SELECT number, price FROM seats
            WHERE schedule_id = \(scheduleID)
              AND (state = 'free' OR (state = 'held' AND hold_deadline <= \(now)))
            ORDER BY number
            """,
            logger: logger
        )
        for (number, price) in try (rows).map({ try $0.decode((Int, Int64).self) }) {
            if let number = SeatNumber(number) { seats.append(FreeSeat(number: number, price: Won(price))) }
        }
        return seats
    }
}
