public import ConcertDomain
public import Foundation
import PostgresNIO

extension ReservationStore {
    /// A reservation as its owner reads it: its seats with where they are, what it cost, and
    /// what became of it.
    public struct Ticket: Sendable, Hashable {
        public let reservation: Reservation
        /// Each seat's place, in seat order (all `nil` for a date without a seat map).
        public let places: [SeatMap.Place]
        public let createdAt: Date
        public let paymentID: UUID?
        public let paidAt: Date?
        public let refundedAt: Date?
    }

    static let ticketColumns = """
        r.id, s.concert_id, to_char(s.date, 'YYYY-MM-DD'), coalesce(r.seat_numbers, ARRAY[r.seat_number]),
        coalesce(r.seat_prices, ARRAY[r.price]), r.user_id, r.status, r.held_until, r.created_at, p.id, p.paid_at, f.refunded_at,
        l.sections, l.rows, l.labels
        """

    /// The seats' labels in seat order ('' where a date has none: PostgreSQL arrays of text come back without NULLs that way).
    static let ticketJoins = """
        JOIN schedules s ON s.id = r.schedule_id
        LEFT JOIN payments p ON p.reservation_id = r.id
        LEFT JOIN refunds f ON f.reservation_id = r.id
        LEFT JOIN LATERAL (
            SELECT array_agg(coalesce(st.section, '') ORDER BY st.number) AS sections,
                array_agg(coalesce(st.row_label, '') ORDER BY st.number) AS rows,
                array_agg(coalesce(st.seat_label, '') ORDER BY st.number) AS labels
            FROM seats st WHERE st.schedule_id = r.schedule_id AND st.number = ANY(coalesce(r.seat_numbers, ARRAY[r.seat_number]))
        ) l ON true
        """

    typealias TicketRow = (UUID, Int64, String, [Int32], [Int64], String, String, Date, Date, UUID?, Date?, Date?, [String]?, [String]?, [String]?)

    static func ticket(_ row: TicketRow) -> Ticket? {
        let (id, concert, date, numbers, prices, user, status, heldUntil, created, payment, paidAt, refundedAt, sections, rows, labels) = row
        guard let concert = ConcertID(concert), let date = ScheduleDate(date), let user = UserID(user),
            let status = Reservation.Status(rawValue: status), numbers.count == prices.count
        else { return nil }
        let seats = zip(numbers, prices).compactMap { number, price in SeatNumber(Int(number)).map { Reservation.Seat(number: $0, price: Won(price)) }
        }
        func text(_ values: [String]?, _ index: Int) -> String? {
            guard let values, index < values.count, !values[index].isEmpty else { return nil }
            return values[index]
        }
        let places = seats.indices.map { SeatMap.Place(section: text(sections, $0), row: text(rows, $0), seat: text(labels, $0)) }
        let reservation = Reservation(
            id: id,
            schedule: ScheduleKey(concertID: concert, date: date),
            seats: seats,
            userID: user,
            status: status,
            heldUntil: heldUntil
        )
        return Ticket(reservation: reservation, places: places, createdAt: created, paymentID: payment, paidAt: paidAt, refundedAt: refundedAt)
    }

    /// One reservation as its owner reads it, or `nil`.
    public func ticket(_ id: UUID) async throws -> Ticket? {
        let rows = try await client.fetch(
            "SELECT \(unescaped: Self.ticketColumns) FROM reservations r \(unescaped: Self.ticketJoins) WHERE r.id = \(id)",
            logger: logger
        )
        return try rows.compactMap { Self.ticket(try $0.decode(TicketRow.self)) }.first
    }

    /// A user's reservations, newest first: at most `limit`, and only those made before the
    /// reservation `before` (the last of the previous page) when it is given.
    public func tickets(of user: UserID, limit: Int, before: UUID?) async throws -> [Ticket] {
        let rows: [PostgresRow]
        if let before {
            rows = try await client.fetch(
                """
                SELECT \(unescaped: Self.ticketColumns) FROM reservations r \(unescaped: Self.ticketJoins)
                WHERE r.user_id = \(user.rawValue)
                  AND (r.created_at, r.id) < (SELECT created_at, id FROM reservations WHERE id = \(before) AND user_id = \(user.rawValue))
                ORDER BY r.created_at DESC, r.id DESC LIMIT \(limit)
                """,
                logger: logger
            )
        } else {
            rows = try await client.fetch(
                """
                SELECT \(unescaped: Self.ticketColumns) FROM reservations r \(unescaped: Self.ticketJoins)
                WHERE r.user_id = \(user.rawValue) ORDER BY r.created_at DESC, r.id DESC LIMIT \(limit)
                """,
                logger: logger
            )
        }
        return try rows.compactMap { Self.ticket(try $0.decode(TicketRow.self)) }
    }
}
