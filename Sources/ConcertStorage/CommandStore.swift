public import ConcertDomain
public import Foundation
public import Logging
public import PostgresNIO

/// Commands' outcomes, as the partition workers recorded them: what `GET /v1/commands/{id}` reads.
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

    /// The command's outcome, or `nil` while it has none (pending, or never accepted: the API
    /// tells those apart by the command id itself).
    public func find(_ id: UUID) async throws -> Record? {
        let rows = try await client.fetch(
            "SELECT type, user_id, status, result, error_code FROM commands WHERE id = \(id)",
            logger: logger
        )
        for (type, user, status, result, code) in try rows.map({ try $0.decode((String, String, String, String?, String?).self) }) {
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
