import ConcertDomain

extension Migration {
    /// Every migration of the schema, oldest first. Never edit one that has shipped: add a new one.
    public static let all: [Migration] = [
        catalogue, wallets, waitingRoom, commandsAndDeadLetters, queueSequences, setBasedWrites, liveHoldsByDeadline, staleWriteRefusal,
        unknownOutcomeBound, consoleSessionRevocations, onSale, preQueueDraw, reservationsBySeat, boxOffice,
    ]

    /// Concerts, their dated schedules, seats, reservations and payments.
    static let catalogue = Migration(
        version: 1,
        name: "concerts, schedules, seats, reservations, payments",
        statements: [
            """
            CREATE TABLE concerts (
                id bigint PRIMARY KEY CHECK (id > 0),
                title text NOT NULL
            )
            """,
            """
            CREATE TABLE schedules (
                id bigserial PRIMARY KEY,
                concert_id bigint NOT NULL REFERENCES concerts (id),
                date date NOT NULL,
                UNIQUE (concert_id, date)
            )
            """,
            // One row per seat: the primary key is what makes "at most one live hold per seat" hold.
            """
            CREATE TABLE seats (
                schedule_id bigint NOT NULL REFERENCES schedules (id),
                number integer NOT NULL CHECK (number > 0),
                price bigint NOT NULL CHECK (price >= 0),
                state text NOT NULL DEFAULT 'free' CHECK (state IN ('free', 'held', 'sold')),
                holder text,
                reservation_id uuid,
                hold_deadline timestamptz,
                PRIMARY KEY (schedule_id, number),
                CHECK ((state = 'free') = (reservation_id IS NULL)),
                CHECK (state <> 'held' OR hold_deadline IS NOT NULL)
            )
            """,
            // Reads of free seats: a hold past its deadline counts as free.
            "CREATE INDEX seats_free ON seats (schedule_id, number) WHERE state <> 'sold'",
            """
            CREATE TABLE reservations (
                id uuid PRIMARY KEY,
                schedule_id bigint NOT NULL,
                seat_number integer NOT NULL,
                user_id text NOT NULL,
                price bigint NOT NULL CHECK (price >= 0),
                status text NOT NULL CHECK (status IN ('held', 'paid', 'expired')),
                held_until timestamptz NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                FOREIGN KEY (schedule_id, seat_number) REFERENCES seats (schedule_id, number)
            )
            """,
            // A seat is sold at most once and has at most one live hold.
            """
            CREATE UNIQUE INDEX reservations_one_live_per_seat
                ON reservations (schedule_id, seat_number) WHERE status IN ('held', 'paid')
            """,
            "CREATE INDEX reservations_by_user ON reservations (user_id, created_at)",
            """
            CREATE TABLE payments (
                id uuid PRIMARY KEY,
                reservation_id uuid NOT NULL UNIQUE REFERENCES reservations (id),
                user_id text NOT NULL,
                amount bigint NOT NULL CHECK (amount >= 0),
                balance_after bigint NOT NULL CHECK (balance_after >= 0),
                paid_at timestamptz NOT NULL
            )
            """,
            "CREATE INDEX payments_by_user ON payments (user_id, paid_at)",
        ]
    )

