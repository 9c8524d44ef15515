public import Foundation

/// What a partition worker is asked to do. Every command concerns one schedule (its partition).
public enum Command: Sendable, Hashable {
    /// Hold a seat for the submitting user.
    case reserveSeat(ReserveSeat)
    /// Pay a held reservation from the user's balance.
    case pay(Pay)
    /// The hold's timer fired: release the seat unless it was paid.
    case expireHold(ExpireHold)

    /// `POST /v1/reservations`.
    public struct ReserveSeat: Sendable, Hashable, Codable {
        public let concertId: ConcertID
        public let date: ScheduleDate
        public let seatNumber: SeatNumber

        public init(concertId: ConcertID, date: ScheduleDate, seatNumber: SeatNumber) {
            self.concertId = concertId
            self.date = date
            self.seatNumber = seatNumber
        }
    }

    /// `POST /v1/payments`.
    public struct Pay: Sendable, Hashable, Codable {
        public let reservationId: UUID

        public init(reservationId: UUID) { self.reservationId = reservationId }
    }

    /// Published by the worker after a hold, delivered back through the hold-delay queue.
    public struct ExpireHold: Sendable, Hashable, Codable {
        public let reservationId: UUID

        public init(reservationId: UUID) { self.reservationId = reservationId }
    }

    /// The envelope's `type`.
    public var type: CommandType {
        switch self {
        case .reserveSeat: .reserveSeat
        case .pay: .pay
        case .expireHold: .expireHold
        }
    }
}

/// The names commands travel under (AMQP `type`, the envelope's `type`, the commands table).
public enum CommandType: String, Sendable, Codable, CaseIterable {
    case reserveSeat = "ReserveSeat"
    case pay = "Pay"
    case expireHold = "ExpireHold"
}
