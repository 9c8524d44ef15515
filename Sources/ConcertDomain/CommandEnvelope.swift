public import Foundation

/// A command as it travels: `{"id","type","version","userId","partitionKey","payload","submittedAt"}`.
public struct CommandEnvelope: Sendable, Hashable, Codable {
    /// The only envelope version this build reads and writes.
    public static let currentVersion = 1

    /// The command's id, the same on every delivery of the message: a successful `ReserveSeat` makes the reservation
    /// of this id, a successful `Pay` the payment of this id.
    public let id: UUID
    /// The envelope format's version: always `currentVersion` (an envelope of another is not decoded).
    public let version: Int
    /// The user who submitted the command.
    public let userId: UserID
    /// The schedule's key; the partition is a stable hash of it.
    public let partitionKey: String
    /// What to do; on the wire, the envelope's `type` and `payload`.
    public let command: Command
    /// When the command was submitted (for an expiry, when it was published).
    public let submittedAt: Date

    /// An envelope of version `currentVersion`.
    ///
    /// - Parameters:
    ///   - id: The command's id.
    ///   - userId: The submitting user.
    ///   - partitionKey: The schedule's partition key (`ScheduleKey.partitionKey`).
    ///   - command: What to do.
    ///   - submittedAt: When the command was submitted.
    public init(id: UUID, userId: UserID, partitionKey: String, command: Command, submittedAt: Date) {
        self.id = id
        self.version = Self.currentVersion
        self.userId = userId
        self.partitionKey = partitionKey
        self.command = command
        self.submittedAt = submittedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, type, version, userId, partitionKey, payload, submittedAt
    }

    /// Why a message is not a command this build can apply (it goes to the dead letters with this reason).
    public enum DecodingFailure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The `type` names no `CommandType`; the associated value is that name.
        case unknownType(String)
        /// The `version` is not `currentVersion`; the associated value is that version.
        case unsupportedVersion(Int)
        /// The body is not a well-formed envelope; the associated value says what is wrong.
        case malformed(String)

        /// The reason in words, e.g. `unsupported envelope version 2`.
        public var description: String {
            switch self {
            case .unknownType(let type): "unknown command type \(type)"
            case .unsupportedVersion(let version): "unsupported envelope version \(version)"
            case .malformed(let detail): "malformed envelope: \(detail)"
            }
        }
    }

    /// Reads an envelope, checking its `version` and then its `type` before the other members.
    ///
    /// - Parameters:
    ///   - decoder: The decoder of the envelope.
    /// - Throws: `DecodingFailure.unsupportedVersion` when `version` is not `currentVersion`, `DecodingFailure.unknownType`
    ///   when `type` names no `CommandType`, and `DecodingError` when a member is missing or not of its type.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let typeName = try container.decode(String.self, forKey: .type)
        let version = try container.decode(Int.self, forKey: .version)
        guard version == Self.currentVersion else { throw DecodingFailure.unsupportedVersion(version) }
        guard let type = CommandType(rawValue: typeName) else { throw DecodingFailure.unknownType(typeName) }
        id = try container.decode(UUID.self, forKey: .id)
        self.version = version
        userId = try container.decode(UserID.self, forKey: .userId)
        partitionKey = try container.decode(String.self, forKey: .partitionKey)
        submittedAt = try container.decode(Date.self, forKey: .submittedAt)
        switch type {
        case .reserveSeat: command = .reserveSeat(try container.decode(Command.ReserveSeat.self, forKey: .payload))
        case .pay: command = .pay(try container.decode(Command.Pay.self, forKey: .payload))
        case .expireHold: command = .expireHold(try container.decode(Command.ExpireHold.self, forKey: .payload))
        case .setSeatMap: command = .setSeatMap(try container.decode(Command.SetSeatMap.self, forKey: .payload))
        case .release: command = .release(try container.decode(Command.Release.self, forKey: .payload))
        case .refund: command = .refund(try container.decode(Command.Refund.self, forKey: .payload))
        case .cancelDate: command = .cancelDate(try container.decode(Command.CancelDate.self, forKey: .payload))
        }
    }

    /// Writes the envelope's members, the command as `type` and `payload`.
    ///
    /// - Parameters:
    ///   - encoder: The encoder to write to.
    /// - Throws: Any error `encoder` throws.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(command.type.rawValue, forKey: .type)
        try container.encode(version, forKey: .version)
        try container.encode(userId, forKey: .userId)
        try container.encode(partitionKey, forKey: .partitionKey)
        try container.encode(submittedAt, forKey: .submittedAt)
        switch command {
        case .reserveSeat(let payload): try container.encode(payload, forKey: .payload)
        case .pay(let payload): try container.encode(payload, forKey: .payload)
        case .expireHold(let payload): try container.encode(payload, forKey: .payload)
        case .setSeatMap(let payload): try container.encode(payload, forKey: .payload)
        case .release(let payload): try container.encode(payload, forKey: .payload)
        case .refund(let payload): try container.encode(payload, forKey: .payload)
        case .cancelDate(let payload): try container.encode(payload, forKey: .payload)
        }
    }
}
