public import Foundation

/// A user's claim on one seat of one schedule: held until a deadline, then paid or expired.
public struct Reservation: Sendable, Hashable, Codable {
    /// Where a reservation is in its life.
    public enum Status: String, Sendable, Hashable, Codable {
        case held, paid, expired
    }

    public let id: UUID
    public let schedule: ScheduleKey
    public let seat: SeatNumber
    public let userID: UserID
    public let price: Won
    public var status: Status
    /// The hold's deadline; after it an unpaid hold is expired even if no expiry message came.
    public let heldUntil: Date

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
    public func effectiveStatus(at now: Date) -> Status {
        status == .held && now >= heldUntil ? .expired : status
    }
}
