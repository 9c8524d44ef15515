public import ConcertDomain
public import Foundation
public import Logging
public import PostgresNIO

/// The waiting room's rows: tokens in sequence order per concert, and each concert's admission mark.
public struct WaitingRoomStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// A token's row.
    public struct Token: Sendable, Hashable {
        public enum State: String, Sendable, Hashable {
            case waiting, active, expired, abandoned
        }

        public let concertID: ConcertID
        public let seq: Int64
        public let userID: UserID
        public let state: State
        public let issuedAt: Date
        /// Set once admitted: when the active token ends.
        public let expiresAt: Date?
    }

    /// The user's live token for the concert, or a new one at the end of the queue.
    ///
    /// `created` is false when the user already held a waiting or active token (re-issue).
    public func issue(concert: ConcertID, user: UserID) async throws -> (token: Token, created: Bool) {
        guard case .issued(let token, let created)? = try await issue([(concert, user)]).first else {
            throw StorageError(message: "concert \(concert) has no waiting room")
        }
        return (token, created)
    }

    /// What issuing one token came to.
    public enum Issue: Sendable, Hashable {
        /// The token, and whether it is new (false: the user's live token, issued before).
        case issued(Token, created: Bool)
        /// The concert has no waiting room (it does not exist).
        case unknownConcert
    }

    /// Issues tokens to many (concert, user) pairs with one statement per round: each gets the
    /// user's live token for the concert, or a new one at the end of the queue. A pair that lost a
    /// race with a concurrent insert (another API process) finds that token in the next round.
    public func issue(_ requests: [(concert: ConcertID, user: UserID)]) async throws -> [Issue] {
        struct Key: Hashable {
            let concert: Int64
            let user: String
        }
        var unresolved: [Key] = []
        var seen = Set<Key>()
        for request in requests {
            let key = Key(concert: request.concert.rawValue, user: request.user.rawValue)
            if seen.insert(key).inserted { unresolved.append(key) }
        }
        var resolved: [Key: Issue] = [:]
        for _ in 1...3 where !unresolved.isEmpty {
            let rows = try await client.run(IssueTokens(concerts: unresolved.map(\.concert), users: unresolved.map(\.user)), logger: logger)
            for (concert, user, seq, state, issuedAt, expiresAt, created) in rows {
                let key = Key(concert: concert, user: user)
                if state == "unknown" {
                    resolved[key] = .unknownConcert
                } else if let concertID = ConcertID(concert), let userID = UserID(user), let state = Token.State(rawValue: state) {
                    let token = Token(concertID: concertID, seq: seq, userID: userID, state: state, issuedAt: issuedAt, expiresAt: expiresAt)
                    resolved[key] = .issued(token, created: created)
                }
            }
            unresolved.removeAll { resolved[$0] != nil }
        }
        guard unresolved.isEmpty else { throw StorageError(message: "token issue did not settle") }
        return requests.map { resolved[Key(concert: $0.concert.rawValue, user: $0.user.rawValue)]! }
    }

    /// The token with this sequence number, if it exists.
    public func token(concert: ConcertID, seq: Int64) async throws -> Token? {
        for (user, state, issuedAt, expiresAt) in try await client.run(TokenRow(concert: concert.rawValue, seq: seq), logger: logger) {
            guard let user = UserID(user), let state = Token.State(rawValue: state) else { continue }
            return Token(concertID: concert, seq: seq, userID: user, state: state, issuedAt: issuedAt, expiresAt: expiresAt)
        }
        return nil
    }

    /// The rows of several tokens in one statement; keys without a row are left out.
    public func tokens(_ keys: [(concert: ConcertID, seq: Int64)]) async throws -> [Token] {
        guard !keys.isEmpty else { return [] }
        var tokens: [Token] = []
        tokens.reserveCapacity(keys.count)
        let rows = try await client.run(TokenRows(concerts: keys.map(\.concert.rawValue), seqs: keys.map(\.seq)), logger: logger)
        for (concert, seq, user, state, issuedAt, expiresAt) in rows {
            guard let concert = ConcertID(concert), let user = UserID(user), let state = Token.State(rawValue: state) else { continue }
            tokens.append(Token(concertID: concert, seq: seq, userID: user, state: state, issuedAt: issuedAt, expiresAt: expiresAt))
        }
        return tokens
    }

    /// The rows of the concert's tokens with `after < seq ≤ through` that are no longer waiting,
    /// at most `limit`, the highest numbers first: what one advance of the admission mark admitted.
    public func admittedTokens(concert: ConcertID, after: Int64, through: Int64, limit: Int) async throws -> [Token] {
        var tokens: [Token] = []
        let statement = AdmittedTokenRows(concert: concert.rawValue, after: after, through: through, limit: Int64(limit))
        for (seq, user, state, issuedAt, expiresAt) in try await client.run(statement, logger: logger) {
            guard let user = UserID(user), let state = Token.State(rawValue: state) else { continue }
            tokens.append(Token(concertID: concert, seq: seq, userID: user, state: state, issuedAt: issuedAt, expiresAt: expiresAt))
        }
        return tokens
    }

    /// A concert's waiting room as the API keeps it in memory.
    public struct Room: Sendable, Hashable {
        public let admittedThrough: Int64
        public let window: SaleWindow
    }

    /// Every concert's `admittedThrough` and sale times, for the API's in-memory view.
    public func rooms() async throws -> [ConcertID: Room] {
        var rooms: [ConcertID: Room] = [:]
        let rows = try await client.fetch(
            """
            SELECT w.concert_id, w.admitted_through, c.queue_opens_at, c.on_sale_at, c.sale_ends_at
            FROM waiting_rooms w JOIN concerts c ON c.id = w.concert_id
            """,
            logger: logger
        )
        for (concert, mark, opens, onSale, ends) in try rows.map({ try $0.decode((Int64, Int64, Date?, Date?, Date?).self) }) {
            if let concert = ConcertID(concert) { rooms[concert] = Room(admittedThrough: mark, window: SaleWindow(unchecked: opens, onSale, ends)) }
        }
        return rooms
    }

    /// Every concert's `admittedThrough`.
    public func admissionMarks() async throws -> [ConcertID: Int64] {
        var marks: [ConcertID: Int64] = [:]
        let rows = try await client.fetch("SELECT concert_id, admitted_through FROM waiting_rooms", logger: logger)
        for (concert, mark) in try (rows).map({ try $0.decode((Int64, Int64).self) }) {
            if let concert = ConcertID(concert) { marks[concert] = mark }
        }
        return marks
    }

    /// Abandoned tokens still ahead of their concert's admission mark (their holders may poll
    /// again, and must learn the place is gone), at most `limit` of them.
    public func abandonedAhead(limit: Int = 100_000) async throws -> [ConcertID: Set<Int64>] {
        var abandoned: [ConcertID: Set<Int64>] = [:]
        let rows = try await client.fetch(
            """
            SELECT t.concert_id, t.seq FROM waiting_rooms w
            JOIN queue_tokens t ON t.concert_id = w.concert_id AND t.state = 'abandoned' AND t.seq > w.admitted_through
            LIMIT \(limit)
            """,
            logger: logger
        )
        for (concert, seq) in try rows.map({ try $0.decode((Int64, Int64).self) }) {
            if let concert = ConcertID(concert) { abandoned[concert, default: []].insert(seq) }
        }
        return abandoned
    }

    /// Records when waiting tokens were last polled: one statement for the whole batch.
    public func recordLastSeen(_ seen: [(concert: ConcertID, seq: Int64, at: Date)]) async throws {
        guard !seen.isEmpty else { return }
        let concerts = seen.map(\.concert.rawValue)
        let seqs = seen.map(\.seq)
        let times = seen.map(\.at)
        try await client.fetch(
            """
            UPDATE queue_tokens t SET last_seen_at = greatest(t.last_seen_at, v.at)
            FROM unnest(\(concerts)::bigint[], \(seqs)::bigint[], \(times)::timestamptz[]) AS v(concert_id, seq, at)
            WHERE t.concert_id = v.concert_id AND t.seq = v.seq AND t.state = 'waiting'
            """,
            logger: logger
        )
    }

    /// Ends a user's active token (after payment, or on purpose).
    public func expire(concert: ConcertID, seq: Int64) async throws {
        try await client.fetch(
            "UPDATE queue_tokens SET state = 'expired' WHERE concert_id = \(concert.rawValue) AND seq = \(seq) AND state IN ('waiting', 'active')",
            logger: logger
        )
    }

    /// What one admission pass did for one concert.
    public struct Admission: Sendable, Hashable {
        public let concertID: ConcertID
        public let admitted: Int
        public let expired: Int
        public let abandoned: Int
        public let active: Int
        public let waiting: Int
        public let admittedThrough: Int64
    }

    /// One admission pass for every concert (§3): ends active tokens past their lifetime, abandons
    /// waiting tokens not polled for `abandonAfter`, then admits waiting tokens in seq order while
    /// there is capacity and rate budget. One transaction per concert.
    public func admit(policy: WaitingRoom.Policy, activeFor: TimeInterval, abandonAfter: TimeInterval, now: Date) async throws -> [Admission] {
        var concerts: [ConcertID] = []
        let rows = try await client.fetch("SELECT concert_id FROM waiting_rooms ORDER BY concert_id", logger: logger)
        for id in try rows.map({ try $0.decode(Int64.self) }) {
            if let id = ConcertID(id) { concerts.append(id) }
        }
        var admissions: [Admission] = []
        for concert in concerts {
            admissions.append(try await admit(concert: concert, policy: policy, activeFor: activeFor, abandonAfter: abandonAfter, now: now))
        }
        return admissions
    }

    private func admit(
        concert: ConcertID,
        policy: WaitingRoom.Policy,
        activeFor: TimeInterval,
        abandonAfter: TimeInterval,
        now: Date
    ) async throws
        -> Admission
    {
        let id = concert.rawValue
        let logger = logger
        return try await client.withUnwrappedTransaction(logger: logger) { connection in
            var lastAdmission: Date?
            var mark: Int64 = 0
            var policy = policy
            var window = SaleWindow.always
            let room = try await connection.fetch(
                """
                SELECT w.admitted_through, w.last_admission_at, c.capacity, c.admit_per_second, c.queue_opens_at, c.on_sale_at, c.sale_ends_at,
                    w.draw_pending
                FROM waiting_rooms w JOIN concerts c ON c.id = w.concert_id WHERE w.concert_id = \(id) FOR UPDATE OF w
                """,
                logger: logger
            )
            var drawPending = false
            for (through, last, capacity, rate, opens, onSale, ends, pending) in try room.map({
                try $0.decode((Int64, Date?, Int?, Int?, Date?, Date?, Date?, Bool).self)
            }) {
                mark = through
                lastAdmission = last
                if let capacity { policy.capacity = capacity }
                if let rate { policy.admitPerSecond = rate }
                window = SaleWindow(unchecked: opens, onSale, ends)
                drawPending = pending
            }
            // The pre-queue's places are drawn once the sale starts, before anyone is admitted;
            // a token that took a provisional number just as the draw committed gets its place
            // in a later pass, in arrival order.
            if drawPending, let onSaleAt = window.onSaleAt, onSaleAt <= now {
                try await Self.draw(concert: id, onSaleAt: onSaleAt, on: connection, logger: logger)
            } else if !drawPending {
                try await Self.placeLateProvisionalTokens(concert: id, on: connection, logger: logger)
            }
            // Before the sale starts nobody is admitted, and nobody abandoned: early arrivals are
            // told to come back around the start, and have the abandon window from then.
            let mayAbandon = now >= (window.onSaleAt ?? .distantPast).addingTimeInterval(abandonAfter)
            let expired = try await connection.fetch(
                "UPDATE queue_tokens SET state = 'expired' WHERE concert_id = \(id) AND state = 'active' AND expires_at <= \(now) RETURNING seq",
                logger: logger
            ).count
            let abandoned = try await connection.fetch(
                """
                UPDATE queue_tokens SET state = 'abandoned'
                WHERE concert_id = \(id) AND state = 'waiting' AND last_seen_at < \(now.addingTimeInterval(-abandonAfter)) AND \(mayAbandon)
                RETURNING seq
                """,
                logger: logger
            ).count
            var active = 0
            var waiting = 0
            let counts = try await connection.fetch(
                """
                SELECT count(*) FILTER (WHERE state = 'active'), count(*) FILTER (WHERE state = 'waiting')
                FROM queue_tokens WHERE concert_id = \(id) AND state IN ('active', 'waiting')
                """,
                logger: logger
            )
            for (activeCount, waitingCount) in try (counts).map({ try $0.decode((Int, Int).self) }) {
                active = activeCount
                waiting = waitingCount
            }
            let elapsed = lastAdmission.map { now.timeIntervalSince($0) } ?? 1
            let allowed =
                window.admitsNobody(at: now) ? 0 : WaitingRoom.admissions(active: active, waiting: waiting, policy: policy, elapsedSeconds: elapsed)
            var admittedSeqs: [Int64] = []
            if allowed > 0 {
                let rows = try await connection.fetch(
                    """
                    UPDATE queue_tokens SET state = 'active', admitted_at = \(now), expires_at = \(now.addingTimeInterval(activeFor))
                    WHERE concert_id = \(id) AND seq IN (
                        SELECT seq FROM queue_tokens WHERE concert_id = \(id) AND state = 'waiting' ORDER BY seq LIMIT \(allowed)
                    )
                    RETURNING seq
                    """,
                    logger: logger
                )
                for seq in try (rows).map({ try $0.decode(Int64.self) }) { admittedSeqs.append(seq) }
            }
            mark = max(mark, admittedSeqs.max() ?? 0)
            // The rate budget is measured from the last pass that could admit, so an idle room does not bank budget.
            try await connection.fetch(
                "UPDATE waiting_rooms SET admitted_through = \(mark), last_admission_at = \(now) WHERE concert_id = \(id)",
                logger: logger
            )
            return Admission(
                concertID: concert,
                admitted: admittedSeqs.count,
                expired: expired,
                abandoned: abandoned,
                active: active + admittedSeqs.count,
                waiting: waiting - admittedSeqs.count,
                admittedThrough: mark
            )
        }
    }

    // MARK: - The pre-queue draw

    /// Gives every token waiting for the draw its place (`WaitingRoom.draw`, with the system's
    /// cryptographic generator), records each provisional number's place, and ends the pending
    /// draw: from now on tokens are numbered in arrival order. Runs in the admission pass's
    /// transaction, the room's row locked: once per concert, never again.
    static func draw(concert id: Int64, onSaleAt: Date, on connection: PostgresConnection, logger: Logger) async throws {
        let waiting = try await connection.fetch(
            """
            SELECT seq, issued_at < \(onSaleAt) FROM queue_tokens
            WHERE concert_id = \(id) AND seq >= \(WaitingRoom.provisionalSeqBase) ORDER BY seq
            """,
            logger: logger
        )
        var early: [Int64] = []
        var late: [Int64] = []
        for (seq, isEarly) in try waiting.map({ try $0.decode((Int64, Bool).self) }) {
            if isEarly { early.append(seq) } else { late.append(seq) }
        }
        var base: Int64 = 0
        let highest = try await connection.fetch(
            """
            SELECT greatest(coalesce(max(t.seq), 0), w.admitted_through) FROM waiting_rooms w
            LEFT JOIN queue_tokens t ON t.concert_id = w.concert_id AND t.seq < \(WaitingRoom.provisionalSeqBase)
            WHERE w.concert_id = \(id) GROUP BY w.admitted_through
            """,
            logger: logger
        )
        for value in try highest.map({ try $0.decode(Int64.self) }) { base = value }
        var generator = SystemRandomNumberGenerator()
        try await place(WaitingRoom.draw(early: early, late: late, after: base, using: &generator), concert: id, on: connection, logger: logger)
        try await connection.fetch("UPDATE waiting_rooms SET draw_pending = false, drawn_at = now() WHERE concert_id = \(id)", logger: logger)
    }

    /// Tokens that took a provisional number while the draw committed: places from the concert's
    /// sequence, in arrival order.
    static func placeLateProvisionalTokens(concert id: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        let late = try await connection.fetch(
            "SELECT seq FROM queue_tokens WHERE concert_id = \(id) AND seq >= \(WaitingRoom.provisionalSeqBase) ORDER BY seq",
            logger: logger
        )
        let seqs = try late.map { try $0.decode(Int64.self) }
        guard !seqs.isEmpty else { return }
        let next = try await connection.fetch(
            "SELECT nextval(format('queue_seq_%s', \(id)::bigint)::regclass) FROM generate_series(1, \(seqs.count))",
            logger: logger
        )
        let places = try next.map { try $0.decode(Int64.self) }.sorted()
        try await place(Array(zip(seqs, places).map { (provisional: $0, place: $1) }), concert: id, on: connection, logger: logger)
    }

    private static func place(
        _ drawn: [(provisional: Int64, place: Int64)],
        concert id: Int64,
        on connection: PostgresConnection,
        logger: Logger
    )
        async throws
    {
        guard !drawn.isEmpty else { return }
        let provisional = drawn.map(\.provisional)
        let places = drawn.map(\.place)
        // Provisional numbers and places never overlap, so the key never collides mid-statement.
        try await connection.fetch(
            """
            UPDATE queue_tokens t SET seq = d.place
            FROM unnest(\(provisional)::bigint[], \(places)::bigint[]) AS d(provisional, place)
            WHERE t.concert_id = \(id) AND t.seq = d.provisional
            """,
            logger: logger
        )
        try await connection.fetch(
            """
            INSERT INTO queue_draws (concert_id, provisional, seq)
            SELECT \(id), d.provisional, d.place FROM unnest(\(provisional)::bigint[], \(places)::bigint[]) AS d(provisional, place)
            """,
            logger: logger
        )
    }

    /// A provisional number and the place it was given.
    public struct Placement: Sendable, Hashable {
        public let id: Int64
        public let concertID: ConcertID
        public let provisional: Int64
        public let seq: Int64
    }

    /// Placements recorded after `id` (the last one a caller has), oldest first, at most `limit`.
    public func placements(after id: Int64, limit: Int = 100_000) async throws -> [Placement] {
        let rows = try await client.fetch(
            "SELECT id, concert_id, provisional, seq FROM queue_draws WHERE id > \(id) ORDER BY id LIMIT \(limit)",
            logger: logger
        )
        return try rows.compactMap { row in
            let (id, concert, provisional, seq) = try row.decode((Int64, Int64, Int64, Int64).self)
            return ConcertID(concert).map { Placement(id: id, concertID: $0, provisional: provisional, seq: seq) }
        }
    }
}
