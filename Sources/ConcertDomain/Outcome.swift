public import Foundation

/// How a command ended, and what it changed: what a partition worker persists and answers.
public struct Outcome: Sendable, Hashable {
    /// What a successful command produced.
    public enum Success: Sendable, Hashable {
        case reservation(ReservationResult)
        case payment(PaymentReceipt)
        /// A command with nothing to report (an expiry).
        case none
    }

    public let envelope: CommandEnvelope
    public let result: Result<Success, FailureCode>
    public let effects: [Effect]

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
}

