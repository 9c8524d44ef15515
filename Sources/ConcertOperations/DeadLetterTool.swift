public import ConcertApp
import ConcertPipeline
import ConcertStorage
import Foundation
public import Logging

/// `concert dead-letters list|show|replay|discard`: the archive from an operator's terminal, as text.
public enum DeadLetterTool {
    /// The newest letters as a table, or a line saying there are none.
    /// - Parameters:
    ///   - configuration: Where the database is.
    ///   - limit: At most this many.
    ///   - reason: Only reasons starting with this.
    ///   - logger: For the database's messages.
    /// - Returns: The table.
    /// - Throws: When the database cannot be reached or refuses the statement.
    public static func list(_ configuration: ConcertConfiguration, limit: Int, reason: String?, logger: Logger) async throws -> String {
        let records = try await ConcertServices.withDatabase(configuration, logger: logger) { database in
            try await DeadLetterStore(client: database, logger: logger).list(limit: limit, reason: reason)
        }
        return table(records)
    }

    /// One letter with its body and headers, or `nil` when there is no such letter.
    /// - Parameters:
    ///   - configuration: Where the database is.
    ///   - id: The letter's id.
    ///   - logger: For the database's messages.
    /// - Returns: The letter as text.
    /// - Throws: When the database cannot be reached or refuses the statement.
    public static func show(_ configuration: ConcertConfiguration, id: Int64, logger: Logger) async throws -> String? {
        let record = try await ConcertServices.withDatabase(configuration, logger: logger) { database in
            try await DeadLetterStore(client: database, logger: logger).find(id)
        }
        return record.map(detail)
    }

    /// Publishes a letter again to where it was sent (confirmed) and marks it replayed.
    /// - Parameters:
    ///   - configuration: Where the database and the broker are.
    ///   - id: The letter's id.
    ///   - logger: For the services' messages.
    /// - Returns: A line saying where it went, or `nil` when there is no such letter.
    /// - Throws: `DeadLetterOperations.Unroutable` when the broker refuses the destination; when
    ///   the database or the broker cannot be reached.
    public static func replay(_ configuration: ConcertConfiguration, id: Int64, logger: Logger) async throws -> String? {
        let replayed = try await ConcertServices.withDatabase(configuration, logger: logger) { database in
            try await ConcertServices.withBroker(configuration, logger: logger) { broker in
                try await DeadLetterOperations(store: DeadLetterStore(client: database, logger: logger), connection: broker).replay(id)
            }
        }
        return replayed.map { "replayed \(id) to \($0.exchange) \($0.routingKey) (replay #\($0.replayCount))" }
    }

    /// Deletes a letter from the archive.
    /// - Parameters:
    ///   - configuration: Where the database is.
    ///   - id: The letter's id.
    ///   - logger: For the database's messages.
    /// - Returns: Whether there was such a letter.
    /// - Throws: When the database cannot be reached or refuses the statement.
    public static func discard(_ configuration: ConcertConfiguration, id: Int64, logger: Logger) async throws -> Bool {
        try await ConcertServices.withDatabase(configuration, logger: logger) { database in
            try await DeadLetterStore(client: database, logger: logger).discard(id)
        }
    }

    static func table(_ records: [DeadLetterStore.Record]) -> String {
        guard !records.isEmpty else { return "no dead letters" }
        let formatter = ISO8601DateFormatter()
        var lines = ["ID      COUNT  LAST SEEN             ROUTING KEY  TYPE          REASON"]
        for record in records {
            lines.append(
                [
                    String(record.id).padding(toLength: 7, withPad: " ", startingAt: 0),
                    String(record.count).padding(toLength: 6, withPad: " ", startingAt: 0),
                    formatter.string(from: record.lastSeenAt).padding(toLength: 21, withPad: " ", startingAt: 0),
                    record.routingKey.padding(toLength: 12, withPad: " ", startingAt: 0),
                    (record.type ?? "-").padding(toLength: 13, withPad: " ", startingAt: 0),
                    record.reason,
                ].joined(separator: " ")
            )
        }
        return lines.joined(separator: "\n")
    }

    static func detail(_ record: DeadLetterStore.Record) -> String {
        let formatter = ISO8601DateFormatter()
        return """
            id:          \(record.id)
            message id:  \(record.messageId)
            type:        \(record.type ?? "-")
            reason:      \(record.reason)
            exchange:    \(record.exchange)
            routing key: \(record.routingKey)
            count:       \(record.count)
            first seen:  \(formatter.string(from: record.firstSeenAt))
            last seen:   \(formatter.string(from: record.lastSeenAt))
            replayed:    \(record.replayedAt.map(formatter.string(from:)) ?? "never") (\(record.replayCount) times)
            headers:     \(record.headers)
            body:
            \(record.bodyText ?? "<\(record.body.count) bytes, not UTF-8>")
            """
    }
}
