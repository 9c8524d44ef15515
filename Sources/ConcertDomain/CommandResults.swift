public import Foundation

/// One seat as a result lists it: its number and price, and where it is when the date has a seat map.
public struct SeatResult: Sendable, Hashable, Codable {
    public let number: SeatNumber
    public let price: Won
    public let section: String?
    public let row: String?
    public let seat: String?

    /// The seat `seat` of a reservation, at `place`.
    ///
    /// - Parameters:
    ///   - seat: The seat with the price it was reserved at.
    ///   - place: Where it is (`SeatMap.place(of:)`).
    public init(_ seat: Reservation.Seat, place: SeatMap.Place) {
        number = seat.number
        price = seat.price
        section = place.section
        row = place.row
        self.seat = place.seat
    }

    /// The seats of `reservation`, each placed on `map`.
    ///
    /// - Parameters:
    ///   - reservation: The reservation.
    ///   - map: Its date's seat map.
    /// - Returns: A result per seat, in number order.
    public static func seats(of reservation: Reservation, on map: SeatMap) -> [SeatResult] {
        reservation.seats.map { SeatResult($0, place: map.place(of: $0.number)) }
    }
}

/// The `result` of a successful `ReserveSeat`.
public struct ReservationResult: Sendable, Hashable, Codable {
    /// The new reservation's id: the one a `Pay` names.
    public let reservationId: UUID
    /// The concert of the reserved seats.
    public let concertId: ConcertID
    /// The date of the reserved seats' schedule.
    public let date: ScheduleDate
    /// The seats, in number order.
    public let seats: [SeatResult]
    /// The seats' prices added up: what paying the reservation debits.
    public let price: Won
    /// The hold's deadline: unpaid by then, the reservation expires.
    public let heldUntil: Date

    /// The result describing `reservation`, its seats placed on `seats`.
    ///
    /// - Parameters:
    ///   - reservation: The reservation the command made.
    ///   - seats: Its seats as the result lists them.
    public init(_ reservation: Reservation, seats: [SeatResult]) {
        reservationId = reservation.id
        concertId = reservation.schedule.concertID
        date = reservation.schedule.date
        self.seats = seats
        price = reservation.price
        heldUntil = reservation.heldUntil
    }

    /// The one seat of a single-seat reservation (results keep `seatNumber` for those).
    public var seatNumber: SeatNumber? { seats.count == 1 ? seats[0].number : nil }

    enum CodingKeys: String, CodingKey {
        case reservationId, concertId, date, seats, price, heldUntil, seatNumber
    }

    /// Writes the members, and `seatNumber` for a single seat.
    ///
    /// - Parameters:
    ///   - encoder: The encoder to write to.
    /// - Throws: Any error `encoder` throws.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reservationId, forKey: .reservationId)
        try container.encode(concertId, forKey: .concertId)
        try container.encode(date, forKey: .date)
        try container.encode(seats, forKey: .seats)
        try container.encode(price, forKey: .price)
        try container.encode(heldUntil, forKey: .heldUntil)
        try container.encodeIfPresent(seatNumber, forKey: .seatNumber)
    }

    /// Reads the members (`seatNumber` follows from `seats`).
    ///
    /// - Parameters:
    ///   - decoder: The decoder to read from.
    /// - Throws: `DecodingError` when a member is missing or not of its type.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        reservationId = try container.decode(UUID.self, forKey: .reservationId)
        concertId = try container.decode(ConcertID.self, forKey: .concertId)
        date = try container.decode(ScheduleDate.self, forKey: .date)
        seats = try container.decode([SeatResult].self, forKey: .seats)
        price = try container.decode(Won.self, forKey: .price)
        heldUntil = try container.decode(Date.self, forKey: .heldUntil)
    }
}

/// The `result` of a successful `Pay`: the receipt.
public struct PaymentReceipt: Sendable, Hashable, Codable {
    /// The payment's id.
    public let paymentId: UUID
    /// The reservation paid.
    public let reservationId: UUID
    /// What was debited: the reservation's price.
    public let amount: Won
    /// The user's balance after the debit.
    public let balanceAfter: Won
    /// When the payment was decided.
    public let paidAt: Date
    /// The concert of the sold seats.
    public let concertId: ConcertID
    /// The date of the sold seats' schedule.
    public let date: ScheduleDate
    /// The sold seats.
    public let seats: [SeatResult]

