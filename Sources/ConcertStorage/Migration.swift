public import PostgresNIO

/// One step of the schema, applied once, in version order, inside the migration transaction.
public struct Migration: Sendable {
    /// Strictly increasing; recorded in `schema_migrations`.
    public let version: Int
    /// What the step does, for humans.
    public let name: String
    /// Its statements (the extended protocol takes one statement per query).
    public let statements: [PostgresQuery]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements.map { PostgresQuery(unsafeSQL: $0) }
    }
}
