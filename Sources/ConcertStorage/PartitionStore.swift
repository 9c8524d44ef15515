public import ConcertDomain
public import Foundation
public import Logging
public import PostgresNIO

/// The partition worker's SQL. Every function runs on the connection of the worker's batch
/// transaction, so a batch's effects and outcomes commit together or not at all.
public struct PartitionStore: Sendable {
    public let connection: PostgresConnection
    let logger: Logger

    public init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// A schedule's seat map and its row id.
    public struct LoadedSchedule: Sendable {
        public let id: Int64
        public var seats: SeatMap
    }

    /// Which of `ids` already have an outcome (a redelivered command is acknowledged without a second effect).
    public func completed(_ ids: [UUID]) async throws -> Set<UUID> {
        var done = Set<UUID>()
        let rows = try await connection.fetch("SELECT id FROM commands WHERE id = ANY(\(ids)) AND status <> 'pending'", logger: logger)
        for id in try (rows).map({ try $0.decode(UUID.self) }) { done.insert(id) }
        return done
    }

    /// Loads a schedule's seats and live (held or paid) reservations, or `nil` when it does not exist.
    public func load(_ schedule: ScheduleKey) async throws -> LoadedSchedule? {
        var scheduleID: Int64?
        let found = try await connection.fetch(
            "SELECT id FROM schedules WHERE concert_id = \(schedule.concertID.rawValue) AND date = \(schedule.date.description)::date",
            logger: logger
        )
        for id in try (found).map({ try $0.decode(Int64.self) }) { scheduleID = id }
        guard let scheduleID else { return nil }

        var seats: [SeatMap.Seat] = []
        let seatRows = try await connection.fetch(
            "SELECT number, price, reservation_id FROM seats WHERE schedule_id = \(scheduleID)",
            logger: logger
        )
        for (number, price, reservation) in try (seatRows).map({ try $0.decode((Int, Int64, UUID?).self) }) {
            guard let number = SeatNumber(number) else { continue }
            seats.append(SeatMap.Seat(number: number, price: Won(price), reservationID: reservation))
        }
        var reservations: [Reservation] = []
        let reservationRows = try await connection.fetch(
            """
            SELECT id, seat_number, user_id, price, status, held_until FROM reservations
            WHERE schedule_id = \(scheduleID) AND status IN ('held', 'paid')
            """,
            logger: logger
        )
        for (id, seat, user, price, status, heldUntil) in try (reservationRows).map({ try $0.decode((UUID, Int, String, Int64, String, Date).self) }) {
            guard let seat = SeatNumber(seat), let user = UserID(user), let status = Reservation.Status(rawValue: status) else { continue }
            reservations.append(
                Reservation(id: id, schedule: schedule, seat: seat, userID: user, price: Won(price), status: status, heldUntil: heldUntil)
            )
        }
        return LoadedSchedule(id: scheduleID, seats: SeatMap(schedule: schedule, seats: seats, reservations: reservations))
    }

    /// The stored status and owner of a reservation the seat map no longer holds (expired ones).
    public func reservationStatus(_ id: UUID) async throws -> (status: Reservation.Status, user: UserID)? {
        let rows = try await connection.fetch("SELECT status, user_id FROM reservations WHERE id = \(id)", logger: logger)
        for (status, user) in try (rows).map({ try $0.decode((String, String).self) }) {
            if let status = Reservation.Status(rawValue: status), let user = UserID(user) { return (status, user) }
        }
        return nil
    }

    /// Persists a new hold (and the lapsed hold it replaced).
    public func recordHold(_ hold: SeatMap.Hold, scheduleID: Int64) async throws {
        if let lapsed = hold.expired { try await recordExpiry(lapsed, scheduleID: scheduleID, releaseSeat: false) }
        let reservation = hold.reservation
        try await connection.fetch(
            """
            INSERT INTO reservations (id, schedule_id, seat_number, user_id, price, status, held_until)
            VALUES (\(reservation.id), \(scheduleID), \(reservation.seat.rawValue), \(reservation.userID.rawValue),
                    \(reservation.price.amount), 'held', \(reservation.heldUntil))
            """,
            logger: logger
        )
        try await connection.fetch(
            """
            UPDATE seats SET state = 'held', holder = \(reservation.userID.rawValue), reservation_id = \(reservation.id),
                hold_deadline = \(reservation.heldUntil)
            WHERE schedule_id = \(scheduleID) AND number = \(reservation.seat.rawValue)
            """,
            logger: logger
        )
    }

