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

    /// Published by the worker after a batch with the holds it made (one message per batch: all
    /// its schedules are of one partition), delivered back through the hold-delay queue when they end.
    public struct ExpireHold: Sendable, Hashable, Codable {
        /// The holds of one schedule.
        public struct Holds: Sendable, Hashable, Codable {
            /// The schedule's partition key; empty in the forms of earlier builds: the envelope's own.
            public let partitionKey: String
            public let reservationIds: [UUID]

            public init(partitionKey: String, reservationIds: [UUID]) {
                self.partitionKey = partitionKey
                self.reservationIds = reservationIds
            }
        }

        public let holds: [Holds]

        public init(holds: [Holds]) { self.holds = holds }

        /// Holds of the envelope's own schedule.
        public init(reservationIds: [UUID]) { self.holds = [Holds(partitionKey: "", reservationIds: reservationIds)] }

        /// Every reservation to end.
        public var reservationIds: [UUID] { holds.flatMap(\.reservationIds) }

        enum CodingKeys: String, CodingKey {
            case holds, reservationIds, reservationId
        }

        /// Also reads `{"reservationIds": […]}` and `{"reservationId": …}`, the forms of earlier builds
        /// (still in the delay queue after an upgrade): holds of the envelope's own schedule.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if let holds = try container.decodeIfPresent([Holds].self, forKey: .holds) {
                self.init(holds: holds)
            } else if let ids = try container.decodeIfPresent([UUID].self, forKey: .reservationIds) {
                self.init(reservationIds: ids)
            } else {
                self.init(reservationIds: [try container.decode(UUID.self, forKey: .reservationId)])
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(holds, forKey: .holds)
        }
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
