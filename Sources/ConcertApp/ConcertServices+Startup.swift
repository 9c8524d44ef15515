import AMQPClient
import ConcertPipeline
import ConcertStorage
import Foundation
public import Logging
import PostgresNIO

/// Start-up: waiting for the database and the broker, migrating, declaring the topology.
extension ConcertServices {
    /// Waits until the database accepts a connection, saying what is wrong the first time and then
    /// at most once a minute (a long-running process keeps trying: the operator may be fixing it).
    public static func waitForDatabase(_ configuration: ConcertConfiguration, progress: StartupProgress? = nil, logger: Logger) async throws {
        let address = try DatabaseAddress(url: configuration.databaseURL)
        progress?.update("connecting to the database \(address)")
        let troubled = try await waitUntilReady(DatabaseCheck.Problem.self, progress: progress, logger: logger) {
            try await DatabaseCheck.check(address, logger: logger)
        }
        logger.info(troubled ? "database connected after all" : "database connected", metadata: ["database": "\(address)"])
    }

    /// A start-up step the database interrupted (its connection lost, a transient refusal):
    /// retried with back-off, as a database that is not there yet is waited for.
    struct StartupInterruption: Error, CustomStringConvertible {
        let description: String

        static func rethrowing<Value>(_ step: String, _ body: () async throws -> Value) async throws -> Value {
            do {
                return try await body()
            } catch let error as ConnectionLost {
                throw StartupInterruption(description: "\(step): \(error)")
            } catch let error as DependencyUnavailable where error.dependency == .database {
                throw StartupInterruption(description: "\(step): \(error)")
            } catch let error as PSQLError where error.isTransient {
                throw StartupInterruption(description: "\(step): \(error.sqlState ?? "connection") \(error)")
            }
        }
    }

    /// Runs `check` until it passes, retrying with back-off while it fails with `problem`: says
    /// what is wrong the first time and then at most once a minute (a long-running process keeps
    /// trying: the operator may be fixing it). True when it failed at least once.
    static func waitUntilReady<Problem: Error & CustomStringConvertible>(
        _ problem: Problem.Type,
        progress: StartupProgress?,
        logger: Logger,
        check: () async throws -> Void
    ) async throws -> Bool {
        let backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(5))
        var lastSaid: ContinuousClock.Instant?
        var failures = 0
        while true {
            do {
                try await check()
                return failures > 0
            } catch let problem as Problem {
                progress?.update(problem.description)
                if lastSaid.map({ ContinuousClock.now - $0 >= .seconds(60) }) ?? true {
                    logger.error("\(problem.description); retrying")
                    lastSaid = .now
                }
            }
            failures += 1
            try await Task.sleep(for: backoff.delay(afterFailures: failures))
        }
    }

    /// Waits until the broker accepts the login, saying what is wrong the first time and then at
    /// most once a minute.
    public static func waitForBroker(_ configuration: ConcertConfiguration, progress: StartupProgress? = nil, logger: Logger) async throws {
        let broker = try AMQPConfiguration(url: configuration.amqpURL)
        progress?.update("connecting to the broker \(broker)")
        let troubled = try await waitUntilReady(BrokerCheck.Problem.self, progress: progress, logger: logger) {
            try await BrokerCheck.check(broker, logger: logger)
        }
        if troubled { logger.info("broker reachable after all", metadata: ["broker": "\(broker)"]) }
    }

    /// Migrates the schema and declares the topology (each process does it at start-up; both are
    /// idempotent). Waits for a database or broker that is not there yet; `progress` follows.
    public static func prepare(
        _ configuration: ConcertConfiguration,
        progress: StartupProgress? = nil,
        finally: @Sendable () async throws -> Void = {},
        logger: Logger
    ) async throws {
        try await waitForDatabase(configuration, progress: progress, logger: logger)
        try await waitForBroker(configuration, progress: progress, logger: logger)
        progress?.update("migrating the database schema")
        var applied: [Int] = []
        // A connection lost mid-way (a restart, a failover) is retried like a database not there yet.
        _ = try await waitUntilReady(StartupInterruption.self, progress: progress, logger: logger) {
            applied = try await StartupInterruption.rethrowing("migrating the database schema") {
                try await withDatabase(configuration, logger: logger) { database in
                    try await Migrator().migrate(database, logger: logger)
                }
            }
        }
        logger.info(
            applied.isEmpty ? "database schema up to date" : "database schema migrated",
            metadata: ["schema.version": "\(Migration.all.last?.version ?? 0)"]
        )
        progress?.update("declaring the broker topology")
        let topology = configuration.topology
        try await withBroker(configuration, logger: logger) { broker in
            try await topology.apply(to: broker)
        }
        logger.info("broker topology declared", metadata: ["broker": "\(configuration.brokerDescription)", "partitions": "\(topology.partitions)"])
        try await finally()
        progress?.finish()
    }
}
