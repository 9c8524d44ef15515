public import Foundation

/// What a partition worker is asked to do. Every command concerns one partition: a reservation or a payment one
/// schedule of it, an expiry one or more of its schedules.
public enum Command: Sendable, Hashable {
    /// Hold one or more seats for the submitting user, all or none.
    case reserveSeat(ReserveSeat)
    /// Pay a held reservation from the user's balance.
    case pay(Pay)
    /// The hold's timer fired: release the seats unless they were paid.
    case expireHold(ExpireHold)
    /// An operator gives a date its seats (`PUT /admin/concerts/{id}/dates/{date}`).
    case setSeatMap(SetSeatMap)
    /// The owner lets a hold go (`DELETE /v1/reservations/{id}`).
    case release(Release)
    /// An operator refunds a paid reservation (`POST /admin/reservations/{id}/refund`).
    case refund(Refund)
    /// An operator cancels a date: holds released, sales refunded (`DELETE /admin/concerts/{id}/dates/{date}`).
    case cancelDate(CancelDate)

    /// `POST /v1/reservations`: seats chosen by number, or found by the worker ("best available").
    public struct ReserveSeat: Sendable, Hashable, Codable {
        /// Which seats.
        public enum Selection: Sendable, Hashable {
            /// These seats, all or none (at least one, no number twice).
            case seats([SeatNumber])
            /// The best free seats for the request.
            case best(SeatMap.Request)
        }

        /// The concert to reserve seats of.
        public let concertId: ConcertID
        /// The date the concert plays on; with `concertId`, the schedule.
        public let date: ScheduleDate
        /// The seats asked for.
        public let selection: Selection

        /// A request to hold seats of concert `concertId` on `date`.
        ///
        /// - Parameters:
        ///   - concertId: The concert.
        ///   - date: The date the concert plays on.
        ///   - selection: Which seats.
        public init(concertId: ConcertID, date: ScheduleDate, selection: Selection) {
            self.concertId = concertId
            self.date = date
            self.selection = selection
        }

        /// A request to hold seat `seatNumber` of concert `concertId` on `date`.
        ///
        /// - Parameters:
        ///   - concertId: The concert.
        ///   - date: The date the concert plays on.
        ///   - seatNumber: The seat to hold.
        public init(concertId: ConcertID, date: ScheduleDate, seatNumber: SeatNumber) {
            self.init(concertId: concertId, date: date, selection: .seats([seatNumber]))
        }

        /// The one seat asked for by number, if that is the request.
        public var seatNumber: SeatNumber? {
            if case .seats(let numbers) = selection, numbers.count == 1 { return numbers[0] }
            return nil
        }

        enum CodingKeys: String, CodingKey {
            case concertId, date, seatNumber, seatNumbers, quantity, section, maxPrice, together
        }

        /// Reads `seatNumber` (one seat), `seatNumbers` (several) or `quantity` with `section`,
        /// `maxPrice` and `together` (best available), checked as the API checks them.
        ///
        /// - Parameters:
        ///   - decoder: The decoder of the payload.
        /// - Throws: `DecodingError` when no form or a broken one is there.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            concertId = try container.decode(ConcertID.self, forKey: .concertId)
            date = try container.decode(ScheduleDate.self, forKey: .date)
            if let seat = try container.decodeIfPresent(SeatNumber.self, forKey: .seatNumber) {
                selection = .seats([seat])
            } else if let seats = try container.decodeIfPresent([SeatNumber].self, forKey: .seatNumbers) {
                guard !seats.isEmpty, Set(seats).count == seats.count else {
                    throw DecodingError.dataCorruptedError(forKey: .seatNumbers, in: container, debugDescription: "must list distinct seats")
                }
                selection = .seats(seats)
            } else {
                let quantity = try container.decode(Int.self, forKey: .quantity)
                guard quantity > 0 else {
                    throw DecodingError.dataCorruptedError(forKey: .quantity, in: container, debugDescription: "must be positive")
                }
                selection = .best(
                    SeatMap.Request(
                        quantity: quantity,
                        section: try container.decodeIfPresent(String.self, forKey: .section),
                        maxPrice: try container.decodeIfPresent(Won.self, forKey: .maxPrice),
                        together: try container.decodeIfPresent(Bool.self, forKey: .together) ?? true
                    )
                )
            }
        }

        /// Writes the form `init(from:)` reads: `seatNumber` for one seat by number.
        ///
        /// - Parameters:
        ///   - encoder: The encoder to write to.
        /// - Throws: Any error `encoder` throws.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(concertId, forKey: .concertId)
            try container.encode(date, forKey: .date)
            switch selection {
            case .seats(let numbers) where numbers.count == 1:
                try container.encode(numbers[0], forKey: .seatNumber)
            case .seats(let numbers):
                try container.encode(numbers, forKey: .seatNumbers)
            case .best(let request):
                try container.encode(request.quantity, forKey: .quantity)
                try container.encodeIfPresent(request.section, forKey: .section)
                try container.encodeIfPresent(request.maxPrice, forKey: .maxPrice)
                try container.encode(request.together, forKey: .together)
            }
        }
    }

    /// `DELETE /v1/reservations/{id}`: the owner releases a hold.
    public struct Release: Sendable, Hashable, Codable {
        /// The held reservation to let go.
        public let reservationId: UUID

        public init(reservationId: UUID) { self.reservationId = reservationId }
    }

    /// `POST /admin/reservations/{id}/refund`.
    public struct Refund: Sendable, Hashable, Codable {
        /// The paid reservation to refund.
        public let reservationId: UUID

        public init(reservationId: UUID) { self.reservationId = reservationId }
    }

    /// `DELETE /admin/concerts/{id}/dates/{date}`.
    public struct CancelDate: Sendable, Hashable, Codable {
        public let concertId: ConcertID
        public let date: ScheduleDate

        public init(concertId: ConcertID, date: ScheduleDate) {
            self.concertId = concertId
            self.date = date
        }

        /// The schedule cancelled.
        public var schedule: ScheduleKey { ScheduleKey(concertID: concertId, date: date) }
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
        case .release: .release
        case .refund: .refund
        case .cancelDate: .cancelDate
        }
    }

    /// True for an operator's command that the worker applies alone, in a batch of its own
    /// (seat maps change what the rest of a batch decides on; refunds credit wallets, which the
    /// batch's payments must see committed).
    public var isApart: Bool {
        switch self {
        case .setSeatMap, .refund, .cancelDate: true
        case .reserveSeat, .pay, .expireHold, .release: false
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
    /// `Command.release`, named `ReleaseHold`.
    case release = "ReleaseHold"
    /// `Command.refund`, named `Refund`.
    case refund = "Refund"
    /// `Command.cancelDate`, named `CancelDate`.
    case cancelDate = "CancelDate"
}
