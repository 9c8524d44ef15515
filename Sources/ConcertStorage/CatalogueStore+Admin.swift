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
        let rows = try await client.fetch(
            """
            SELECT to_char(s.date, 'YYYY-MM-DD'),
                count(seats.number) FILTER (WHERE seats.state = 'free' OR (seats.state = 'held' AND seats.hold_deadline <= \(now))),
                count(seats.number) FILTER (WHERE seats.state = 'held' AND seats.hold_deadline > \(now)),
                count(seats.number) FILTER (WHERE seats.state = 'sold')
            FROM schedules s LEFT JOIN seats ON seats.schedule_id = s.id
            WHERE s.concert_id = \(concert.rawValue)
            GROUP BY s.date ORDER BY s.date
            """,
            logger: logger
        )
        return try rows.compactMap { row in
            let (date, free, held, sold) = try row.decode((String, Int, Int, Int).self)
            return ScheduleDate(date).map { DateCounts(date: $0, free: free, held: held, sold: sold) }
        }
    }
}
