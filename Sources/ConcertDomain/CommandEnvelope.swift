public import Foundation

/// A command as it travels: `{"id","type","version","userId","partitionKey","payload","submittedAt"}`.
public struct CommandEnvelope: Sendable, Hashable, Codable {
    /// The only envelope version this build reads and writes.
    public static let currentVersion = 1

    public let id: UUID
    public let version: Int
    public let userId: UserID
    /// The schedule's key; the partition is a stable hash of it.
    public let partitionKey: String
    public let command: Command
    public let submittedAt: Date

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
        case unknownType(String)
        case unsupportedVersion(Int)
        case malformed(String)

        public var description: String {
            switch self {
            case .unknownType(let type): "unknown command type \(type)"
            case .unsupportedVersion(let version): "unsupported envelope version \(version)"
            case .malformed(let detail): "malformed envelope: \(detail)"
            }
        }
    }

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
        }
    }

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
        }
    }
}
