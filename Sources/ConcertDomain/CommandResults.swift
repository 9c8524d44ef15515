public import Foundation

/// The `result` of a successful `ReserveSeat`.
public struct ReservationResult: Sendable, Hashable, Codable {
    public let reservationId: UUID
    public let concertId: ConcertID
    public let date: ScheduleDate
    public let seatNumber: SeatNumber
    public let price: Won
    public let heldUntil: Date

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
    public let paymentId: UUID
    public let reservationId: UUID
    public let amount: Won
    public let balanceAfter: Won
    public let paidAt: Date
    public let concertId: ConcertID
    public let date: ScheduleDate
    public let seatNumber: SeatNumber

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
