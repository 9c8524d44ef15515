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

    /// Decodes a message body, telling unknown types and versions apart from garbage.
    public static func decode(_ body: [UInt8]) throws(DecodingFailure) -> CommandEnvelope {
        if let envelope = readWritten(body) { return envelope }
        do {
            return try JSONDecoder.commands.decode(CommandEnvelope.self, from: Data(body))
        } catch let failure as DecodingFailure {
            throw failure
        } catch let error as DecodingError {
            throw .malformed(Self.describe(error))
        } catch {
            throw .malformed("not JSON")
        }
    }

    /// An envelope exactly as `encoded()` writes it (members in its order, plain strings), read
    /// with `JSONByteReader` rather than `JSONDecoder`, whose decoding was a fifth of a worker's CPU
    /// when it was measured. `nil` for anything else, which `JSONDecoder` then reads or refuses
    /// with the reason, so no envelope is read differently.
    static func readWritten(_ body: [UInt8]) -> CommandEnvelope? {
        var reader = JSONByteReader(body)
        guard reader.expect(#"{"id":"#), let id = reader.uuid(),
            reader.expect(#","partitionKey":"#), let partitionKey = reader.string(),
            reader.expect(#","payload":"#), let command = readWrittenPayload(&reader),
            reader.expect(#","submittedAt":"#), let submittedAt = reader.time(),
            reader.expect(#","type":"#), reader.string() == command.type.rawValue,
            reader.expect(#","userId":"#), let userId = reader.string().flatMap(UserID.init),
            reader.expect(#","version":"#), reader.integer() == Int64(currentVersion),
            reader.expect("}"), reader.atEnd
        else { return nil }
        return CommandEnvelope(id: id, userId: userId, partitionKey: partitionKey, command: command, submittedAt: submittedAt)
    }

    /// The payload as `payloadJSON` writes it; which command it is shows in its first member.
    private static func readWrittenPayload(_ reader: inout JSONByteReader) -> Command? {
        if reader.expect(#"{"concertId":"#) {
            guard let concert = reader.integer().flatMap(ConcertID.init),
                reader.expect(#","date":"#), let date = reader.string().flatMap(ScheduleDate.init),
                reader.expect(#","seatNumber":"#), let seat = reader.integer().flatMap({ SeatNumber(Int($0)) }),
                reader.expect("}")
            else { return nil }
            return .reserveSeat(.init(concertId: concert, date: date, seatNumber: seat))
        }
        if reader.expect(#"{"reservationId":"#) {
            guard let reservation = reader.uuid(), reader.expect("}") else { return nil }
            return .pay(.init(reservationId: reservation))
        }
        guard reader.expect(#"{"holds":["#) else { return nil }
        var holds: [Command.ExpireHold.Holds] = []
        if !reader.expect("]") {
            repeat {
                guard reader.expect(#"{"partitionKey":"#), let key = reader.string(), reader.expect(#","reservationIds":["#) else { return nil }
                var reservations: [UUID] = []
                if !reader.expect("]") {
                    repeat {
                        guard let reservation = reader.uuid() else { return nil }
                        reservations.append(reservation)
                    } while reader.expect(",")
                    guard reader.expect("]") else { return nil }
                }
                guard reader.expect("}") else { return nil }
                holds.append(.init(partitionKey: key, reservationIds: reservations))
            } while reader.expect(",")
            guard reader.expect("]") else { return nil }
        }
        guard reader.expect("}") else { return nil }
        return .expireHold(.init(holds: holds))
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field \(path(context.codingPath + [key]))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "field \(path(context.codingPath)) has the wrong type"
        case .dataCorrupted(let context) where !context.codingPath.isEmpty: return "field \(path(context.codingPath)) is invalid"
        default: return "not JSON"
        }
    }

    /// The JSON body to publish: what `JSONEncoder.commands` writes (sorted keys, RFC 3339 times,
    /// lower-case UUIDs), written by hand because every submit and every expiry does it.
    public func encoded() -> [UInt8] {
        var json = JSONText(capacity: 320)
        json.add("id", id)
        json.add("partitionKey", partitionKey)
        json.add("payload", json: payloadJSON)
        json.add("submittedAt", submittedAt)
        json.add("type", command.type.rawValue)
        json.add("userId", userId.rawValue)
        json.add("version", Int64(version))
        return Array(json.finish().utf8)
    }

    var payloadJSON: String {
        var payload = JSONText(capacity: 96)
        switch command {
        case .reserveSeat(let reserve):
            payload.add("concertId", reserve.concertId.rawValue)
            payload.add("date", reserve.date.description)
            payload.add("seatNumber", Int64(reserve.seatNumber.rawValue))
        case .pay(let pay):
            payload.add("reservationId", pay.reservationId)
        case .expireHold(let expire):
            let holds = expire.holds.map { holds in
                var group = JSONText(capacity: 64 + 40 * holds.reservationIds.count)
                group.add("partitionKey", holds.partitionKey)
                group.add("reservationIds", json: "[" + holds.reservationIds.map { "\"\($0.lowercasedString)\"" }.joined(separator: ",") + "]")
                return group.finish()
            }
            payload.add("holds", json: "[" + holds.joined(separator: ",") + "]")
        }
        return payload.finish()
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

extension JSONEncoder {
    /// RFC 3339 times, sorted keys: the encoding of envelopes and results (one shared instance:
    /// it is configured once and only read after, and envelopes are encoded on every publish).
    public static let commands: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

extension JSONDecoder {
    /// Reads what `JSONEncoder.commands` writes (shared, like the encoder: decoded on every delivery).
    public static let commands: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
