public import ConcertDomain
public import Foundation
public import Logging
public import PostgresNIO

/// The partition worker's SQL: set-based, so that a batch costs a fixed handful of statements
/// whatever its size. Every function runs on the connection of the worker's batch transaction,
/// so a batch's effects and outcomes commit together or not at all.
public struct PartitionStore: Sendable {
    public let connection: PostgresConnection
    let logger: Logger

    public init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// Which of `ids` already have an outcome, and what it is (a redelivered command is
    /// acknowledged without a second effect, and answered as it was the first time).
    public func completed(_ ids: [UUID]) async throws -> [UUID: StoredOutcome] {
        var outcomes: [UUID: StoredOutcome] = [:]
        for (id, code, result) in try await connection.run(Completed(ids: ids), logger: logger) {
            outcomes[id] = StoredOutcome(errorCode: code, resultJSON: result)
        }
        return outcomes
    }

    /// The outcome a command has in storage.
    public struct StoredOutcome: Sendable, Hashable {
        /// The failure's code, or `nil` for a success.
        public let errorCode: String?
        /// The result JSON of a success that has one.
        public let resultJSON: String?

        public init(errorCode: String?, resultJSON: String?) {
            self.errorCode = errorCode
            self.resultJSON = resultJSON
        }
    }

    /// Loads the seat maps (seats and live reservations) of `keys` with four statements (schedules, seats, rows, reservations), and the
    /// schedules' row ids; a key missing from the answer has no schedule.
    public func loadSchedules(_ keys: [ScheduleKey]) async throws -> [ScheduleKey: (id: Int64, seats: SeatMap)] {
        guard !keys.isEmpty else { return [:] }
        var ids: [Int64: ScheduleKey] = [:]
        var cancelled: Set<Int64> = []
        let found = try await connection.fetch(
            """
            SELECT s.id, s.concert_id, to_char(s.date, 'YYYY-MM-DD'), s.cancelled_at IS NOT NULL FROM schedules s
            JOIN unnest(\(keys.map(\.concertID.rawValue))::bigint[], \(keys.map(\.date.description))::date[]) AS k(concert_id, date)
              ON s.concert_id = k.concert_id AND s.date = k.date
            """,
            logger: logger
        )
        for (id, concert, date, isCancelled) in try found.map({ try $0.decode((Int64, Int64, String, Bool).self) }) {
            if let concert = ConcertID(concert), let date = ScheduleDate(date) { ids[id] = ScheduleKey(concertID: concert, date: date) }
            if isCancelled { cancelled.insert(id) }
        }
        guard !ids.isEmpty else { return [:] }
        let scheduleIDs = Array(ids.keys)
        // A schedule's seats as one row of arrays (the aggregates of one pass see the rows in the
        // same order): a row per seat cost PostgreSQL and PostgresNIO ~2 µs each, a worker taking
        // over 32 schedules of 10 000 seats half a second of CPU.
        var seats: [Int64: [SeatMap.Seat]] = [:]
        let seatRows = try await connection.fetch(
            """
            SELECT schedule_id, array_agg(number), array_agg(price),
                coalesce(array_agg(number) FILTER (WHERE reservation_id IS NOT NULL), '{}'),
                coalesce(array_agg(reservation_id) FILTER (WHERE reservation_id IS NOT NULL), '{}')
            FROM seats WHERE schedule_id = ANY(\(scheduleIDs)) GROUP BY schedule_id
            """,
            logger: logger
        )
        for row in seatRows {
            let (schedule, numbers, prices, reservedNumbers, reservationIDs) = try row.decode((Int64, [Int32], [Int64], [Int32], [UUID]).self)
            guard numbers.count == prices.count, reservedNumbers.count == reservationIDs.count else {
                throw StorageError(message: "schedule \(schedule)'s seat arrays differ in length")
            }
            let reserved = Dictionary(zip(reservedNumbers, reservationIDs)) { first, _ in first }
            var scheduleSeats: [SeatMap.Seat] = []
            scheduleSeats.reserveCapacity(numbers.count)
            for (number, price) in zip(numbers, prices) {
                guard let seat = SeatNumber(Int(number)) else { continue }
                scheduleSeats.append(SeatMap.Seat(number: seat, price: Won(price), reservationID: reserved[number]))
            }
            seats[schedule] = scheduleSeats
        }
        // The rows as the seat map laid them out (a date without one: a row of every seat).
        var rows: [Int64: [SeatMap.Row]] = [:]
        let rowRows = try await connection.fetch(
            """
            SELECT schedule_id, section, row_label, min(number), count(*) FROM seats
            WHERE schedule_id = ANY(\(scheduleIDs)) GROUP BY schedule_id, section, row_label ORDER BY schedule_id, min(number)
            """,
            logger: logger
        )
        for row in rowRows {
            let (schedule, section, label, first, count) = try row.decode((Int64, String?, String?, Int, Int).self)
            guard let first = SeatNumber(first) else { continue }
            rows[schedule, default: []].append(SeatMap.Row(section: section, label: label, first: first, count: count))
        }
        var reservations: [Int64: [Reservation]] = [:]
        let reservationRows = try await connection.fetch(
            """
            SELECT schedule_id, id, coalesce(seat_numbers, ARRAY[seat_number]), coalesce(seat_prices, ARRAY[price]), user_id, status, held_until
            FROM reservations WHERE schedule_id = ANY(\(scheduleIDs)) AND status IN ('held', 'paid')
            """,
            logger: logger
        )
        for row in reservationRows {
            let (schedule, id, numbers, prices, user, status, heldUntil) = try row.decode((Int64, UUID, [Int32], [Int64], String, String, Date).self)
            guard let key = ids[schedule], let user = UserID(user), let status = Reservation.Status(rawValue: status), numbers.count == prices.count
            else {
                continue
            }
            let seats = zip(numbers, prices).compactMap { number, price in
                SeatNumber(Int(number)).map { Reservation.Seat(number: $0, price: Won(price)) }
            }
            reservations[schedule, default: []].append(
                Reservation(id: id, schedule: key, seats: seats, userID: user, status: status, heldUntil: heldUntil)
            )
        }
        var loaded: [ScheduleKey: (id: Int64, seats: SeatMap)] = [:]
        for (id, key) in ids {
            let map = SeatMap(
                schedule: key,
                seats: seats[id] ?? [],
                reservations: reservations[id] ?? [],
                rows: rows[id] ?? [],
                cancelled: cancelled.contains(id)
            )
            loaded[key] = (id, map)
        }
        return loaded
    }

