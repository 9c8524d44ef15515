public import Foundation

/// The `result` of a successful `ReserveSeat`.
public struct ReservationResult: Sendable, Hashable, Codable {
    /// The new reservation's id: the one a `Pay` names.
    public let reservationId: UUID
    /// The concert of the reserved seat.
    public let concertId: ConcertID
    /// The date of the reserved seat's schedule.
    public let date: ScheduleDate
    /// The reserved seat.
    public let seatNumber: SeatNumber
    /// The seat's price: what paying the reservation debits.
    public let price: Won
    /// The hold's deadline: unpaid by then, the reservation expires.
    public let heldUntil: Date

    /// The result describing `reservation`.
    ///
    /// - Parameters:
    ///   - reservation: The reservation the command made.
    public init(_ reservation: Reservation) {
        reservationId = reservation.id
        concertId = reservation.schedule.concertID
        date = reservation.schedule.date
        seatNumber = reservation.seat
        price = reservation.price
        heldUntil = reservation.heldUntil
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
    /// The concert of the sold seat.
    public let concertId: ConcertID
    /// The date of the sold seat's schedule.
    public let date: ScheduleDate
    /// The sold seat.
    public let seatNumber: SeatNumber

    /// The receipt of paying `reservation`; the amount is its price.
    ///
    /// - Parameters:
    ///   - paymentId: The payment's id.
    ///   - reservation: The reservation paid.
    ///   - balanceAfter: The user's balance after the debit.
    ///   - paidAt: When the payment was decided.
    public init(paymentId: UUID, reservation: Reservation, balanceAfter: Won, paidAt: Date) {
        self.paymentId = paymentId
        reservationId = reservation.id
        amount = reservation.price
        self.balanceAfter = balanceAfter
        self.paidAt = paidAt
        concertId = reservation.schedule.concertID
        date = reservation.schedule.date
        seatNumber = reservation.seat
    }
}
