public import Foundation

extension Command {
    /// A date's seats, as an operator describes its venue: sections of rows of seats. Seats are
    /// numbered 1…N in the order given — sections, then rows, then seats within a row — which is
    /// also the order "best first". Applied by the date's partition worker, its seats' one writer:
    /// a new date is created, a date none of whose seats is held or sold is replaced, any other is
    /// refused (`SCHEDULE_IN_USE`) unless it keeps the date's sections, rows and seat counts and
    /// changes only prices: those apply from the next reservation on, and every hold and sale
    /// keeps the price it was made at.
    public struct SetSeatMap: Sendable, Hashable, Codable {
        /// One row: its label within the section, how many seats, and their price.
        public struct Row: Sendable, Hashable, Codable {
            public let label: String
            public let seats: Int
            public let price: Won

            public init(label: String, seats: Int, price: Won) {
                self.label = label
                self.seats = seats
                self.price = price
            }
        }

        /// One section: its name and its rows.
        public struct Section: Sendable, Hashable, Codable {
            public let name: String
            public let rows: [Row]

            public init(name: String, rows: [Row]) {
                self.name = name
                self.rows = rows
            }
        }

        /// A row laid out: where its seats start.
        public struct PlacedRow: Sendable, Hashable {
            public let section: String
            public let label: String
            /// The number of the row's first seat.
            public let firstSeat: Int
            public let seats: Int
            public let price: Won
        }

        /// The most seats a date may have (a stadium).
        public static let maximumSeats = SeatNumber.maximum
        /// The most seats one row may have.
        public static let maximumSeatsPerRow = 1_000
        /// The highest price of one seat.
        public static let maximumPrice: Won = 100_000_000

        public let concertId: ConcertID
        public let date: ScheduleDate
        public let sections: [Section]

        /// A seat map that keeps every rule of a venue's description.
        ///
        /// - Throws: `ValidationError` naming the field at fault (`sections[0].rows[2].price`): no
        ///   sections, a section without rows, a name or label empty, too long or used twice in its
        ///   place, a row of 0 or more than 1 000 seats, a price outside 1…100 000 000, more than
        ///   100 000 seats in all.
        public init(concertId: ConcertID, date: ScheduleDate, sections: [Section]) throws(ValidationError) {
            guard !sections.isEmpty else { throw ValidationError(field: "sections", reason: "must list at least one section") }
            var names: Set<String> = []
            var total = 0
            for (s, section) in sections.enumerated() {
                let field = "sections[\(s)]"
                try Self.checkText(section.name, field: "\(field).name", limit: 100)
                guard names.insert(section.name).inserted else {
                    throw Self.inconsistency("\(field).name", "names a section listed before (\(section.name))")
                }
                guard !section.rows.isEmpty else { throw ValidationError(field: "\(field).rows", reason: "must list at least one row") }
                var labels: Set<String> = []
                for (r, row) in section.rows.enumerated() {
                    let rowField = "\(field).rows[\(r)]"
                    try Self.checkText(row.label, field: "\(rowField).label", limit: 20)
                    guard labels.insert(row.label).inserted else {
                        throw Self.inconsistency("\(rowField).label", "labels a row of this section listed before (\(row.label))")
                    }
                    guard (1...Self.maximumSeatsPerRow).contains(row.seats) else {
                        throw ValidationError(field: "\(rowField).seats", reason: "must be an integer from 1 to \(Self.maximumSeatsPerRow)")
                    }
                    guard (1...Self.maximumPrice.amount).contains(row.price.amount) else {
                        throw ValidationError(field: "\(rowField).price", reason: "must be an integer from 1 to \(Self.maximumPrice.amount)")
                    }
                    total += row.seats
                    guard total <= Self.maximumSeats else {
                        throw Self.inconsistency("sections", "must have at most \(Self.maximumSeats) seats in all")
                    }
                }
            }
            self.concertId = concertId
            self.date = date
            self.sections = sections
        }

        enum CodingKeys: String, CodingKey {
            case concertId, date, sections
        }

        /// Reads a payload and checks it as `init(concertId:date:sections:)` does: a worker
        /// applies only maps that keep the rules, whoever published them.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            try self.init(
                concertId: try container.decode(ConcertID.self, forKey: .concertId),
                date: try container.decode(ScheduleDate.self, forKey: .date),
                sections: try container.decode([Section].self, forKey: .sections)
            )
        }

        private static func inconsistency(_ field: String, _ reason: String) -> ValidationError {
            var error = ValidationError(field: field, reason: reason)
            error.isInconsistency = true
            return error
        }

        private static func checkText(_ text: String, field: String, limit: Int) throws(ValidationError) {
            let scalars = text.unicodeScalars
            guard (1...limit).contains(scalars.count), scalars.contains(where: { $0.value != 0x20 }),
                !scalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
            else {
                throw ValidationError(field: field, reason: "must be 1 to \(limit) characters, one of them not a space, none a control character")
            }
        }

        /// The schedule whose seats these are.
        public var schedule: ScheduleKey { ScheduleKey(concertID: concertId, date: date) }

        /// How many seats the date has.
        public var seatCount: Int { sections.reduce(0) { $0 + $1.rows.reduce(0) { $0 + $1.seats } } }

        /// The rows in seat order, each with the number of its first seat.
        public var placedRows: [PlacedRow] {
            var next = 1
            var placed: [PlacedRow] = []
            for section in sections {
                for row in section.rows {
                    placed.append(PlacedRow(section: section.name, label: row.label, firstSeat: next, seats: row.seats, price: row.price))
                    next += row.seats
                }
            }
            return placed
        }
    }
}

/// The `result` of a successful `SetSeatMap`.
public struct SeatMapResult: Sendable, Hashable, Codable {
    public let concertId: ConcertID
    public let date: ScheduleDate
    /// How many seats the date has now.
    public let seats: Int
    /// True when the date was new; false when its seats were replaced.
    public let created: Bool
    /// True when the date was in use and the map changed only its seats' prices.
    public let pricesOnly: Bool

    public init(concertId: ConcertID, date: ScheduleDate, seats: Int, created: Bool, pricesOnly: Bool = false) {
        self.concertId = concertId
        self.date = date
        self.seats = seats
        self.created = created
        self.pricesOnly = pricesOnly
    }
}
