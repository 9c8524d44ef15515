import ConcertDomain
import ConcertWire
import Foundation
import PostgresNIO

// The partition worker's statements, prepared once per connection: a batch binds and executes
// them, the server parses and plans them once.

extension PartitionStore {
    /// Which of the ids already have an outcome, and what it is.
    struct Completed: PostgresPreparedStatement {
        static let sql = "SELECT id, error_code, result FROM commands WHERE id = ANY($1) AND status <> 'pending'"
        typealias Row = (UUID, String?, String?)
        let ids: [UUID]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(ids)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Owner and status of reservations.
    struct Facts: PostgresPreparedStatement {
        static let sql = "SELECT id, user_id, status FROM reservations WHERE id = ANY($1)"
        typealias Row = (UUID, String, String)
        let ids: [UUID]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(ids)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Conditional wallet debits with their ledger entries; answers the debited ones with the balance after.
    struct Debits: PostgresPreparedStatement {
        static let sql = """
            WITH input AS (
                SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS i(command_id, user_id, amount)
            ), debited AS (
                UPDATE wallets w SET balance = w.balance - i.amount, updated_at = now()
                FROM input i WHERE w.user_id = i.user_id AND w.balance >= i.amount
                RETURNING i.command_id, w.user_id, i.amount, w.balance
            ), ledger AS (
                INSERT INTO wallet_ledger (user_id, amount, balance_after, kind, command_id)
                SELECT user_id, -amount, balance, 'payment', command_id FROM debited WHERE amount > 0
            )
            SELECT command_id, balance FROM debited
            """
        typealias Row = (UUID, Int64)
        let debits: [PartitionState.Debit]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(debits.map(\.commandID))
            bindings.append(debits.map(\.user.rawValue))
            bindings.append(debits.map(\.amount.amount))
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// New statuses of reservations made before the batch. Each states the status it leaves
    /// (held or paid); one that is not in it refuses the whole statement.
    struct StatusChanges: PostgresPreparedStatement {
        static let sql = """
            WITH changed AS (
                UPDATE reservations r SET status = v.status, updated_at = now()
                FROM unnest($1::uuid[], $2::text[], $3::text[]) AS v(id, status, expected)
                WHERE r.id = v.id AND r.status = v.expected
                RETURNING 1
            )
            SELECT CASE WHEN (SELECT count(*) FROM changed) = cardinality($1::uuid[]) THEN 0
                ELSE concert_refuse_stale_write('a reservation is not in the status expected') END
            """
        typealias Row = Int64
        let changes: [(id: UUID, from: Reservation.Status, to: Reservation.Status)]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(changes.map(\.id))
            bindings.append(changes.map(\.to.rawValue))
            bindings.append(changes.map(\.from.rawValue))
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }

    /// Refunds' credits: each wallet credited the sum of its refunds in one update, and a ledger
    /// entry per refunded reservation with the balance after it (in the batch's order). A wallet
    /// missing refuses the statement; a reservation refunded before breaks the ledger's
    /// one-refund-per-reservation index (a conflict: decided again from storage).
    struct Credits: PostgresPreparedStatement {
        static let sql = """
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::uuid[]) WITH ORDINALITY AS i(user_id, amount, reservation_id, refund_id, n)
            ), totals AS (
                SELECT user_id, sum(amount)::bigint AS total FROM input GROUP BY user_id
            ), credited AS (
                UPDATE wallets w SET balance = w.balance + t.total, updated_at = now()
                FROM totals t WHERE w.user_id = t.user_id
                RETURNING w.user_id, w.balance
            ), entries AS (
                INSERT INTO wallet_ledger (user_id, amount, balance_after, kind, command_id, reservation_id)
                SELECT i.user_id, i.amount,
                    c.balance - coalesce(sum(i.amount) OVER (PARTITION BY i.user_id ORDER BY i.n ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0)::bigint,
                    'refund', i.refund_id, i.reservation_id
                FROM input i JOIN credited c ON c.user_id = i.user_id
                RETURNING 1
            )
            SELECT CASE WHEN (SELECT count(*) FROM entries) = cardinality($1::text[]) THEN 0
                ELSE concert_refuse_stale_write('a refunded wallet is missing') END
            """
        typealias Row = Int64
        let refunds: [RefundReceipt]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(refunds.map(\.userId.rawValue))
            bindings.append(refunds.map(\.amount.amount))
            bindings.append(refunds.map(\.reservationId))
            bindings.append(refunds.map(\.refundId))
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }

