import ConcertStorage
import Foundation
public import Logging
public import PostgresNIO
import Testing

/// The PostgreSQL that `scripts/test` started; every test gets a schema of its own.
///
/// Shared by the test targets (a plain target under Tests/, not a test target).
public enum DatabaseEnvironment {
    /// Integration tests run when a database is configured or demanded (`CONCERT_REQUIRE_SERVICES=1`);
    /// a configured database that is down makes them fail, never skip.
    public static let isConfigured: Bool = {
        let environment = ProcessInfo.processInfo.environment
        return environment["CONCERT_DATABASE_URL"] != nil || environment["CONCERT_REQUIRE_SERVICES"] == "1"
    }()

    public static var url: String {
        ProcessInfo.processInfo.environment["CONCERT_DATABASE_URL"] ?? "postgres://concert:concert@127.0.0.1:5432/concert"
    }

    public static let logger: Logger = {
        var logger = Logger(label: "tests")
        logger.logLevel = ProcessInfo.processInfo.environment["CONCERT_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error
        return logger
    }()

    /// Runs `body` with a client whose `search_path` is a fresh schema, dropped afterwards.
    public static func withIsolatedDatabase<Result: Sendable>(_ body: (PostgresClient) async throws -> Result) async throws -> Result {
        try await withIsolatedDatabaseAndURL { client, _ in try await body(client) }
    }

    /// The same, also telling the database URL that reaches the schema (for processes started by the test).
    public static func withIsolatedDatabaseAndURL<Result: Sendable>(_ body: (PostgresClient, String) async throws -> Result) async throws -> Result {
        let schema = "test_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        var configuration = try PostgresClient.Configuration(url: url)
        configuration.options.connectTimeout = .seconds(5)
        let admin = PostgresClient(configuration: configuration, backgroundLogger: logger)
        configuration.options.additionalStartupParameters = [("search_path", schema)]
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await admin.run() }
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do {
                try await admin.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger: logger)
            } catch {
                Issue.record(
                    "PostgreSQL is not reachable at \(configuration.host ?? "?"):\(configuration.port ?? 0) — start it with scripts/services up (\(String(reflecting: error)))"
                )
                throw error
            }
            do {
                let separator = url.contains("?") ? "&" : "?"
                let result = try await body(client, "\(url)\(separator)search_path=\(schema)")
                try await admin.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(schema) CASCADE"), logger: logger)
                return result
            } catch {
                _ = try? await admin.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(schema) CASCADE"), logger: logger)
                throw error
            }
        }
    }

    /// Like `withIsolatedDatabase`, with the schema migrated and the demo catalogue loaded.
    public static func withSeededDatabase<Result: Sendable>(_ body: (PostgresClient) async throws -> Result) async throws -> Result {
        try await withSeededDatabaseAndURL { client, _ in try await body(client) }
    }

    /// The same, also telling the database URL that reaches the schema.
    public static func withSeededDatabaseAndURL<Result: Sendable>(_ body: (PostgresClient, String) async throws -> Result) async throws -> Result {
        try await withIsolatedDatabaseAndURL { client, url in
            try await Migrator().migrate(client, logger: logger)
            try await DemoData().seed(client, logger: logger)
            return try await body(client, url)
        }
    }
}
