import ArgumentParser
import ConcertOperations

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
            print(try await DeadLetterTool.list(configuration, limit: limit, reason: reason, logger: logger))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One dead letter with its body and headers.")
        @Argument var id: Int64

        func run() async throws {
            let (configuration, logger) = try bootstrap(label: "concert.dead-letters")
            guard let letter = try await DeadLetterTool.show(configuration, id: id, logger: logger) else {
                throw ValidationError("no dead letter \(id)")
            }
            print(letter)
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Republish to the original routing key (confirmed) and mark it replayed.")
        @Argument var id: Int64

        func run() async throws {
            let (configuration, logger) = try bootstrap(label: "concert.dead-letters")
            guard let said = try await DeadLetterTool.replay(configuration, id: id, logger: logger) else {
                throw ValidationError("no dead letter \(id)")
            }
            print(said)
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete it from the archive.")
        @Argument var id: Int64

        func run() async throws {
            let (configuration, logger) = try bootstrap(label: "concert.dead-letters")
            guard try await DeadLetterTool.discard(configuration, id: id, logger: logger) else { throw ValidationError("no dead letter \(id)") }
            print("discarded \(id)")
        }
    }
}