    /// What most batches write, in one statement: new reservations, their seats and every
    /// outcome. A batch that also pays, refunds, cancels a date or ends a token takes `Write`;
    /// this one leaves out those parts, which PostgreSQL would otherwise open (tables, indexes,
    /// locks) on every execution even when they are empty.
    struct WriteHolds: PostgresPreparedStatement {
        static let sql = "WITH \(WriteParts.common)\n\(WriteParts.answer())"
        typealias Row = Int64
        let writes: PartitionWrites
        let seats: [SeatRow]
        let scheduleIDs: [ScheduleKey: Int64]

        /// True when `writes` has nothing but new reservations, seats and outcomes.
        static func covers(_ writes: PartitionWrites) -> Bool {
            writes.payments.isEmpty && writes.refunds.isEmpty && writes.endedTokens.isEmpty && writes.cancelledSchedules.isEmpty
        }

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: WriteParts.commonParameters)
            WriteParts.appendCommon(&bindings, writes: writes, seats: seats, scheduleIDs: scheduleIDs)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }

    /// Everything else a batch writes, in one statement: new reservations, seats, payments,
    /// refunds, cancelled dates, ended tokens and every outcome (`completed_at` = when the statement was written: one batch's
    /// outcomes share it, which is how the console tells a partition's last batch size).
    ///
    /// Every seat row states the occupant it expects (the one memory saw before the batch), and
    /// every outcome a command still pending: when a seat had another occupant or a command was
    /// already answered, a second writer got there first and the statement refuses itself whole.
    struct Write: PostgresPreparedStatement {
        static let sql = """
            WITH \(WriteParts.common), new_payments AS (
                INSERT INTO payments (id, reservation_id, user_id, amount, balance_after, paid_at)
                SELECT * FROM unnest($25::uuid[], $26::uuid[], $27::text[], $28::bigint[], $29::bigint[], $30::timestamptz[])
                RETURNING 1
            ), new_refunds AS (
                INSERT INTO refunds (reservation_id, id, user_id, amount, refunded_at)
                SELECT * FROM unnest($31::uuid[], $32::uuid[], $33::text[], $34::bigint[], $35::timestamptz[])
                RETURNING 1
            ), cancelled AS (
                UPDATE schedules s SET cancelled_at = now() FROM unnest($36::bigint[]) AS v(id)
                WHERE s.id = v.id AND s.cancelled_at IS NULL
                RETURNING 1
            ), ended_tokens AS (
                UPDATE queue_tokens t SET state = 'expired'
                FROM unnest($37::bigint[], $38::text[]) AS v(concert_id, user_id)
                WHERE t.concert_id = v.concert_id AND t.user_id = v.user_id AND t.state IN ('waiting', 'active')
                RETURNING 1
            )
            \(WriteParts.answer(adding: ["new_payments", "new_refunds", "cancelled", "ended_tokens"]))
            """
        typealias Row = Int64
        let writes: PartitionWrites
        let seats: [SeatRow]
        let scheduleIDs: [ScheduleKey: Int64]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 38)
            WriteParts.appendCommon(&bindings, writes: writes, seats: seats, scheduleIDs: scheduleIDs)

            let payments = writes.payments
            bindings.append(payments.map(\.receipt.paymentId))
            bindings.append(payments.map(\.receipt.reservationId))
            bindings.append(payments.map(\.user.rawValue))
            bindings.append(payments.map(\.receipt.amount.amount))
            bindings.append(payments.map(\.receipt.balanceAfter.amount))
            bindings.append(payments.map(\.receipt.paidAt))

            let refunds = writes.refunds
            bindings.append(refunds.map(\.reservationId))
            bindings.append(refunds.map(\.refundId))
            bindings.append(refunds.map(\.userId.rawValue))
            bindings.append(refunds.map(\.amount.amount))
            bindings.append(refunds.map(\.refundedAt))
            bindings.append(writes.cancelledSchedules.map { scheduleIDs[$0] ?? 0 })

            let tokens = writes.endedTokens
            bindings.append(tokens.map(\.concert.rawValue))
            bindings.append(tokens.map(\.user.rawValue))
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }
}

/// The parts both batch writes share: parameters $1–$24, the same in each.
enum WriteParts {
    static let commonParameters = 24

