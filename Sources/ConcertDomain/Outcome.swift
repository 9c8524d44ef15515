import Foundation

/// How a command ended, and what it changed: what a partition worker persists and answers.
public struct Outcome: Sendable, Hashable {
    /// What a successful command produced.
    public enum Success: Sendable, Hashable {
        /// A `ReserveSeat` held the seat: the reservation.
        case reservation(ReservationResult)
        /// A `Pay` sold the seat: the receipt.
        case payment(PaymentReceipt)
        /// A `SetSeatMap` gave the date its seats.
        case seatMap(SeatMapResult)
        /// A command with nothing to report (an expiry).
        case none
    }

    /// The command decided.
    public let envelope: CommandEnvelope
    /// What it produced, or why it did not take effect.
    public let result: Result<Success, FailureCode>
    /// The changes to persist with the batch, in the order made; a failure can have some too (a lapsed hold it expired).
    public let effects: [Effect]

    /// The outcome of `envelope`.
    ///
    /// - Parameters:
    ///   - envelope: The command decided.
    ///   - result: What it produced, or its failure code.
    ///   - effects: The changes to persist with the batch, in the order made.
    public init(_ envelope: CommandEnvelope, _ result: Result<Success, FailureCode>, effects: [Effect] = []) {
        self.envelope = envelope
        self.result = result
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
    /// A new reservation holds its seat.
    case hold(Reservation)
    /// A held reservation expired; its seat is free unless another reservation took it since.
    case expire(Reservation)
    /// A reservation was paid: seat sold, receipt written, the user's queue token for the concert ended.
    case sell(Reservation, PaymentReceipt)
    /// A date's seats are (re)defined: the schedule created if new, its seats replaced.
    case setSeats(Command.SetSeatMap)
    /// A date in use gets new prices for its seats (the map has the date's layout); reservations keep theirs.
    case setPrices(Command.SetSeatMap)
}
