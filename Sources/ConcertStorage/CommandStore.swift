public import ConcertDomain
public import Foundation
public import Logging
public import PostgresNIO

/// Commands' outcomes, as the partition workers recorded them: what `GET /v1/commands/{id}` reads.
public struct CommandStore: Sendable {
    let client: PostgresClient
    public let logger: Logger

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
        /// Whose command it is.
        public let userID: UserID?
        public let status: Status
        /// The result JSON of a success, exactly as it is served.
        public let result: String?
        /// The failure code of a failure.
        public let failure: FailureCode?

        public init(id: UUID, type: String, userID: UserID?, status: Status, result: String?, failure: FailureCode?) {
            self.id = id
            self.type = type
            self.userID = userID
            self.status = status
            self.result = result
            self.failure = failure
        }
    }

    /// Records a command whose submission was answered `503 OUTCOME_UNKNOWN` (the broker may or
    /// may not have taken it): pending until `until`, then failed for good with
    /// `OUTCOME_UNKNOWN_EXPIRED` unless it arrived (its worker's outcome replaces a pending row).
    public func recordUnknownOutcome(_ envelope: CommandEnvelope, until: Date) async throws {
        try await client.execute(
            """
            INSERT INTO commands (id, type, user_id, partition_key, status, submitted_at, unknown_until)
            VALUES (\(envelope.id), \(envelope.command.type.rawValue), \(envelope.userId.rawValue), \(envelope.partitionKey), 'pending',
                \(envelope.submittedAt), \(until))
            ON CONFLICT (id) DO NOTHING
            """,
            logger: logger
        )
    }

    /// The command's outcome, or `nil` while it has none (pending, or never accepted: the API
    /// tells those apart by the command id itself). A command of unknown outcome past its bound
    /// that never arrived is failed here, once and for all (the worker refuses to overwrite a
    /// final outcome, so a late arrival changes nothing).
    public func find(_ id: UUID) async throws -> Record? {
        var rows = try await client.fetch(
            "SELECT type, user_id, status, result, error_code, unknown_until < now() FROM commands WHERE id = \(id)",
            logger: logger
        )
        if let expired = try rows.first?.decode((String, String, String, String?, String?, Bool?).self), expired.2 == "pending", expired.5 == true {
            try await client.execute(
                """
                UPDATE commands SET status = 'failed', error_code = \(FailureCode.outcomeUnknownExpired.rawValue), completed_at = now()
                WHERE id = \(id) AND status = 'pending' AND unknown_until < now()
                """,
                logger: logger
            )
            rows = try await client.fetch(
                "SELECT type, user_id, status, result, error_code, NULL::boolean FROM commands WHERE id = \(id)",
                logger: logger
            )
        }
        for (type, user, status, result, code, _) in try rows.map({ try $0.decode((String, String, String, String?, String?, Bool?).self) }) {
            return Record(
                id: id,
                type: type,
                userID: UserID(user),
                status: Record.Status(rawValue: status) ?? .pending,
                result: result,
                failure: code.flatMap(FailureCode.init(rawValue:))
            )
        }
        return nil
    }
}
