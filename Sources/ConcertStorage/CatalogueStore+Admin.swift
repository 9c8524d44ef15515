public import ConcertDomain
public import Foundation
import PostgresNIO

extension CatalogueStore {
    /// A concert as an operator creates it (no id yet).
    public struct ConcertDraft: Sendable, Hashable {
        public var title: String
        public var venue: String?
        public var window: SaleWindow
        public var capacity: Int?
        public var admitPerSecond: Int?
        public var externalKey: String?

        public init(
            title: String,
            venue: String? = nil,
            window: SaleWindow = .always,
            capacity: Int? = nil,
            admitPerSecond: Int? = nil,
            externalKey: String? = nil
        ) {
            self.title = title
            self.venue = venue
            self.window = window
            self.capacity = capacity
            self.admitPerSecond = admitPerSecond
            self.externalKey = externalKey
        }

        /// The draft, checked: title, venue and key of plain text within their lengths, capacity
        /// and admission rate within bounds (the sale window is checked when it is made).
        ///
        /// - Throws: `ValidationError` naming the first field at fault.
        public func checked() throws(ValidationError) -> ConcertDraft {
            guard (1...200).contains(title.unicodeScalars.count), Self.isVisible(title) else {
                throw ValidationError(field: "title", reason: "must be 1 to 200 characters, one of them not a space, none a control character")
            }
            if let venue, venue.unicodeScalars.count > 200 || !Self.isPlain(venue) {
                throw ValidationError(field: "venue", reason: "must be at most 200 characters, none a control character")
            }
            if let capacity, !(1...10_000_000).contains(capacity) {
                throw ValidationError(field: "capacity", reason: "must be an integer from 1 to 10000000")
            }
            if let admitPerSecond, !(0...10_000_000).contains(admitPerSecond) {
                throw ValidationError(field: "admitPerSecond", reason: "must be an integer from 0 (unlimited) to 10000000")
            }
            if let externalKey, !(1...200).contains(externalKey.unicodeScalars.count) || !Self.isVisible(externalKey) {
                throw ValidationError(
                    field: "externalKey",
                    reason: "must be 1 to 200 characters, one of them not a space, none a control character"
                )
            }
            return self
        }

        /// Text without control characters (PostgreSQL refuses NUL; the rest has no place in a title).
        public static func isPlain(_ text: String) -> Bool {
            !text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
        }

        /// Plain text with at least one character that is not a space.
        public static func isVisible(_ text: String) -> Bool {
            isPlain(text) && text.unicodeScalars.contains { $0.value != 0x20 }
        }

        public init(_ concert: Concert) {
            self.init(
                title: concert.title,
                venue: concert.venue,
                window: concert.window,
                capacity: concert.capacity,
                admitPerSecond: concert.admitPerSecond,
                externalKey: concert.externalKey
            )
        }
    }

    /// One date of a concert with its seats by state (a hold past its deadline counts as free).
    public struct DateCounts: Sendable, Hashable {
        public let date: ScheduleDate
        public let free: Int
        public let held: Int
        public let sold: Int
        /// True once the date is cancelled (off sale; its seats were released and refunded).
        public let cancelled: Bool
    }

    /// Creates a concert (and, by the schema's trigger, its waiting room). With an external key
    /// already taken, nothing is created and the concert of that key is returned, `created` false.
    public func create(_ draft: ConcertDraft) async throws -> (concert: Concert, created: Bool) {
        let window = draft.window
        let logger = logger
        // The id: the sequence's next, or past every id written without it (the demo seed's).
        let rows = try await client.withUnwrappedTransaction(logger: logger) { connection in
            let rows = try await connection.fetch(
                """
                INSERT INTO concerts (id, title, venue, queue_opens_at, on_sale_at, sale_ends_at, capacity, admit_per_second, external_key)
                VALUES (greatest(nextval('concerts_id_seq'), (SELECT coalesce(max(id), 0) + 1 FROM concerts)),
                    \(draft.title), \(draft.venue), \(window.queueOpensAt), \(window.onSaleAt), \(window.saleEndsAt),
                    \(draft.capacity), \(draft.admitPerSecond), \(draft.externalKey))
                ON CONFLICT (external_key) DO NOTHING
                RETURNING \(unescaped: Self.concertColumns)
                """,
                logger: logger
            )
            let created = try rows.compactMap { Self.concert(try $0.decode(ConcertRow.self)) }
            if let concert = created.first { try await Self.updateDrawPending(concert.id, on: connection, logger: logger) }
            return created
        }
        if let concert = rows.first { return (concert, true) }
        guard let key = draft.externalKey, let existing = try await concert(externalKey: key) else {
            throw DependencyUnavailable(.database, outcomeUnknown: false, underlying: "the concert was neither created nor found")
        }
        return (existing, false)
    }

    /// The concert imported under `key`, if any.
    public func concert(externalKey key: String) async throws -> Concert? {
        let rows = try await client.fetch("SELECT \(unescaped: Self.concertColumns) FROM concerts WHERE external_key = \(key)", logger: logger)
        return try rows.compactMap { Self.concert(try $0.decode(ConcertRow.self)) }.first
    }