    /// What storage says of reservations memory does not hold live (one statement).
    public func reservationFacts(_ ids: [UUID]) async throws -> [PartitionState.ReservationFacts] {
        guard !ids.isEmpty else { return [] }
        return try await connection.run(Facts(ids: ids), logger: logger).compactMap { id, user, status in
            guard let user = UserID(user), let status = Reservation.Status(rawValue: status) else { return nil }
            return PartitionState.ReservationFacts(id: id, user: user, status: status)
        }
    }

    /// Debits wallets that cover their amount and writes the ledger entries, in one statement.
    /// Each user appears at most once (the state machine never has two debits of one user in
    /// flight). A debit that is not in the answer found too low a balance (or no wallet).
    public func debit(_ debits: [PartitionState.Debit]) async throws -> [UUID: PartitionState.DebitResult] {
        guard !debits.isEmpty else { return [:] }
        var results = Dictionary(uniqueKeysWithValues: debits.map { ($0.commandID, PartitionState.DebitResult.insufficient) })
        for (command, balance) in try await connection.run(Debits(debits: debits), logger: logger) {
            results[command] = .debited(balanceAfter: Won(balance))
        }
        return results
    }

    /// A seat's row as it must be after the batch.
    public struct SeatRow: Sendable {
        public let scheduleID: Int64
        public let number: SeatNumber
        /// The live reservation on it (held or paid), if any.
        public let reservation: Reservation?
        /// The reservation the row must hold before the write (what memory saw before the batch);
        /// a row that holds another is a second writer's, and the write is refused.
        public let expected: UUID?

        public init(scheduleID: Int64, number: SeatNumber, reservation: Reservation?, expected: UUID?) {
            self.scheduleID = scheduleID
            self.number = number
            self.reservation = reservation
            self.expected = expected
        }
    }

    /// Writes a batch: status changes of older reservations first (a lapsed hold must stop being
    /// live before a new hold takes its seat, and PostgreSQL does not order the parts of one
    /// statement), then refunds' credits, then new reservations, seats, payments, refunds, ended
    /// tokens, cancelled dates and every outcome in one statement (a batch of holds and outcomes
    /// only: the smaller `WriteHolds`). Outcomes get `completed_at` = the moment their statement was written (the same for a whole batch).
    public func write(_ writes: PartitionWrites, seats: [SeatRow], scheduleIDs: [ScheduleKey: Int64]) async throws {
        for map in writes.seatMaps { try await setSeats(map) }
        for map in writes.prices { try await setPrices(map) }
        if !writes.statusChanges.isEmpty {
            try await connection.run(StatusChanges(changes: writes.statusChanges.map { ($0.key, $0.value.from, $0.value.to) }), logger: logger)
        }
        if !writes.refunds.isEmpty { try await connection.run(Credits(refunds: writes.refunds), logger: logger) }
        if WriteHolds.covers(writes) {
            try await connection.run(WriteHolds(writes: writes, seats: seats, scheduleIDs: scheduleIDs), logger: logger)
        } else {
            try await connection.run(Write(writes: writes, seats: seats, scheduleIDs: scheduleIDs), logger: logger)
        }
    }

