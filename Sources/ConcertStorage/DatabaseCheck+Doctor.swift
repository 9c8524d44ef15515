public import Logging
public import PostgresNIO

// What `concert doctor` asks the database.
extension DatabaseCheck {
    /// The schema versions applied to the database, or `nil` when it has no schema yet.
    /// - Parameters:
    ///   - database: The database.
    ///   - logger: For the statements.
    /// - Returns: The versions in `schema_migrations`.
    /// - Throws: `DependencyUnavailable` when the database does not answer; a `PSQLError` otherwise.
    public static func appliedSchemaVersions(_ database: PostgresClient, logger: Logger) async throws -> [Int]? {
        let exists = try await database.fetch("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger).first?.decode(Bool.self) ?? false
        guard exists else { return nil }
        return try await database.fetch("SELECT version FROM schema_migrations", logger: logger).map { try $0.decode(Int.self) }
    }

    /// The database server's clock, in seconds since 1970 (`clock_timestamp()`, read when the statement runs).
    /// - Parameters:
    ///   - database: The database.
    ///   - logger: For the statement.
    /// - Returns: The server's time.
    /// - Throws: As `appliedSchemaVersions(_:logger:)`.
    public static func serverClock(_ database: PostgresClient, logger: Logger) async throws -> Double {
        try await database.fetch("SELECT extract(epoch FROM clock_timestamp())::float8", logger: logger).first?.decode(Double.self) ?? 0
    }

    /// The server's version (`SHOW server_version`).
    /// - Parameters:
    ///   - database: The database.
    ///   - logger: For the statement.
    /// - Returns: The version text, e.g. `15.10`.
    /// - Throws: As `appliedSchemaVersions(_:logger:)`.
    public static func serverVersion(_ database: PostgresClient, logger: Logger) async throws -> String {
        try await database.fetch("SHOW server_version", logger: logger).first?.decode(String.self) ?? "?"
    }
}
