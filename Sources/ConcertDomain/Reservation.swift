public import Foundation

/// A user's claim on one seat of one schedule: held until a deadline, then paid or expired.
public struct Reservation: Sendable, Hashable, Codable {
    /// Where a reservation is in its life.
    public enum Status: String, Sendable, Hashable, Codable {
        /// `held`: the seat is held until `heldUntil`; `paid`: the seat is sold; `expired`: the hold ended unpaid, the seat is free.
        case held, paid, expired
    }

    /// The reservation's id: the id of the `ReserveSeat` command that made it.
    public let id: UUID
    /// The schedule of the seat.
    public let schedule: ScheduleKey
    /// The seat held or sold.
    public let seat: SeatNumber
    /// The user who made the reservation.
    public let userID: UserID
    /// The seat's price: what paying the reservation debits.
    public let price: Won
    /// The status as recorded; `effectiveStatus(at:)` is what it reads as at a given time.
    public var status: Status
    /// The hold's deadline; after it an unpaid hold is expired even if no expiry message came.
    public let heldUntil: Date

    /// A reservation with every field given.
    ///
    /// - Parameters:
    ///   - id: The reservation's id.
    ///   - schedule: The schedule of the seat.
    ///   - seat: The seat.
    ///   - userID: The user who made the reservation.
    ///   - price: The seat's price.
    ///   - status: The recorded status.
    ///   - heldUntil: The hold's deadline.
    public init(id: UUID, schedule: ScheduleKey, seat: SeatNumber, userID: UserID, price: Won, status: Status, heldUntil: Date) {
        self.id = id
        self.schedule = schedule
        self.seat = seat
        self.userID = userID
        self.price = price
        self.status = status
        self.heldUntil = heldUntil
    }

    /// The status a reader sees at `now`: a hold past its deadline reads as expired.
    ///
    /// - Parameters:
    ///   - now: The time to read the status at.
    /// - Returns: `expired` for a held reservation whose `heldUntil` is not after `now`, otherwise `status`.
    public func effectiveStatus(at now: Date) -> Status {
        status == .held && now >= heldUntil ? .expired : status
    }
}
