import ArgumentParser
import ConcertApp
import ConcertPipeline
import ConcertStorage
import Foundation

/// `concert dead-letters list|show|replay|discard`.
struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Inspect, replay and discard archived dead letters.",
        subcommands: [List.self, Show.self, Replay.self, Discard.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Newest first.")
        @Option(help: "At most this many.") var limit = 50
        @Option(help: "Only reasons starting with this.") var reason: String?

        func run() async throws {
            let (configuration, logger) = try bootstrap(label: "concert.dead-letters")
            let limit = limit
            let reason = reason
            let records = try await ConcertServices.withDatabase(configuration, logger: logger) { database in
                try await DeadLetterStore(client: database, logger: logger).list(limit: limit, reason: reason)
            }
            print(DeadLetterFormat.table(records))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One dead letter with its body and headers.")
        @Argument var id: Int64

        func run() async throws {
            let (configuration, logger) = try bootstrap(label: "concert.dead-letters")
            let id = id
            guard
                let record = try await ConcertServices.withDatabase(
                    configuration,
                    logger: logger,
                    { database in
                        try await DeadLetterStore(client: database, logger: logger).find(id)
                    }
                )
            else { throw ValidationError("no dead letter \(id)") }
            print(DeadLetterFormat.detail(record))
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Republish to the original routing key (confirmed) and mark it replayed.")
        @Argument var id: Int64

        func run() async throws {
            let (configuration, logger) = try bootstrap(label: "concert.dead-letters")
            let id = id
            let replayed = try await ConcertServices.withDatabase(configuration, logger: logger) { database in
                try await ConcertServices.withBroker(configuration, logger: logger) { broker in
                    try await DeadLetterOperations(store: DeadLetterStore(client: database, logger: logger), connection: broker).replay(id)
                }
            }
            guard let replayed else { throw ValidationError("no dead letter \(id)") }
            print("replayed \(id) to \(replayed.exchange) \(replayed.routingKey) (replay #\(replayed.replayCount))")
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete it from the archive.")
        @Argument var id: Int64

        func run() async throws {
            let (configuration, logger) = try bootstrap(label: "concert.dead-letters")
            let id = id
            let removed = try await ConcertServices.withDatabase(configuration, logger: logger) { database in
                try await DeadLetterStore(client: database, logger: logger).discard(id)
            }
            guard removed else { throw ValidationError("no dead letter \(id)") }
            print("discarded \(id)")
        }
    }
}

enum DeadLetterFormat {
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