    /// Persists an expired hold; the seat is released unless another reservation took it since.
    public func recordExpiry(_ reservation: Reservation, scheduleID: Int64, releaseSeat: Bool = true) async throws {
        try await connection.fetch(
            "UPDATE reservations SET status = 'expired', updated_at = now() WHERE id = \(reservation.id) AND status = 'held'",
            logger: logger
        )
        if releaseSeat {
            try await connection.fetch(
                """
                UPDATE seats SET state = 'free', holder = NULL, reservation_id = NULL, hold_deadline = NULL
                WHERE schedule_id = \(scheduleID) AND number = \(reservation.seat.rawValue) AND reservation_id = \(reservation.id)
                """,
                logger: logger
            )
        }
    }

    /// Debits the wallet if it covers `amount` (one conditional statement) and writes the ledger entry;
    /// `nil` when the balance is too low (nothing changed).
    public func debit(_ user: UserID, amount: Won, commandID: UUID) async throws -> Won? {
        var balance: Int64?
        let rows = try await connection.fetch(
            """
            UPDATE wallets SET balance = balance - \(amount.amount), updated_at = now()
            WHERE user_id = \(user.rawValue) AND balance >= \(amount.amount)
            RETURNING balance
            """,
            logger: logger
        )
        for value in try (rows).map({ try $0.decode(Int64.self) }) { balance = value }
        guard let balance else { return nil }
        if amount.amount > 0 {
            try await connection.fetch(
                """
                INSERT INTO wallet_ledger (user_id, amount, balance_after, kind, command_id)
                VALUES (\(user.rawValue), \(-amount.amount), \(balance), 'payment', \(commandID))
                """,
                logger: logger
            )
        }
        return Won(balance)
    }

    /// Persists a payment: the seat sold, the reservation paid, the receipt, the user's queue token ended.
    public func recordPayment(_ receipt: PaymentReceipt, reservation: Reservation, scheduleID: Int64) async throws {
        try await connection.fetch(
            "UPDATE reservations SET status = 'paid', updated_at = now() WHERE id = \(reservation.id)",
            logger: logger
        )
        try await connection.fetch(
            """
            UPDATE seats SET state = 'sold', hold_deadline = NULL
            WHERE schedule_id = \(scheduleID) AND number = \(reservation.seat.rawValue) AND reservation_id = \(reservation.id)
            """,
            logger: logger
        )
        try await connection.fetch(
            """
            INSERT INTO payments (id, reservation_id, user_id, amount, balance_after, paid_at)
            VALUES (\(receipt.paymentId), \(reservation.id), \(reservation.userID.rawValue), \(receipt.amount.amount),
                    \(receipt.balanceAfter.amount), \(receipt.paidAt))
            """,
            logger: logger
        )
        try await connection.fetch(
            """
            UPDATE queue_tokens SET state = 'expired'
            WHERE concert_id = \(reservation.schedule.concertID.rawValue) AND user_id = \(reservation.userID.rawValue)
              AND state IN ('waiting', 'active')
            """,
            logger: logger
        )
    }

    /// Records a command's outcome (inserting the row for commands the API never saw, like `ExpireHold`).
    public func recordOutcome(_ envelope: CommandEnvelope, result: String?, failure: FailureCode?) async throws {
        let status = failure == nil ? "succeeded" : "failed"
        let error = failure.map { #"{"code":"\#($0.rawValue)"}"# }
        try await connection.fetch(
            """
            INSERT INTO commands (id, type, user_id, partition_key, status, result, error, submitted_at, completed_at)
            VALUES (\(envelope.id), \(envelope.command.type.rawValue), \(envelope.userId.rawValue), \(envelope.partitionKey),
                    \(status), \(result)::jsonb, \(error)::jsonb, \(envelope.submittedAt), now())
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, result = excluded.result, error = excluded.error,
                completed_at = excluded.completed_at
            WHERE commands.status = 'pending'
            """,
            logger: logger
        )
    }
}

extension PSQLError {
    /// True when the database could not be reached or went away (retry later), as opposed to a
    /// statement the database refused.
    public var isUnavailability: Bool {
        guard let state = serverInfo?[.sqlState] else { return true }
        return state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300"
    }
}
