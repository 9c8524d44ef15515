public import Logging
public import PostgresNIO

/// Brings a database's schema up to date: applies every migration it has not seen, in version order.
public struct Migrator: Sendable {
    /// The migrations this build knows.
    public let migrations: [Migration]

    public init(migrations: [Migration] = Migration.all) {
        precondition(zip(migrations, migrations.dropFirst()).allSatisfy { $0.version < $1.version }, "migrations out of order")
        self.migrations = migrations
    }

    /// Applies the missing migrations in one transaction and returns their versions.
    ///
    /// Safe to run from several processes at once: an advisory lock (per schema) makes the others wait, and
    /// they then find nothing to do. Refuses a database whose schema is newer than this build.
    @discardableResult
    /// No statement time limit: the advisory lock may be held for as long as another process migrates.
    public func migrate(_ client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await DatabaseTimeout.withoutLimit { try await migrateLocked(client, logger: logger) }
    }

    private func migrateLocked(_ client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await client.withUnwrappedTransaction(logger: logger) { connection in
            // One lock per schema: processes migrating the same schema wait for each other, and
            // those of other schemas (the tests' parallel suites, each in its own) do not.
            try await connection.fetch(
                "SELECT pg_advisory_xact_lock(hashtextextended('concert schema migrations ' || current_schema(), 0))",
                logger: logger
            )
            try await connection.fetch(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                logger: logger
            )
            var applied = Set<Int>()
            let rows = try await connection.fetch("SELECT version FROM schema_migrations", logger: logger)
            for version in try rows.map({ try $0.decode(Int.self) }) {
                applied.insert(version)
            }
            if let newest = applied.max(), let known = migrations.last?.version, newest > known {
                throw MigrationError(
                    message: "the database is at schema version \(newest), newer than this build's \(known); upgrade the binary"
                )
            }
            var newlyApplied: [Int] = []
            for migration in migrations where !applied.contains(migration.version) {
                logger.info("applying migration", metadata: ["migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
                for statement in migration.statements {
                    try await connection.fetch(statement, logger: logger)
                }
                try await connection.fetch(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger
                )
                newlyApplied.append(migration.version)
            }
            return newlyApplied
        }
    }
}

/// The schema cannot be brought up to date.
public struct MigrationError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
