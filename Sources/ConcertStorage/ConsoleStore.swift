public import Foundation
public import Logging
public import PostgresNIO

/// What the operator console reads from PostgreSQL: recent activity per schedule, the waiting
/// rooms, outcomes, dead letters grouped, and commands looked up by id or user.
public struct ConsoleStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Signs a console session out everywhere: its nonce is refused until the session would have
    /// ended anyway (rows past that are dropped on the way).
    public func revokeSession(nonce: String, until: Date) async throws {
        try await client.execute(
            """
            WITH expired AS (DELETE FROM console_session_revocations WHERE expires_at < now())
            INSERT INTO console_session_revocations (nonce, expires_at) VALUES (\(nonce), \(until)) ON CONFLICT (nonce) DO NOTHING
            """,
            logger: logger
        )
    }

    /// True when the session was signed out.
    public func isSessionRevoked(nonce: String) async throws -> Bool {
        try await !client.fetch("SELECT 1 FROM console_session_revocations WHERE nonce = \(nonce)", logger: logger).isEmpty
    }

    /// One schedule's (partition key's) commits of the last minute and its last batch.
    public struct ScheduleActivity: Sendable {
        public let partitionKey: String
        public let committedLastMinute: Int
        public let lastCommitAt: Date?
        /// Commands committed together with the last one: a batch commits in one transaction,
        /// so its commands share `completed_at`.
        public let lastBatchSize: Int
    }

    public func scheduleActivity() async throws -> [ScheduleActivity] {
        let rows = try await client.fetch(
            """
            WITH recent AS (
                SELECT partition_key, completed_at FROM commands WHERE completed_at > now() - interval '1 hour'
            ), last AS (
                SELECT partition_key, max(completed_at) AS at FROM recent GROUP BY partition_key
            )
            SELECT l.partition_key,
                   (SELECT count(*) FROM recent r WHERE r.partition_key = l.partition_key AND r.completed_at > now() - interval '1 minute')::int,
                   l.at,
                   (SELECT count(*) FROM recent r WHERE r.partition_key = l.partition_key AND r.completed_at = l.at)::int
            FROM last l
            """,
            logger: logger
        )
        return try rows.map { row in
            let (key, minute, at, batch) = try row.decode((String, Int, Date?, Int).self)
            return ScheduleActivity(partitionKey: key, committedLastMinute: minute, lastCommitAt: at, lastBatchSize: batch)
        }
    }

    /// Commits per `bucketSeconds` over the last `minutes` minutes, oldest first (empty buckets included).
    public func commitTimeline(minutes: Int = 10, bucketSeconds: Int = 10) async throws -> [Int] {
        let rows = try await client.fetch(
            """
            SELECT floor(extract(epoch FROM now() - completed_at) / \(bucketSeconds))::int AS age, count(*)::int
            FROM commands WHERE completed_at > now() - make_interval(mins => \(minutes)::int) GROUP BY 1
            """,
            logger: logger
        )
        let buckets = minutes * 60 / bucketSeconds
        var counts = [Int](repeating: 0, count: buckets)
        for row in rows {
            let (age, count) = try row.decode((Int, Int).self)
            if (0..<buckets).contains(age) { counts[buckets - 1 - age] = count }
        }
        return counts
    }

    /// A concert's waiting room.
    public struct WaitingRoomFigures: Sendable {
        public let concertID: Int64
        public let admittedThrough: Int64
        public let active: Int
        public let waiting: Int
        public let admittedLastMinute: Int
    }

    public func waitingRooms() async throws -> [WaitingRoomFigures] {
        let rows = try await client.fetch(
            """
            SELECT w.concert_id, w.admitted_through,
                   count(t.*) FILTER (WHERE t.state = 'active')::int,
                   count(t.*) FILTER (WHERE t.state = 'waiting')::int,
                   count(t.*) FILTER (WHERE t.admitted_at > now() - interval '1 minute')::int
            FROM waiting_rooms w LEFT JOIN queue_tokens t ON t.concert_id = w.concert_id
            GROUP BY w.concert_id, w.admitted_through ORDER BY w.concert_id
            """,
            logger: logger
        )
        return try rows.map { row in
            let (concert, through, active, waiting, admitted) = try row.decode((Int64, Int64, Int, Int, Int).self)
            return WaitingRoomFigures(concertID: concert, admittedThrough: through, active: active, waiting: waiting, admittedLastMinute: admitted)
        }
    }

    /// Outcomes of one type and code over a window.
    public struct OutcomeCount: Sendable {
        public let type: String
        /// `succeeded`, or the failure code.
        public let outcome: String
        public let lastFiveMinutes: Int
        public let lastHour: Int
    }

    public func outcomes() async throws -> [OutcomeCount] {
        let rows = try await client.fetch(
            """
            SELECT type, CASE WHEN status = 'succeeded' THEN 'succeeded' ELSE coalesce(error_code, status) END AS outcome,
                   count(*) FILTER (WHERE completed_at > now() - interval '5 minutes')::int, count(*)::int
            FROM commands WHERE completed_at > now() - interval '1 hour'
            GROUP BY 1, 2 ORDER BY 1, 4 DESC
            """,
            logger: logger
        )
        return try rows.map { row in
            let (type, outcome, five, hour) = try row.decode((String, String, Int, Int).self)
            return OutcomeCount(type: type, outcome: outcome, lastFiveMinutes: five, lastHour: hour)
        }
    }

    /// Dead letters not replayed yet.
    public func deadLettersWaiting() async throws -> Int {
        let rows = try await client.fetch("SELECT count(*)::int FROM dead_letters WHERE replayed_at IS NULL", logger: logger)
        return try rows.first?.decode(Int.self) ?? 0
    }

    /// Which dead letters a console view shows: all of them, or those matching every filter given.
    public struct DeadLetterFilter: Sendable, Hashable {
        public var reason: String?
        public var type: String?
        /// The partition, as the routing key `p.<n>` the letter was sent with.
        public var partition: Int?
        /// Letters last seen at or after this time.
        public var since: Date?

        public init(reason: String? = nil, type: String? = nil, partition: Int? = nil, since: Date? = nil) {
            self.reason = reason
            self.type = type
            self.partition = partition
            self.since = since
        }

        var routingKey: String? { partition.map { "p.\($0)" } }
    }

    /// Letters of one reason and type.
    public struct DeadLetterGroup: Sendable {
        public let reason: String
        public let type: String?
        public let count: Int
        public let waiting: Int
        public let lastSeenAt: Date
    }

    public func deadLetterGroups(_ filter: DeadLetterFilter) async throws -> [DeadLetterGroup] {
        let rows = try await client.fetch(
            """
            SELECT reason, type, count(*)::int, count(*) FILTER (WHERE replayed_at IS NULL)::int, max(last_seen_at)
            FROM dead_letters
            WHERE (\(filter.reason)::text IS NULL OR reason = \(filter.reason))
              AND (\(filter.type)::text IS NULL OR type = \(filter.type))
              AND (\(filter.routingKey)::text IS NULL OR routing_key = \(filter.routingKey))
              AND (\(filter.since)::timestamptz IS NULL OR last_seen_at >= \(filter.since))
            GROUP BY reason, type ORDER BY max(last_seen_at) DESC
            """,
            logger: logger
        )
        return try rows.map { row in
            let (reason, type, count, waiting, last) = try row.decode((String, String?, Int, Int, Date).self)
            return DeadLetterGroup(reason: reason, type: type, count: count, waiting: waiting, lastSeenAt: last)
        }
    }

    /// The ids of the letters of one group (reason and type) that the filter also matches, newest first.
    public func deadLetterIDs(reason: String, type: String?, filter: DeadLetterFilter) async throws -> [Int64] {
        let rows = try await client.fetch(
            """
            SELECT id FROM dead_letters
            WHERE reason = \(reason) AND type IS NOT DISTINCT FROM \(type)
              AND (\(filter.routingKey)::text IS NULL OR routing_key = \(filter.routingKey))
              AND (\(filter.since)::timestamptz IS NULL OR last_seen_at >= \(filter.since))
            ORDER BY last_seen_at DESC, id DESC LIMIT 1000
            """,
            logger: logger
        )
        return try rows.map { try $0.decode(Int64.self) }
    }

    /// A command as the console shows it.
    public struct CommandRow: Sendable {
        public let id: UUID
        public let type: String
        public let userID: String
        public let partitionKey: String
        public let status: String
        public let result: String?
        public let errorCode: String?
        public let submittedAt: Date
        public let completedAt: Date?
    }

    /// One command by id, or a user's latest (at most `limit`).
    public func commands(id: UUID? = nil, user: String? = nil, limit: Int = 20) async throws -> [CommandRow] {
        let rows = try await client.fetch(
            """
            SELECT id, type, user_id, partition_key, status, result, error_code, submitted_at, completed_at FROM commands
            WHERE (\(id)::uuid IS NULL OR id = \(id)) AND (\(user)::text IS NULL OR user_id = \(user))
            ORDER BY submitted_at DESC LIMIT \(limit)
            """,
            logger: logger
        )
        return try rows.map { row in
            let (id, type, user, key, status, result, code, submitted, completed) = try row.decode(
                (UUID, String, String, String, String, String?, String?, Date, Date?).self
            )
            return CommandRow(
                id: id,
                type: type,
                userID: user,
                partitionKey: key,
                status: status,
                result: result,
                errorCode: code,
                submittedAt: submitted,
                completedAt: completed
            )
        }
    }
}