    /// New reservations ($1–$9), seat rows ($10–$16) and outcomes ($17–$24).
    static let common = """
        new_reservations AS (
            INSERT INTO reservations (id, schedule_id, seat_number, seat_numbers, seat_prices, user_id, price, status, held_until)
            SELECT id, schedule_id, seat_number, seats::integer[], prices::bigint[], user_id, price, status, held_until
            FROM unnest($1::uuid[], $2::bigint[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::timestamptz[])
                AS v(id, schedule_id, seat_number, seats, prices, user_id, price, status, held_until)
            RETURNING 1
        ), seat_rows AS (
            UPDATE seats s SET state = v.state, holder = NULLIF(v.holder, ''), reservation_id = NULLIF(v.reservation, '')::uuid,
                hold_deadline = NULLIF(v.deadline, 'epoch'::timestamptz)
            FROM unnest($10::bigint[], $11::integer[], $12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::text[])
                AS v(schedule_id, number, state, holder, reservation, deadline, expected)
            WHERE s.schedule_id = v.schedule_id AND s.number = v.number
                AND s.reservation_id IS NOT DISTINCT FROM NULLIF(v.expected, '')::uuid
            RETURNING 1
        ), outcomes AS (
            INSERT INTO commands (id, type, user_id, partition_key, status, result, error_code, submitted_at, completed_at)
            SELECT id, type, user_id, partition_key, status, NULLIF(result, ''), NULLIF(error_code, ''), submitted_at, statement_timestamp()
            FROM unnest($17::uuid[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::timestamptz[])
                AS v(id, type, user_id, partition_key, status, result, error_code, submitted_at)
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, result = excluded.result, error_code = excluded.error_code,
                completed_at = excluded.completed_at
            WHERE commands.status = 'pending'
            RETURNING 1
        )
        """

    /// The statement's answer: a seat with another occupant, or an outcome already written,
    /// refuses the whole statement; otherwise the rows written by the common parts and `adding`.
    static func answer(adding parts: [String] = []) -> String {
        let counts = (["new_reservations", "seat_rows", "outcomes"] + parts).map { "(SELECT count(*) FROM \($0))" }
        return """
            SELECT CASE
                WHEN (SELECT count(*) FROM seat_rows) <> cardinality($10::bigint[]) THEN concert_refuse_stale_write('a seat has another occupant')
                WHEN (SELECT count(*) FROM outcomes) <> cardinality($17::uuid[]) THEN concert_refuse_stale_write('a command was answered already')
                ELSE \(counts.joined(separator: " + "))
            END
            """
    }

    static func appendCommon(
        _ bindings: inout PostgresBindings,
        writes: PartitionWrites,
        seats: [PartitionStore.SeatRow],
        scheduleIDs: [ScheduleKey: Int64]
    ) {
        let reservations = writes.newReservations
        bindings.append(reservations.map(\.id))
        bindings.append(reservations.map { scheduleIDs[$0.schedule] ?? 0 })
        bindings.append(reservations.map { Int64($0.seats[0].number.rawValue) })
        // Several seats a reservation: PostgreSQL's arrays of arrays must be rectangular, so each as the text of an array.
        bindings.append(reservations.map { "{" + $0.seats.map { String($0.number.rawValue) }.joined(separator: ",") + "}" })
        bindings.append(reservations.map { "{" + $0.seats.map { String($0.price.amount) }.joined(separator: ",") + "}" })
        bindings.append(reservations.map(\.userID.rawValue))
        bindings.append(reservations.map(\.price.amount))
        bindings.append(reservations.map(\.status.rawValue))
        bindings.append(reservations.map(\.heldUntil))

        let never = Date(timeIntervalSince1970: 0)
        bindings.append(seats.map(\.scheduleID))
        bindings.append(seats.map { Int64($0.number.rawValue) })
        bindings.append(seats.map { PartitionStore.state(of: $0.reservation) })
        bindings.append(seats.map { $0.reservation?.userID.rawValue ?? "" })
        bindings.append(seats.map { $0.reservation?.id.lowercasedString ?? "" })
        bindings.append(seats.map { $0.reservation?.status == .held ? $0.reservation!.heldUntil : never })
        bindings.append(seats.map { $0.expected?.lowercasedString ?? "" })

        let outcomes = writes.outcomes
        bindings.append(outcomes.map(\.envelope.id))
        bindings.append(outcomes.map(\.envelope.command.type.rawValue))
        bindings.append(outcomes.map(\.envelope.userId.rawValue))
        bindings.append(outcomes.map(\.envelope.partitionKey))
        bindings.append(outcomes.map { $0.failure == nil ? "succeeded" : "failed" })
        bindings.append(writes.results.map { $0 ?? "" })
        bindings.append(outcomes.map { $0.failure?.rawValue ?? "" })
        bindings.append(outcomes.map(\.envelope.submittedAt))
    }
}
