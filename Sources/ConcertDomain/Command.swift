public import Foundation

/// What a partition worker is asked to do. Every command concerns one partition: a reservation or a payment one
/// schedule of it, an expiry one or more of its schedules.
public enum Command: Sendable, Hashable {
    /// Hold a seat for the submitting user.
    case reserveSeat(ReserveSeat)
    /// Pay a held reservation from the user's balance.
    case pay(Pay)
    /// The hold's timer fired: release the seat unless it was paid.
    case expireHold(ExpireHold)
    /// An operator gives a date its seats (`PUT /admin/concerts/{id}/dates/{date}`).
    case setSeatMap(SetSeatMap)

    /// `POST /v1/reservations`.
    public struct ReserveSeat: Sendable, Hashable, Codable {
        /// The concert to reserve a seat of.
        public let concertId: ConcertID
        /// The date the concert plays on; with `concertId`, the schedule.
        public let date: ScheduleDate
        /// The seat to hold.
        public let seatNumber: SeatNumber

        /// A request to hold seat `seatNumber` of concert `concertId` on `date`.
        ///
        /// - Parameters:
        ///   - concertId: The concert.
        ///   - date: The date the concert plays on.
        ///   - seatNumber: The seat to hold.
        public init(concertId: ConcertID, date: ScheduleDate, seatNumber: SeatNumber) {
            self.concertId = concertId
            self.date = date
            self.seatNumber = seatNumber
        }
    }

    /// `POST /v1/payments`.
    public struct Pay: Sendable, Hashable, Codable {
        /// The held reservation to pay.
        public let reservationId: UUID

        /// A request to pay reservation `reservationId`.
        ///
        /// - Parameters:
        ///   - reservationId: The held reservation to pay.
        public init(reservationId: UUID) { self.reservationId = reservationId }
    }

    /// Published by the worker after a batch with the holds it made (one message per batch: all
    /// its schedules are of one partition), delivered back through the hold-delay queue when they end.
    public struct ExpireHold: Sendable, Hashable, Codable {
        /// The holds of one schedule.
        public struct Holds: Sendable, Hashable, Codable {
            /// The schedule's partition key; empty means the envelope's own (what the legacy payload forms decode to).
            public let partitionKey: String
            /// The reservations to end if they are still held.
            public let reservationIds: [UUID]

            /// The holds `reservationIds` of the schedule `partitionKey`.
            ///
            /// - Parameters:
            ///   - partitionKey: The schedule's partition key, or empty for the envelope's own.
            ///   - reservationIds: The reservations to end.
            public init(partitionKey: String, reservationIds: [UUID]) {
                self.partitionKey = partitionKey
                self.reservationIds = reservationIds
            }
        }

        /// The holds to end, grouped by schedule.
        public let holds: [Holds]

        /// An expiry of `holds`.
        ///
        /// - Parameters:
        ///   - holds: The holds to end, grouped by schedule.
        public init(holds: [Holds]) { self.holds = holds }

        /// Holds of the envelope's own schedule.
        ///
        /// - Parameters:
        ///   - reservationIds: The reservations to end, all of the envelope's schedule.
        public init(reservationIds: [UUID]) { self.holds = [Holds(partitionKey: "", reservationIds: reservationIds)] }

        /// Every reservation to end.
        public var reservationIds: [UUID] { holds.flatMap(\.reservationIds) }

        enum CodingKeys: String, CodingKey {
            case holds, reservationIds, reservationId
        }

        /// Reads `{"holds": […]}`, and also the legacy forms `{"reservationIds": […]}` and `{"reservationId": …}`, which
        /// messages waiting in the delay queue across an upgrade may carry: those are holds of the envelope's own schedule.
        ///
        /// - Parameters:
        ///   - decoder: The decoder of the payload.
        /// - Throws: `DecodingError` when none of `holds`, `reservationIds` and `reservationId` is present, or the first of
        ///   them present is not of its type (an array of holds, an array of UUIDs, a UUID).
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

        /// Writes the `{"holds": […]}` form; the legacy forms are never written.
        ///
        /// - Parameters:
        ///   - encoder: The encoder to write to.
        /// - Throws: Any error `encoder` throws.
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
        case .setSeatMap: .setSeatMap
        }
    }
}

/// The names commands travel under (AMQP `type`, the envelope's `type`, the commands table).
public enum CommandType: String, Sendable, Codable, CaseIterable {
    /// `Command.reserveSeat`, named `ReserveSeat`.
    case reserveSeat = "ReserveSeat"
    /// `Command.pay`, named `Pay`.
    case pay = "Pay"
    /// `Command.expireHold`, named `ExpireHold`.
    case expireHold = "ExpireHold"
    /// `Command.setSeatMap`, named `SetSeatMap`.
    case setSeatMap = "SetSeatMap"
}