    /// Prepaid balances and the ledger of every change to them.
    static let wallets = Migration(
        version: 2,
        name: "wallets and their ledger",
        statements: [
            """
            CREATE TABLE wallets (
                user_id text PRIMARY KEY,
                balance bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE wallet_ledger (
                id bigserial PRIMARY KEY,
                user_id text NOT NULL REFERENCES wallets (user_id),
                amount bigint NOT NULL CHECK (amount <> 0),
                balance_after bigint NOT NULL CHECK (balance_after >= 0),
                kind text NOT NULL CHECK (kind IN ('charge', 'payment')),
                idempotency_key text,
                command_id uuid,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            // A retried charge with the same Idempotency-Key, or a redelivered payment, never counts twice.
            "CREATE UNIQUE INDEX wallet_ledger_idempotency ON wallet_ledger (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL",
            "CREATE UNIQUE INDEX wallet_ledger_command ON wallet_ledger (command_id) WHERE command_id IS NOT NULL",
            "CREATE INDEX wallet_ledger_by_user ON wallet_ledger (user_id, id)",
        ]
    )

    /// The per-concert waiting room: tokens in sequence order and the admission high-water mark.
    static let waitingRoom = Migration(
        version: 3,
        name: "waiting room",
        statements: [
            """
            CREATE TABLE waiting_rooms (
                concert_id bigint PRIMARY KEY REFERENCES concerts (id),
                last_seq bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
                admitted_through bigint NOT NULL DEFAULT 0 CHECK (admitted_through >= 0)
            )
            """,
            """
            CREATE TABLE queue_tokens (
                concert_id bigint NOT NULL REFERENCES concerts (id),
                seq bigint NOT NULL CHECK (seq > 0),
                user_id text NOT NULL,
                state text NOT NULL CHECK (state IN ('waiting', 'active', 'expired', 'abandoned')),
                issued_at timestamptz NOT NULL DEFAULT now(),
                admitted_at timestamptz,
                expires_at timestamptz,
                last_seen_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (concert_id, seq)
            )
            """,
            // A user holds at most one live token per concert (re-issue returns it).
            """
            CREATE UNIQUE INDEX queue_tokens_one_live_per_user
                ON queue_tokens (concert_id, user_id) WHERE state IN ('waiting', 'active')
            """,
            // Admission walks waiting tokens in seq order; capacity counts active ones.
            "CREATE INDEX queue_tokens_by_state ON queue_tokens (concert_id, state, seq)",
        ]
    )

    /// Accepted commands and their outcomes; archived dead letters.
    static let commandsAndDeadLetters = Migration(
        version: 4,
        name: "commands and dead letters",
        statements: [
            """
            CREATE TABLE commands (
                id uuid PRIMARY KEY,
                type text NOT NULL,
                user_id text NOT NULL,
                partition_key text NOT NULL,
                status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
                result jsonb,
                error jsonb,
                submitted_at timestamptz NOT NULL,
                completed_at timestamptz
            )
            """,
            "CREATE INDEX commands_pending ON commands (submitted_at) WHERE status = 'pending'",
            """
            CREATE TABLE dead_letters (
                id bigserial PRIMARY KEY,
                message_id text NOT NULL UNIQUE,
                type text,
                reason text NOT NULL,
                exchange text NOT NULL,
                routing_key text NOT NULL,
                body bytea NOT NULL,
                headers jsonb NOT NULL,
                count integer NOT NULL DEFAULT 1 CHECK (count > 0),
                first_seen_at timestamptz NOT NULL,
                last_seen_at timestamptz NOT NULL,
                replayed_at timestamptz,
                replay_count integer NOT NULL DEFAULT 0
            )
            """,
            "CREATE INDEX dead_letters_newest ON dead_letters (last_seen_at DESC)",
            "CREATE INDEX dead_letters_by_reason ON dead_letters (reason, last_seen_at DESC)",
        ]
    )

    /// A token sequence per concert (nextval takes no row lock, so issuing tokens never queues
    /// behind a lock), created with the concert; and the time of the last admission, for the rate limit.
    static let queueSequences = Migration(
        version: 5,
        name: "per-concert token sequences, admission time",
        statements: [
            "ALTER TABLE waiting_rooms ADD COLUMN last_admission_at timestamptz",
            """
            CREATE FUNCTION concert_waiting_room() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I', 'queue_seq_' || NEW.id);
                INSERT INTO waiting_rooms (concert_id) VALUES (NEW.id) ON CONFLICT (concert_id) DO NOTHING;
                RETURN NEW;
            END $$
            """,
            "CREATE TRIGGER concerts_waiting_room AFTER INSERT ON concerts FOR EACH ROW EXECUTE FUNCTION concert_waiting_room()",
            """
            DO $$
            DECLARE concert record;
            BEGIN
                FOR concert IN SELECT id FROM concerts LOOP
                    EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I', 'queue_seq_' || concert.id);
                    INSERT INTO waiting_rooms (concert_id) VALUES (concert.id) ON CONFLICT (concert_id) DO NOTHING;
                END LOOP;
            END $$
            """,
        ]
    )

    /// For the set-based worker: a command's result is stored as the JSON text it is served as
    /// (encoded once), its failure as a code; no more pending rows (the API writes none); seat
    /// updates that can be HOT.
    static let setBasedWrites = Migration(
        version: 6,
        name: "results as served, error codes, HOT seat updates",
        statements: [
            "ALTER TABLE commands ALTER COLUMN result TYPE text USING result::text",
            "ALTER TABLE commands ADD COLUMN error_code text",
            "UPDATE commands SET error_code = error->>'code' WHERE error IS NOT NULL",
            "ALTER TABLE commands DROP COLUMN error",
            "DROP INDEX commands_pending",
            // The primary key (schedule_id, number) serves every seat lookup; this index's predicate on
            // `state` made every hold, expiry and sale a non-HOT update that rewrote both indexes.
            "DROP INDEX seats_free",
            // Room on each page for the new version of an updated row (HOT).
            "ALTER TABLE seats SET (fillfactor = 70)",
        ]
    )

    /// For the hold sweeper, which looks for live holds past their deadline every few seconds.
    static let liveHoldsByDeadline = Migration(
        version: 7,
        name: "live holds by deadline",
        statements: [
            "CREATE INDEX reservations_live_by_deadline ON reservations (held_until) WHERE status = 'held'"
        ]
    )

    /// Console sessions signed out: a copied cookie of one is refused by every API process.
    static let consoleSessionRevocations = Migration(
        version: 10,
        name: "console session revocations",
        statements: [
            "CREATE TABLE console_session_revocations (nonce text PRIMARY KEY, expires_at timestamptz NOT NULL)"
        ]
    )

    static let unknownOutcomeBound = Migration(
        version: 9,
        name: "a bound on unknown outcomes",
        statements: [
            // Set on the pending row the API writes when it answered 503 OUTCOME_UNKNOWN: past it, a
            // command that has not arrived is failed for good (OUTCOME_UNKNOWN_EXPIRED).
            "ALTER TABLE commands ADD COLUMN unknown_until timestamptz"
        ]
    )

    /// The partition statements state what they expect to find (a held reservation, the seat's
    /// occupant memory saw, a pending command) and raise this when a row did not match: a second
    /// writer of the partition (a former worker committing late) changed it. The whole statement,
    /// and its transaction, is refused; the worker decides again from storage.
    static let staleWriteRefusal = Migration(
        version: 8,
        name: "refuse stale partition writes",
        statements: [
            """
            CREATE FUNCTION concert_refuse_stale_write(what text) RETURNS bigint LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'stale partition write refused: %', what USING ERRCODE = '\(PartitionStore.staleWriteState)';
            END $$
            """
        ]
    )

    /// Concerts an operator creates: a venue, the sale's times, the waiting room's capacity and
    /// admission rate (unset: the process's defaults), and an external key that makes an import
    /// idempotent; seats learn their section, row and label within the row.
    static let onSale = Migration(
        version: 11,
        name: "concerts on sale: venue, sale times, admission, seat labels",
        statements: [
            "CREATE SEQUENCE concerts_id_seq OWNED BY concerts.id",
            "SELECT setval('concerts_id_seq', greatest(1, (SELECT max(id) FROM concerts)), (SELECT count(*) > 0 FROM concerts))",
            "ALTER TABLE concerts ALTER COLUMN id SET DEFAULT nextval('concerts_id_seq')",
            """
            ALTER TABLE concerts
                ADD COLUMN venue text,
                ADD COLUMN queue_opens_at timestamptz,
                ADD COLUMN on_sale_at timestamptz,
                ADD COLUMN sale_ends_at timestamptz,
                ADD COLUMN capacity integer CHECK (capacity > 0),
                ADD COLUMN admit_per_second integer CHECK (admit_per_second >= 0),
                ADD COLUMN external_key text UNIQUE,
                ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
                ADD CONSTRAINT concerts_queue_before_sale CHECK (queue_opens_at <= on_sale_at),
                ADD CONSTRAINT concerts_sale_before_end CHECK (on_sale_at < sale_ends_at)
            """,
            "ALTER TABLE seats ADD COLUMN section text, ADD COLUMN row_label text, ADD COLUMN seat_label text",
        ]
    )

    /// The pre-queue's draw: while a concert waits for it (`draw_pending`), new tokens get
    /// provisional numbers (`WaitingRoom.provisionalSeqBase` up); at the sale's start the
    /// admitter gives each its place, once, and records which provisional number became which
    /// place, so that every API process can tell a token's holder its place from memory.
    static let preQueueDraw = Migration(
        version: 12,
        name: "the pre-queue draw",
        statements: [
            "ALTER TABLE waiting_rooms ADD COLUMN draw_pending boolean NOT NULL DEFAULT false, ADD COLUMN drawn_at timestamptz",
            """
            CREATE TABLE queue_draws (
                id bigserial PRIMARY KEY,
                concert_id bigint NOT NULL REFERENCES concerts (id),
                provisional bigint NOT NULL CHECK (provisional >= \(WaitingRoom.provisionalSeqBase)),
                seq bigint NOT NULL CHECK (seq > 0 AND seq < \(WaitingRoom.provisionalSeqBase)),
                UNIQUE (concert_id, provisional)
            )
            """,
        ]
    )

    /// A seat map that drops seats deletes their rows: each deletion checks the reservations'
    /// foreign key, which without this index scans every reservation (a stadium's replacement
    /// took minutes).
    static let reservationsBySeat = Migration(
        version: 13,
        name: "reservations by seat",
        statements: [
            "CREATE INDEX reservations_by_seat ON reservations (schedule_id, seat_number)"
        ]
    )

    /// A box office: a reservation of several seats (each with the price it was made at; the
    /// first seat stays in `seat_number`, so that the one-live-per-seat index and the seat's
    /// foreign key keep holding for it), holds let go (`released`), refunds (one per reservation,
    /// a ledger entry each), and dates cancelled.
    static let boxOffice = Migration(
        version: 14,
        name: "several seats, releases, refunds, cancelled dates",
        statements: [
            "ALTER TABLE reservations ADD COLUMN seat_numbers integer[], ADD COLUMN seat_prices bigint[]",
            "ALTER TABLE reservations DROP CONSTRAINT reservations_status_check",
            "ALTER TABLE reservations ADD CONSTRAINT reservations_status_check CHECK (status IN ('held', 'paid', 'expired', 'released', 'refunded'))",
            """
            CREATE TABLE refunds (
                reservation_id uuid PRIMARY KEY REFERENCES reservations (id),
                id uuid NOT NULL UNIQUE,
                user_id text NOT NULL,
                amount bigint NOT NULL CHECK (amount > 0),
                refunded_at timestamptz NOT NULL
            )
            """,
            "ALTER TABLE wallet_ledger DROP CONSTRAINT wallet_ledger_kind_check",
            "ALTER TABLE wallet_ledger ADD CONSTRAINT wallet_ledger_kind_check CHECK (kind IN ('charge', 'payment', 'refund'))",
            "ALTER TABLE wallet_ledger ADD COLUMN reservation_id uuid",
            // A cancelled date's refunds share its command: one entry per reservation instead.
            "DROP INDEX wallet_ledger_command",
            "CREATE UNIQUE INDEX wallet_ledger_command ON wallet_ledger (command_id) WHERE command_id IS NOT NULL AND kind <> 'refund'",
            "CREATE UNIQUE INDEX wallet_ledger_refund ON wallet_ledger (reservation_id) WHERE kind = 'refund'",
            "ALTER TABLE schedules ADD COLUMN cancelled_at timestamptz",
        ]
    )
}
