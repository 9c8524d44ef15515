import Foundation

/// How a command ended, and what it changed: what a partition worker persists and answers.
public struct Outcome: Sendable, Hashable {
    /// What a successful command produced.
    public enum Success: Sendable, Hashable {
        /// A `ReserveSeat` held the seats: the reservation.
        case reservation(ReservationResult)
        /// A `Pay` sold the seats: the receipt.
        case payment(PaymentReceipt)
        /// A `SetSeatMap` gave the date its seats.
        case seatMap(SeatMapResult)
        /// A `ReleaseHold` freed the seats.
        case release(ReleaseResult)
        /// A `Refund` credited the wallet and freed the seats.
        case refund(RefundReceipt)
        /// A `CancelDate` took the date off sale.
        case cancellation(CancellationResult)
        /// A command with nothing to report (an expiry).
        case none
    }

    /// What a failure tells besides its code.
    public enum FailureDetail: Sendable, Hashable {
        /// The seats asked for that are taken (`SEAT_UNAVAILABLE`) or that do not exist (`SEAT_NOT_FOUND`).
        case seats([SeatNumber])
        /// How many seats are free in the scope a best-available request asked for (`SEATS_UNAVAILABLE`).
        case freeSeats(Int)
    }

    /// The command decided.
    public let envelope: CommandEnvelope
    /// What it produced, or why it did not take effect.
    public let result: Result<Success, FailureCode>
    /// More about a failure, if it has more to say.
    public let detail: FailureDetail?
    /// The changes to persist with the batch, in the order made; a failure can have some too (a lapsed hold it expired).
    public let effects: [Effect]

    /// The outcome of `envelope`.
    ///
    /// - Parameters:
    ///   - envelope: The command decided.
    ///   - result: What it produced, or its failure code.
    ///   - detail: More about a failure.
    ///   - effects: The changes to persist with the batch, in the order made.
    public init(_ envelope: CommandEnvelope, _ result: Result<Success, FailureCode>, detail: FailureDetail? = nil, effects: [Effect] = []) {
        self.envelope = envelope
        self.result = result
        self.detail = detail
        self.effects = effects
    }

    /// The failure, if it failed.
    public var failure: FailureCode? {
        if case .failure(let code) = result { return code }
        return nil
    }
}

/// A change a decision makes, to be persisted with the batch.
public enum Effect: Sendable, Hashable {
    /// A new reservation holds its seats.
    case hold(Reservation)
    /// A held reservation ended, `expired` or `released`; its seats are free unless another reservation took them since.
    case end(Reservation)
    /// A reservation was paid: seats sold, receipt written, the user's queue token for the concert ended.
    case sell(Reservation, PaymentReceipt)
    /// A paid reservation was refunded: the wallet credited once, the seats free again.
    case refund(Reservation, RefundReceipt)
    /// A date was cancelled: off sale for good.
    case cancel(ScheduleKey)
    /// A date's seats are (re)defined: the schedule created if new, its seats replaced.
    case setSeats(Command.SetSeatMap)
    /// A date in use gets new prices for its seats (the map has the date's layout); reservations keep theirs.
    case setPrices(Command.SetSeatMap)
}
