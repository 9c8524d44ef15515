/// Why a command did not take effect: a business outcome reported to the client, not an error of the system.
public enum FailureCode: String, Sendable, Codable, CaseIterable, Error {
    /// The seat is held by a live reservation or sold.
    case seatUnavailable = "SEAT_UNAVAILABLE"
    /// The schedule has no seat with that number.
    case seatNotFound = "SEAT_NOT_FOUND"
    /// The concert does not play on that date.
    case scheduleNotFound = "SCHEDULE_NOT_FOUND"
    /// There is no reservation with that id.
    case reservationNotFound = "RESERVATION_NOT_FOUND"
    /// The reservation belongs to another user.
    case notReservationOwner = "NOT_RESERVATION_OWNER"
    /// The hold lapsed before the payment: the reservation is expired.
    case holdExpired = "HOLD_EXPIRED"
    /// The reservation is paid already.
    case alreadyPaid = "ALREADY_PAID"
    /// The user's balance does not cover the price; nothing was debited.
    case insufficientBalance = "INSUFFICIENT_BALANCE"
    /// The user already holds or bought `PartitionState.Settings.maximumSeatsPerUser` seats of the schedule.
    case seatLimitReached = "SEAT_LIMIT_REACHED"
    /// Answered `503 OUTCOME_UNKNOWN` and not arrived within the bound: final, a late arrival is refused.
    case outcomeUnknownExpired = "OUTCOME_UNKNOWN_EXPIRED"
    /// A seat map may replace a date's only while nothing of it is held or sold.
    case scheduleInUse = "SCHEDULE_IN_USE"
    /// No seats fit a best-available request (the outcome says how many are free in its scope).
    case seatsUnavailable = "SEATS_UNAVAILABLE"
    /// The hold was let go by its owner (or its date cancelled): nothing to pay.
    case reservationReleased = "RESERVATION_RELEASED"
    /// The reservation was paid and refunded already.
    case alreadyRefunded = "ALREADY_REFUNDED"
    /// Only a paid reservation can be refunded.
    case notPaid = "NOT_PAID"

    /// A sentence for the client.
    public var message: String {
        switch self {
        case .seatUnavailable: "A seat asked for is held or sold."
        case .seatNotFound: "The schedule has no seat with that number."
        case .scheduleNotFound: "The concert does not play on that date."
        case .reservationNotFound: "There is no such reservation."
        case .notReservationOwner: "The reservation belongs to another user."
        case .holdExpired: "The hold on the seat expired before payment."
        case .alreadyPaid: "The reservation is already paid."
        case .insufficientBalance: "The balance does not cover the price."
        case .seatLimitReached: "You already hold or bought as many seats of this date as one person may."
        case .scheduleInUse: "Seats of that date are held or sold: its seat map can no longer be replaced."
        case .seatsUnavailable: "No seats fit the request."
        case .reservationReleased: "The hold was released: there is nothing to pay."
        case .alreadyRefunded: "The reservation was refunded already."
        case .notPaid: "Only a paid reservation can be refunded."
        case .outcomeUnknownExpired:
            "The command's submission was answered with an unknown outcome and it never reached the system; it was not applied and never will be."
        }
    }
}