    /// The receipt of paying `reservation`; the amount is its price.
    ///
    /// - Parameters:
    ///   - paymentId: The payment's id.
    ///   - reservation: The reservation paid.
    ///   - seats: Its seats as the receipt lists them.
    ///   - balanceAfter: The user's balance after the debit.
    ///   - paidAt: When the payment was decided.
    public init(paymentId: UUID, reservation: Reservation, seats: [SeatResult], balanceAfter: Won, paidAt: Date) {
        self.paymentId = paymentId
        reservationId = reservation.id
        amount = reservation.price
        self.balanceAfter = balanceAfter
        self.paidAt = paidAt
        concertId = reservation.schedule.concertID
        date = reservation.schedule.date
        self.seats = seats
    }

    /// The one seat of a single-seat reservation.
    public var seatNumber: SeatNumber? { seats.count == 1 ? seats[0].number : nil }

    enum CodingKeys: String, CodingKey {
        case paymentId, reservationId, amount, balanceAfter, paidAt, concertId, date, seats, seatNumber
    }

    /// Writes the members, and `seatNumber` for a single seat.
    ///
    /// - Parameters:
    ///   - encoder: The encoder to write to.
    /// - Throws: Any error `encoder` throws.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(paymentId, forKey: .paymentId)
        try container.encode(reservationId, forKey: .reservationId)
        try container.encode(amount, forKey: .amount)
        try container.encode(balanceAfter, forKey: .balanceAfter)
        try container.encode(paidAt, forKey: .paidAt)
        try container.encode(concertId, forKey: .concertId)
        try container.encode(date, forKey: .date)
        try container.encode(seats, forKey: .seats)
        try container.encodeIfPresent(seatNumber, forKey: .seatNumber)
    }

    /// Reads the members (`seatNumber` follows from `seats`).
    ///
    /// - Parameters:
    ///   - decoder: The decoder to read from.
    /// - Throws: `DecodingError` when a member is missing or not of its type.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        paymentId = try container.decode(UUID.self, forKey: .paymentId)
        reservationId = try container.decode(UUID.self, forKey: .reservationId)
        amount = try container.decode(Won.self, forKey: .amount)
        balanceAfter = try container.decode(Won.self, forKey: .balanceAfter)
        paidAt = try container.decode(Date.self, forKey: .paidAt)
        concertId = try container.decode(ConcertID.self, forKey: .concertId)
        date = try container.decode(ScheduleDate.self, forKey: .date)
        seats = try container.decode([SeatResult].self, forKey: .seats)
    }
}

/// The `result` of a successful `ReleaseHold`: the reservation is released, its seats free.
public struct ReleaseResult: Sendable, Hashable, Codable {
    public let reservationId: UUID
    public let concertId: ConcertID
    public let date: ScheduleDate
    /// The seats freed (none when it was released before).
    public let seatNumbers: [SeatNumber]

    public init(_ reservation: Reservation, freed: Bool) {
        reservationId = reservation.id
        concertId = reservation.schedule.concertID
        date = reservation.schedule.date
        seatNumbers = freed ? reservation.seatNumbers : []
    }

    public init(reservationId: UUID, schedule: ScheduleKey) {
        self.reservationId = reservationId
        concertId = schedule.concertID
        date = schedule.date
        seatNumbers = []
    }
}

/// The `result` of a successful `Refund` (and each refund of a cancelled date).
public struct RefundReceipt: Sendable, Hashable, Codable {
    /// The refund's id (the `Refund` command's; for a cancelled date, derived from its command and the reservation).
    public let refundId: UUID
    public let reservationId: UUID
    /// Whose wallet was credited.
    public let userId: UserID
    /// What was credited: exactly what was paid.
    public let amount: Won
    public let refundedAt: Date
    public let concertId: ConcertID
    public let date: ScheduleDate
    /// The seats put on sale again.
    public let seatNumbers: [SeatNumber]

    public init(refundId: UUID, reservation: Reservation, refundedAt: Date) {
        self.refundId = refundId
        reservationId = reservation.id
        userId = reservation.userID
        amount = reservation.price
        self.refundedAt = refundedAt
        concertId = reservation.schedule.concertID
        date = reservation.schedule.date
        seatNumbers = reservation.seatNumbers
    }
}

/// The `result` of a successful `CancelDate`: what it did (nothing, for a date cancelled before).
public struct CancellationResult: Sendable, Hashable, Codable {
    public let concertId: ConcertID
    public let date: ScheduleDate
    /// Holds released.
    public let released: Int
    /// Paid reservations refunded.
    public let refunded: Int
    /// What the refunds credited, in all.
    public let refundedAmount: Won
    /// True when the date was cancelled by an earlier command.
    public let alreadyCancelled: Bool

    public init(schedule: ScheduleKey, released: Int, refunded: Int, refundedAmount: Won, alreadyCancelled: Bool) {
        concertId = schedule.concertID
        date = schedule.date
        self.released = released
        self.refunded = refunded
        self.refundedAmount = refundedAmount
        self.alreadyCancelled = alreadyCancelled
    }
}
