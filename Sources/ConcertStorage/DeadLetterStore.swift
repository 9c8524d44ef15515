public import Foundation
public import Logging
public import PostgresNIO

/// The archive of dead letters: commands that could not be processed, kept with why, for
/// operators to inspect, replay or discard.
public struct DeadLetterStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// One archived dead letter.
    public struct Record: Sendable, Hashable, Codable {
        public let id: Int64
        public let messageId: String
        public let type: String?
        public let reason: String
        public let exchange: String
        public let routingKey: String
        public let count: Int
        public let firstSeenAt: Date
        public let lastSeenAt: Date
        public let replayedAt: Date?
        public let replayCount: Int
        /// The message body (UTF-8 text for JSON commands).
        public let body: [UInt8]
        /// The AMQP headers as JSON.
        public let headers: String

        /// The body as text, when it is UTF-8 (JSON commands are); `nil` for other bytes.
        public var bodyText: String? { String(validating: body, as: UTF8.self) }
    }

    /// What the archiver stores for one delivery.
    public struct Arrival: Sendable {
        public let messageId: String
        public let type: String?
        public let reason: String
        public let exchange: String
        public let routingKey: String
        public let body: [UInt8]
        public let headersJSON: String
        public let at: Date

        public init(
            messageId: String,
            type: String?,
            reason: String,
            exchange: String,
            routingKey: String,
            body: [UInt8],
            headersJSON: String,
            at: Date
        ) {
            self.messageId = messageId
            self.type = type
            self.reason = reason
            self.exchange = exchange
            self.routingKey = routingKey
            self.body = body
            self.headersJSON = headersJSON
            self.at = at
        }
    }

    /// Stores a dead letter; the same message again counts up and updates reason and headers.
    public func archive(_ arrival: Arrival) async throws {
        try await client.fetch(
            """
            INSERT INTO dead_letters (message_id, type, reason, exchange, routing_key, body, headers, first_seen_at, last_seen_at)
            VALUES (\(arrival.messageId), \(arrival.type), \(arrival.reason), \(arrival.exchange), \(arrival.routingKey),
                    \(ByteBuffer(bytes: arrival.body)), \(arrival.headersJSON)::jsonb, \(arrival.at), \(arrival.at))
            ON CONFLICT (message_id) DO UPDATE SET count = dead_letters.count + 1, reason = excluded.reason,
                headers = excluded.headers, last_seen_at = excluded.last_seen_at
            """,
            logger: logger
        )
    }

    /// Newest first; `reason` filters by prefix (e.g. `handler failed`, `delivery_limit`).
    public func list(limit: Int = 50, reason: String? = nil) async throws -> [Record] {
        // PostgreSQL text holds no NUL, so no stored reason starts with a prefix that has one.
        if reason?.utf8.contains(0) == true { return [] }
        let pattern = reason.map { $0.replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%" } ?? "%"
        return try await records(
            """
            SELECT id, message_id, type, reason, exchange, routing_key, count, first_seen_at, last_seen_at, replayed_at,
                   replay_count, body, headers::text
            FROM dead_letters WHERE reason LIKE \(pattern) ORDER BY last_seen_at DESC, id DESC LIMIT \(max(1, min(limit, 1000)))
            """
        )
    }

    /// One dead letter.
    public func find(_ id: Int64) async throws -> Record? {
        try await records(
            """
            SELECT id, message_id, type, reason, exchange, routing_key, count, first_seen_at, last_seen_at, replayed_at,
                   replay_count, body, headers::text
            FROM dead_letters WHERE id = \(id)
            """
        ).first
    }

    /// The letters with these ids, in the order given (ids not archived are left out).
    public func find(ids: [Int64]) async throws -> [Record] {
        let found = try await records(
            """
            SELECT id, message_id, type, reason, exchange, routing_key, count, first_seen_at, last_seen_at, replayed_at,
                   replay_count, body, headers::text
            FROM dead_letters WHERE id = ANY(\(ids))
            """
        )
        let byID = Dictionary(uniqueKeysWithValues: found.map { ($0.id, $0) })
        return ids.compactMap { byID[$0] }
    }

    /// Notes a replay.
    public func markReplayed(_ id: Int64, at time: Date) async throws {
        try await client.fetch(
            "UPDATE dead_letters SET replayed_at = \(time), replay_count = replay_count + 1 WHERE id = \(id)",
            logger: logger
        )
    }

    /// Removes a dead letter; false if there was none.
    public func discard(_ id: Int64) async throws -> Bool {
        let rows = try await client.fetch("DELETE FROM dead_letters WHERE id = \(id) RETURNING id", logger: logger)
        for _ in rows { return true }
        return false
    }

    /// How many are archived.
    public func count() async throws -> Int {
        let rows = try await client.fetch("SELECT count(*) FROM dead_letters", logger: logger)
        for count in try rows.map({ try $0.decode(Int.self) }) {
            return count
        }
        return 0
    }

    private func records(_ query: PostgresQuery) async throws -> [Record] {
        var records: [Record] = []
        let rows = try await client.fetch(query, logger: logger)
        for row in rows {
            let (id, messageId, type, reason, exchange, routingKey, count, first, last, replayed, replays, body, headers) =
                try row.decode((Int64, String, String?, String, String, String, Int, Date, Date, Date?, Int, ByteBuffer, String).self)
            records.append(
                Record(
                    id: id,
                    messageId: messageId,
                    type: type,
                    reason: reason,
                    exchange: exchange,
                    routingKey: routingKey,
                    count: count,
                    firstSeenAt: first,
                    lastSeenAt: last,
                    replayedAt: replayed,
                    replayCount: replays,
                    body: Array(buffer: body),
                    headers: headers
                )
            )
        }
        return records
    }
}
