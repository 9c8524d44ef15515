public import ConcertDomain
public import Foundation
public import Logging
public import PostgresNIO

/// Reads of reservations (the worker writes them).
public struct ReservationStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The reservation with its schedule, or `nil`.
    public func find(_ id: UUID) async throws -> Reservation? {
        let rows = try await client.fetch(
            """
            SELECT s.concert_id, to_char(s.date, 'YYYY-MM-DD'), coalesce(r.seat_numbers, ARRAY[r.seat_number]),
                coalesce(r.seat_prices, ARRAY[r.price]), r.user_id, r.status, r.held_until
            FROM reservations r JOIN schedules s ON s.id = r.schedule_id WHERE r.id = \(id)
            """,
            logger: logger
        )
        for (concert, date, numbers, prices, user, status, heldUntil) in try (rows).map({
            try $0.decode((Int64, String, [Int32], [Int64], String, String, Date).self)
        }) {
            guard let concert = ConcertID(concert), let date = ScheduleDate(date), let user = UserID(user),
                let status = Reservation.Status(rawValue: status), numbers.count == prices.count
            else { continue }
            return Reservation(
                id: id,
                schedule: ScheduleKey(concertID: concert, date: date),
                seats: zip(numbers, prices).compactMap { number, price in
                    SeatNumber(Int(number)).map { Reservation.Seat(number: $0, price: Won(price)) }
                },
                userID: user,
                status: status,
                heldUntil: heldUntil
            )
        }
        return nil
    }

    /// Holds still live more than `grace` past their deadline — their expiry message was lost (a
    /// broker restart can drop a message the delay queue dead-letters while its target is not yet
    /// up) — oldest first, at most `limit`.
    public func overdueHolds(grace: Duration, limit: Int) async throws -> [(schedule: ScheduleKey, reservation: UUID)] {
        let seconds = Double(grace.components.seconds) + Double(grace.components.attoseconds) / 1e18
        let rows = try await client.fetch(
            """
            SELECT s.concert_id, to_char(s.date, 'YYYY-MM-DD'), r.id
            FROM reservations r JOIN schedules s ON s.id = r.schedule_id
            WHERE r.status = 'held' AND r.held_until < now() - make_interval(secs => \(seconds))
            ORDER BY r.held_until LIMIT \(limit)
            """,
            logger: logger
        )
        return try rows.compactMap { row in
            let (concert, date, id) = try row.decode((Int64, String, UUID).self)
            guard let concert = ConcertID(concert), let date = ScheduleDate(date) else { return nil }
            return (ScheduleKey(concertID: concert, date: date), id)
        }
    }
}
