import ConcertPipeline
import ConcertStorage
import Logging
import PostgresNIO

/// A batch's statements on one connection. Reads run before any transaction: the worker is its
/// schedules' only writer, and the unique indexes catch the one overlap there can be (a former
/// worker's last batch committing late). Writes are atomic: a batch that only holds seats and
/// records outcomes is one statement, committed on its own; one that debits wallets or changes
/// older reservations opens a transaction for them and its final write.
struct BatchTransaction {
    let connection: PostgresConnection
    let logger: Logger
    private(set) var isOpen = false

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    mutating func begin() async throws {
        guard !isOpen else { return }
        try await connection.execute("BEGIN" as PostgresQuery, logger: logger)
        isOpen = true
    }

    mutating func commit() async throws {
        guard isOpen else { return }
        try await connection.execute("COMMIT" as PostgresQuery, logger: logger)
        isOpen = false
    }

    mutating func rollback() async {
        guard isOpen else { return }
        isOpen = false
        try? await connection.execute("ROLLBACK" as PostgresQuery, logger: logger)
    }
}