    /// Gives a date its seats, in the batch's transaction: the schedule created if new; refused
    /// as stale if any of its reservations is held or paid (memory saw none: another writer made
    /// one); expired reservations on seats the new map drops are deleted with those seats; every
    /// other seat is updated in place or inserted, free, with its price, section, row and label.
    func setSeats(_ map: Command.SetSeatMap) async throws {
        let concert = map.concertId.rawValue
        let date = map.date.description
        try await connection.fetch(
            "INSERT INTO schedules (concert_id, date) VALUES (\(concert), \(date)::date) ON CONFLICT (concert_id, date) DO NOTHING",
            logger: logger
        )
        try await connection.fetch(
            """
            SELECT concert_refuse_stale_write('a reservation of the date is held or paid')
            FROM reservations r JOIN schedules s ON s.id = r.schedule_id
            WHERE s.concert_id = \(concert) AND s.date = \(date)::date AND r.status IN ('held', 'paid')
            LIMIT 1
            """,
            logger: logger
        )
        let count = map.seatCount
        try await connection.fetch(
            """
            DELETE FROM reservations r USING schedules s
            WHERE s.id = r.schedule_id AND s.concert_id = \(concert) AND s.date = \(date)::date AND r.seat_number > \(count)
            """,
            logger: logger
        )
        try await connection.fetch(
            """
            DELETE FROM seats USING schedules s
            WHERE s.id = seats.schedule_id AND s.concert_id = \(concert) AND s.date = \(date)::date AND seats.number > \(count)
            """,
            logger: logger
        )
        let rows = map.placedRows
        try await connection.fetch(
            """
            INSERT INTO seats (schedule_id, number, price, section, row_label, seat_label)
            SELECT s.id, r.first + g - 1, r.price, r.section, r.label, g::text
            FROM schedules s
            CROSS JOIN unnest(\(rows.map(\.section))::text[], \(rows.map(\.label))::text[], \(rows.map { Int64($0.firstSeat) })::bigint[],
                \(rows.map { Int64($0.seats) })::bigint[], \(rows.map(\.price.amount))::bigint[]) AS r(section, label, first, seats, price)
            CROSS JOIN LATERAL generate_series(1, r.seats) AS g
            WHERE s.concert_id = \(concert) AND s.date = \(date)::date
            ON CONFLICT (schedule_id, number) DO UPDATE SET price = EXCLUDED.price, section = EXCLUDED.section,
                row_label = EXCLUDED.row_label, seat_label = EXCLUDED.seat_label,
                state = 'free', holder = NULL, reservation_id = NULL, hold_deadline = NULL
            """,
            logger: logger
        )
    }

    /// Gives a date's seats the prices of a map of the same layout, in the batch's transaction
    /// (reservations keep the price they were made at).
    func setPrices(_ map: Command.SetSeatMap) async throws {
        let rows = map.placedRows
        try await connection.fetch(
            """
            UPDATE seats SET price = r.price
            FROM schedules s, unnest(\(rows.map { Int64($0.firstSeat) })::bigint[], \(rows.map { Int64($0.seats) })::bigint[],
                \(rows.map(\.price.amount))::bigint[]) AS r(first, seats, price)
            WHERE s.concert_id = \(map.concertId.rawValue) AND s.date = \(map.date.description)::date AND seats.schedule_id = s.id
              AND seats.number BETWEEN r.first AND r.first + r.seats - 1 AND seats.price <> r.price
            """,
            logger: logger
        )
    }

    /// The SQLSTATE of a refused stale write (migration 8's `concert_refuse_stale_write`).
    public static let staleWriteState = "CR001"

    static func state(of reservation: Reservation?) -> String {
        switch reservation?.status {
        case nil, .expired?, .released?, .refunded?: "free"
        case .held?: "held"
        case .paid?: "sold"
        }
    }
}

extension PSQLError {
    /// The SQLSTATE the server answered with, if it answered.
    public var sqlState: String? { serverInfo?[.sqlState] }

    /// True when the database could not be reached or went away (retry later), as opposed to a
    /// statement the database refused.
    public var isUnavailability: Bool {
        guard let state = sqlState else { return true }
        return state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300"
    }

    /// True when the server refused a write because it is read-only (`25006`): a standby, or a
    /// primary demoted in a failover. The connection is of no more use for writes.
    public var isReadOnlyServer: Bool { sqlState == "25006" }

    /// True for every failure that says nothing about the statement and may pass: the database
    /// unreachable, short of resources (class 53: out of memory, disk full, too many connections),
    /// read-only after a failover (25006), a cancelled statement (57014), a serialization failure
    /// or deadlock (40001, 40P01). Retry these with back-off, like an outage.
    public var isTransient: Bool {
        guard let state = sqlState else { return true }
        return isUnavailability || state.hasPrefix("53") || ["25006", "57014", "40001", "40P01"].contains(state)
    }

    /// True when a partition statement refused itself because a row was not in the state it
    /// expected (`PartitionStore.staleWriteState`): another writer changed the partition.
    public var isStaleWrite: Bool { sqlState == PartitionStore.staleWriteState }

    /// True for a violated constraint (SQLSTATE class 23): storage disagrees with what memory thought.
    public var isConstraintViolation: Bool {
        serverInfo?[.sqlState]?.hasPrefix("23") ?? false
    }
}
