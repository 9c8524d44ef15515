import ArgumentParser
import ConcertApp
import ConcertStorage
import Foundation
import ConcertPipeline
import Logging
import ServiceLifecycle

/// The `concert` executable: parses arguments, reads the environment, and hands over to ConcertApp.
@main
struct Concert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concert",
        abstract: "Concert-ticket reservation backend: HTTP API, partition workers and operator tools.",
        subcommands: [Serve.self, Migrate.self, Seed.self, Topology.self]
    )
}

/// Reads the configuration and sets up logging once, for every subcommand.
func bootstrap(label: String) throws -> (ConcertConfiguration, Logger) {
    let configuration = try ConcertConfiguration(environment: ProcessInfo.processInfo.environment)
    LoggingSystem.bootstrap { name in
        var handler = StreamLogHandler.standardError(label: name)
        handler.logLevel = configuration.logLevel
        return handler
    }
    return (configuration, Logger(label: label))
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP API (with its database and broker connections) until SIGTERM or Ctrl-C."
    )

    func run() async throws {
        let (configuration, logger) = try bootstrap(label: "concert.serve")
        try await ConcertServices.buildServeGroup(configuration, logger: logger).run()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Bring the database schema up to date.")

    func run() async throws {
        let (configuration, logger) = try bootstrap(label: "concert.migrate")
        let applied = try await ConcertServices.withDatabase(configuration, logger: logger) { database in
            try await Migrator().migrate(database, logger: logger)
        }
        print(applied.isEmpty ? "schema is up to date" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
    }
}

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load the demo concerts, dates and seats (idempotent; migrates first)."
    )

    func run() async throws {
        let (configuration, logger) = try bootstrap(label: "concert.seed")
        let summary = try await ConcertServices.withDatabase(configuration, logger: logger) { database in
            try await Migrator().migrate(database, logger: logger)
            return try await DemoData().seed(database, logger: logger)
        }
        print("demo data: \(summary.concerts) concerts, \(summary.schedules) schedules, \(summary.seats) seats")
    }
}

struct Topology: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The RabbitMQ topology: declare it, or write it in RabbitMQ's definitions format.",
        subcommands: [Apply.self, Export.self]
    )

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Declare every exchange, queue and binding (idempotent; CONCERT_PARTITIONS and CONCERT_HOLD_SECONDS shape it)."
        )

        func run() async throws {
            let (configuration, logger) = try bootstrap(label: "concert.topology")
            let topology = configuration.topology
            try await ConcertServices.withBroker(configuration, logger: logger) { broker in
                try await topology.apply(to: broker)
            }
            print("declared \(topology.exchanges.count) exchanges, \(topology.queues.count) queues, \(topology.bindings.count) bindings")
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the topology as RabbitMQ definitions JSON.")

        @Option(name: .shortAndLong, help: "Where to write it ('-' for standard output).")
        var output = "topology/definitions.json"

        func run() async throws {
            let (configuration, _) = try bootstrap(label: "concert.topology")
            let json = configuration.topology.definitionsJSON()
            if output == "-" {
                FileHandle.standardOutput.write(json)
            } else {
                try json.write(to: URL(fileURLWithPath: output))
                print("wrote \(output)")
            }
        }
    }
}