    /// Changes a concert: `change` gets the stored draft and returns the new one (or throws, and
    /// nothing changes). `nil` when there is no such concert.
    public func update(_ id: ConcertID, _ change: @escaping @Sendable (ConcertDraft) throws -> ConcertDraft) async throws -> Concert? {
        let logger = logger
        return try await client.withUnwrappedTransaction(logger: logger) { connection in
            let rows = try await connection.fetch(
                "SELECT \(unescaped: Self.concertColumns) FROM concerts WHERE id = \(id.rawValue) FOR UPDATE",
                logger: logger
            )
            guard let stored = try rows.compactMap({ Self.concert(try $0.decode(ConcertRow.self)) }).first else { return nil }
            let draft = try change(ConcertDraft(stored))
            let window = draft.window
            let updated = try await connection.fetch(
                """
                UPDATE concerts SET title = \(draft.title), venue = \(draft.venue), queue_opens_at = \(window.queueOpensAt),
                    on_sale_at = \(window.onSaleAt), sale_ends_at = \(window.saleEndsAt), capacity = \(draft.capacity),
                    admit_per_second = \(draft.admitPerSecond)
                WHERE id = \(id.rawValue)
                RETURNING \(unescaped: Self.concertColumns)
                """,
                logger: logger
            )
            try await Self.updateDrawPending(id, on: connection, logger: logger)
            return try updated.compactMap { Self.concert(try $0.decode(ConcertRow.self)) }.first
        }
    }

    /// A concert whose sale starts later has a pre-queue whose places are drawn at the start
    /// (`WaitingRoomStore.draw`); once drawn, never again. A sale start removed before the draw
    /// cancels it (the tokens then keep their arrival order).
    static func updateDrawPending(_ id: ConcertID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.fetch(
            """
            UPDATE waiting_rooms w SET draw_pending = (w.drawn_at IS NULL AND c.on_sale_at IS NOT NULL AND (c.on_sale_at > now() OR w.draw_pending))
            FROM concerts c WHERE c.id = w.concert_id AND w.concert_id = \(id.rawValue)
            """,
            logger: logger
        )
    }

    /// Every date of the concert, oldest first, with its seats by state at `now`.
    public func dateCounts(of concert: ConcertID, now: Date) async throws -> [DateCounts] {
        try await dateCounts(of: [concert], now: now)[concert] ?? []
    }

    /// Every date of each concert, oldest first, with its seats by state at `now` (one statement).
    public func dateCounts(of concerts: [ConcertID], now: Date) async throws -> [ConcertID: [DateCounts]] {
        let rows = try await client.fetch(
            """
            SELECT s.concert_id, to_char(s.date, 'YYYY-MM-DD'), s.cancelled_at IS NOT NULL,
                count(seats.number) FILTER (WHERE seats.state = 'free' OR (seats.state = 'held' AND seats.hold_deadline <= \(now))),
                count(seats.number) FILTER (WHERE seats.state = 'held' AND seats.hold_deadline > \(now)),
                count(seats.number) FILTER (WHERE seats.state = 'sold')
            FROM schedules s LEFT JOIN seats ON seats.schedule_id = s.id
            WHERE s.concert_id = ANY(\(concerts.map(\.rawValue)))
            GROUP BY s.concert_id, s.date, s.cancelled_at ORDER BY s.concert_id, s.date
            """,
            logger: logger
        )
        var counts: [ConcertID: [DateCounts]] = [:]
        for row in rows {
            let (concert, date, cancelled, free, held, sold) = try row.decode((Int64, String, Bool, Int, Int, Int).self)
            guard let concert = ConcertID(concert), let date = ScheduleDate(date) else { continue }
            counts[concert, default: []].append(DateCounts(date: date, free: free, held: held, sold: sold, cancelled: cancelled))
        }
        return counts
    }
}

extension CatalogueStore {
    /// A date's seats as rows, in seat order: what an operator's seat map laid out (each row's
    /// price is `nil` when its seats differ in price, which no map makes). `nil` when the concert
    /// does not play that day.
    public func seatLayout(of schedule: ScheduleKey) async throws -> [SeatLayoutRow]? {
        let rows = try await client.fetch(
            """
            SELECT seats.section, seats.row_label, min(seats.number), count(*), min(seats.price), max(seats.price)
            FROM schedules s JOIN seats ON seats.schedule_id = s.id
            WHERE s.concert_id = \(schedule.concertID.rawValue) AND s.date = \(schedule.date.description)::date
            GROUP BY seats.section, seats.row_label ORDER BY min(seats.number)
            """,
            logger: logger
        )
        let layout = try rows.map { row in
            let (section, label, first, count, lowest, highest) = try row.decode((String?, String?, Int, Int, Int64, Int64).self)
            return SeatLayoutRow(section: section, label: label, firstSeat: first, seats: count, price: lowest == highest ? Won(lowest) : nil)
        }
        if !layout.isEmpty { return layout }
        return try await scheduleExists(schedule) ? [] : nil
    }

    /// One row of a date's seats as stored.
    public struct SeatLayoutRow: Sendable, Hashable {
        public let section: String?
        public let label: String?
        public let firstSeat: Int
        public let seats: Int
        public let price: Won?

        public init(section: String?, label: String?, firstSeat: Int, seats: Int, price: Won?) {
            self.section = section
            self.label = label
            self.firstSeat = firstSeat
            self.seats = seats
            self.price = price
        }

        /// A row of a seat map as storage keeps it.
        public init(_ row: Command.SetSeatMap.PlacedRow) {
            self.init(section: row.section, label: row.label, firstSeat: row.firstSeat, seats: row.seats, price: row.price)
        }
    }

    func scheduleExists(_ schedule: ScheduleKey) async throws -> Bool {
        let rows = try await client.fetch(
            "SELECT 1 FROM schedules WHERE concert_id = \(schedule.concertID.rawValue) AND date = \(schedule.date.description)::date",
            logger: logger
        )
        return !rows.isEmpty
    }
}
