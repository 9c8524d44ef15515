import ConcertDomain
import Foundation
import PostgresNIO

// The waiting room's statements that run for every request under load, prepared once per connection.

extension WaitingRoomStore {
    /// Issues tokens to (concert, user) pairs: the live token of each, or a new one; pairs of
    /// concerts without a waiting room come back as `unknown`.
    ///
    /// Each pair's live token is looked up on its own (`LATERAL … LIMIT 1`, which the planner
    /// cannot flatten into a join): as a join, the generic plan a connection settles on while the
    /// table is still small scans every live token of the concert per batch, ever more as the
    /// queue grows (measured: 10.7 ms a batch of 30 at 50 000 waiting, 0.65 ms this way).
    /// While the concert's pre-queue waits for its draw, a new token's number is provisional.
    struct IssueTokens: PostgresPreparedStatement {
        static let sql = """
            WITH input AS (
                SELECT i.concert_id, i.user_id, i.n, w.draw_pending
                FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS i(concert_id, user_id, n)
                JOIN waiting_rooms w ON w.concert_id = i.concert_id
            ), existing AS (
                SELECT t.concert_id, t.user_id, t.seq, t.state, t.issued_at, t.expires_at
                FROM input i CROSS JOIN LATERAL (
                    SELECT * FROM queue_tokens t
                    WHERE t.concert_id = i.concert_id AND t.user_id = i.user_id AND t.state IN ('waiting', 'active')
                    LIMIT 1
                ) t
            ), inserted AS (
                INSERT INTO queue_tokens (concert_id, seq, user_id, state)
                SELECT i.concert_id,
                    nextval(format('queue_seq_%s', i.concert_id)::regclass) + CASE WHEN i.draw_pending THEN \(WaitingRoom.provisionalSeqBase) ELSE 0 END,
                    i.user_id, 'waiting'
                FROM input i
                WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.concert_id = i.concert_id AND e.user_id = i.user_id)
                ORDER BY i.n
                ON CONFLICT DO NOTHING
                RETURNING concert_id, user_id, seq, state, issued_at, expires_at
            )
            SELECT concert_id, user_id, seq, state, issued_at, expires_at, false FROM existing
            UNION ALL
            SELECT concert_id, user_id, seq, state, issued_at, expires_at, true FROM inserted
            UNION ALL
            SELECT i.concert_id, i.user_id, 0, 'unknown', now(), NULL, false
            FROM unnest($1::bigint[], $2::text[]) AS i(concert_id, user_id)
            WHERE NOT EXISTS (SELECT 1 FROM waiting_rooms w WHERE w.concert_id = i.concert_id)
            """
        typealias Row = (Int64, String, Int64, String, Date, Date?, Bool)
        let concerts: [Int64]
        let users: [String]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(concerts)
            bindings.append(users)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Several tokens' rows, each looked up on its own by its key (`LATERAL … LIMIT 1`: as a
    /// join, a generic plan made while the table was small could scan the table per batch).
    struct TokenRows: PostgresPreparedStatement {
        static let sql = """
            SELECT k.concert_id, k.seq, t.user_id, t.state, t.issued_at, t.expires_at
            FROM unnest($1::bigint[], $2::bigint[]) AS k(concert_id, seq)
            CROSS JOIN LATERAL (
                SELECT user_id, state, issued_at, expires_at FROM queue_tokens q
                WHERE q.concert_id = k.concert_id AND q.seq = k.seq LIMIT 1
            ) t
            """
        typealias Row = (Int64, Int64, String, String, Date, Date?)
        let concerts: [Int64]
        let seqs: [Int64]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(concerts)
            bindings.append(seqs)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// The rows of a concert's tokens past one admission mark up to another, newest first: the
    /// tokens one advance of the mark admitted (a primary-key range).
    struct AdmittedTokenRows: PostgresPreparedStatement {
        static let sql = """
            SELECT seq, user_id, state, issued_at, expires_at FROM queue_tokens
            WHERE concert_id = $1 AND seq > $2 AND seq <= $3 AND state <> 'waiting'
            ORDER BY seq DESC LIMIT $4
            """
        typealias Row = (Int64, String, String, Date, Date?)
        let concert: Int64
        let after: Int64
        let through: Int64
        let limit: Int64

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(concert)
            bindings.append(after)
            bindings.append(through)
            bindings.append(limit)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// One token's row.
    struct TokenRow: PostgresPreparedStatement {
        static let sql = "SELECT user_id, state, issued_at, expires_at FROM queue_tokens WHERE concert_id = $1 AND seq = $2"
        typealias Row = (String, String, Date, Date?)
        let concert: Int64
        let seq: Int64

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(concert)
            bindings.append(seq)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }
}
