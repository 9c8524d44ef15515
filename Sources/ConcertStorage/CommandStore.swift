public import ConcertDomain
public import Foundation
public import Logging
public import PostgresNIO

/// Accepted commands and their outcomes: what `GET /v1/commands/{id}` reads.
public struct CommandStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// A command as recorded.
    public struct Record: Sendable, Hashable {
        public enum Status: String, Sendable, Hashable {
            case pending, succeeded, failed
        }

        public let id: UUID
        public let type: String
        public let status: Status
        /// The result JSON of a success.
        public let result: String?
        /// The failure code of a failure.
        public let failure: FailureCode?
    }

    /// Records an accepted command as pending, before it is published.
    public func insertPending(_ envelope: CommandEnvelope) async throws {
        try await client.fetch(
            """
            INSERT INTO commands (id, type, user_id, partition_key, status, submitted_at)
            VALUES (\(envelope.id), \(envelope.command.type.rawValue), \(envelope.userId.rawValue), \(envelope.partitionKey), 'pending', \(envelope.submittedAt))
            """,
            logger: logger
        )
    }

    /// Removes a pending command that was never published (the broker refused or was down).
    public func deletePending(_ id: UUID) async throws {
        try await client.fetch("DELETE FROM commands WHERE id = \(id) AND status = 'pending'", logger: logger)
    }

    /// The command, or `nil` if it was never accepted.
    public func find(_ id: UUID) async throws -> Record? {
        let rows = try await client.fetch(
            "SELECT type, status, result::text, error->>'code' FROM commands WHERE id = \(id)",
            logger: logger
        )
        for (type, status, result, code) in try (rows).map({ try $0.decode((String, String, String?, String?).self) }) {
            return Record(
                id: id,
                type: type,
                status: Record.Status(rawValue: status) ?? .pending,
                result: result,
                failure: code.flatMap(FailureCode.init(rawValue:))
            )
        }
        return nil
    }
}
