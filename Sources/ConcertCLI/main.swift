import ArgumentParser
import ConcertApp
import ConcertStorage
import Foundation
import Logging
import ServiceLifecycle

/// The `concert` executable: parses arguments, reads the environment, and hands over to ConcertApp.
@main
struct Concert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concert",
        abstract: "Concert-ticket reservation backend: HTTP API, partition workers and operator tools.",
        subcommands: [Serve.self, Migrate.self, Seed.self]
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
