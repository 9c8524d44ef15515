public import Foundation

/// A user's claim on one or more seats of one schedule, all or none: held until a deadline, then
/// paid, released or expired; a paid one may be refunded.
public struct Reservation: Sendable, Hashable, Codable {
    /// Where a reservation is in its life.
    public enum Status: String, Sendable, Hashable, Codable {
        /// `held`: the seats are held until `heldUntil`; `paid`: they are sold; `expired`: the
        /// hold ended unpaid; `released`: its owner let the hold go; `refunded`: paid, then the
        /// money went back. Expired, released and refunded seats are free.
        case held, paid, expired, released, refunded

        /// True for a status whose seats are taken (held or paid).
        public var isLive: Bool { self == .held || self == .paid }
    }

    /// One seat of a reservation, with the price it was reserved at.
    public struct Seat: Sendable, Hashable, Codable {
        public let number: SeatNumber
        public let price: Won

        /// Seat `number` at `price`.
        ///
        /// - Parameters:
        ///   - number: The seat.
        ///   - price: Its price when it was reserved.
        public init(number: SeatNumber, price: Won) {
            self.number = number
            self.price = price
        }
    }

    /// The reservation's id: the id of the `ReserveSeat` command that made it.
    public let id: UUID
    /// The schedule of the seats.
    public let schedule: ScheduleKey
    /// The seats, in number order (at least one).
    public let seats: [Seat]
    /// The user who made the reservation.
    public let userID: UserID
    /// The status as recorded; `effectiveStatus(at:)` is what it reads as at a given time.
    public var status: Status
    /// The hold's deadline; after it an unpaid hold is expired even if no expiry message came.
    public let heldUntil: Date

    /// A reservation with every field given.
    ///
    /// - Parameters:
    ///   - id: The reservation's id.
    ///   - schedule: The schedule of the seats.
    ///   - seats: The seats with their prices; kept in number order.
    ///   - userID: The user who made the reservation.
    ///   - status: The recorded status.
    ///   - heldUntil: The hold's deadline.
    public init(id: UUID, schedule: ScheduleKey, seats: [Seat], userID: UserID, status: Status, heldUntil: Date) {
        self.id = id
        self.schedule = schedule
        self.seats = seats.sorted { $0.number < $1.number }
        self.userID = userID
        self.status = status
        self.heldUntil = heldUntil
    }

    /// A reservation of one seat.
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
        self.init(id: id, schedule: schedule, seats: [Seat(number: seat, price: price)], userID: userID, status: status, heldUntil: heldUntil)
    }

    /// What paying the reservation debits: its seats' prices added up.
    public var price: Won { Won(seats.reduce(0) { $0 + $1.price.amount }) }

    /// The seats' numbers, in order.
    public var seatNumbers: [SeatNumber] { seats.map(\.number) }

    /// The status a reader sees at `now`: a hold past its deadline reads as expired.
    ///
    /// - Parameters:
    ///   - now: The time to read the status at.
    /// - Returns: `expired` for a held reservation whose `heldUntil` is not after `now`, otherwise `status`.
    public func effectiveStatus(at now: Date) -> Status {
        status == .held && now >= heldUntil ? .expired : status
    }
}
