public import ConcertDomain
import ConcertWire
public import Foundation

/// A command's outcome as it travels from a partition worker back to the API process that
/// submitted it (`Prefer: wait`): enough to answer the waiting request without a database read.
public struct CommandOutcome: Sendable, Hashable {
    public let commandID: UUID
    public let type: CommandType
    /// The failure, or `nil` for a success.
    public let failure: FailureCode?
    /// The result JSON of a success that has one, as it is served.
    public let resultJSON: String?

    public init(commandID: UUID, type: CommandType, failure: FailureCode?, resultJSON: String?) {
        self.commandID = commandID
        self.type = type
        self.failure = failure
        self.resultJSON = resultJSON
    }

    /// `outcome` with its `result` JSON, encoded already (`Outcome.resultJSON`).
    public init(_ outcome: Outcome, resultJSON: String?) {
        self.init(commandID: outcome.envelope.id, type: outcome.envelope.command.type, failure: outcome.failure, resultJSON: resultJSON)
    }

    /// `succeeded` or `failed`.
    public var status: String { failure == nil ? "succeeded" : "failed" }
}

extension CommandOutcome {
    /// The AMQP `type` of a message of outcomes.
    public static let messageType = "CommandOutcomes"

    /// Many outcomes in one message body: a line each, `id type status code result`, where `code`
    /// and `result` are `-` when absent. The result JSON comes last and has no line breaks (JSON
    /// escapes them), so a line splits without a JSON parser.
    public static func encode(_ outcomes: [CommandOutcome]) -> [UInt8] {
        var text = ""
        text.reserveCapacity(outcomes.count * 220)
        for outcome in outcomes {
            text += outcome.commandID.lowercasedString
            text += " "
            text += outcome.type.rawValue
            text += " "
            text += outcome.status
            text += " "
            text += outcome.failure?.rawValue ?? "-"
            text += " "
            text += outcome.resultJSON ?? "-"
            text += "\n"
        }
        return Array(text.utf8)
    }

    /// Reads what `encode` wrote; lines it cannot read are skipped.
    public static func decode(_ body: [UInt8]) -> [CommandOutcome] {
        body.split(separator: UInt8(ascii: "\n")).compactMap { line in
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 4, omittingEmptySubsequences: false)
            guard fields.count == 5, let id = UUID(uuidString: String(decoding: fields[0], as: UTF8.self)),
                let type = CommandType(rawValue: String(decoding: fields[1], as: UTF8.self))
            else { return nil }
            let code = String(decoding: fields[3], as: UTF8.self)
            let result = String(decoding: fields[4], as: UTF8.self)
            let failure = code == "-" ? nil : FailureCode(rawValue: code)
            if code != "-", failure == nil { return nil }
            return CommandOutcome(commandID: id, type: type, failure: failure, resultJSON: result == "-" ? nil : result)
        }
    }
}

/// Queue tokens that a payment ended, announced to every API process (they keep active tokens in memory).
public struct EndedToken: Sendable, Hashable {
    public let concert: ConcertID
    public let user: UserID

    public init(concert: ConcertID, user: UserID) {
        self.concert = concert
        self.user = user
    }

    /// The AMQP `type` of a message of ended tokens.
    public static let messageType = "TokensEnded"

    /// A line each: `concertId userId`.
    public static func encode(_ tokens: [EndedToken]) -> [UInt8] {
        Array(tokens.map { "\($0.concert.rawValue) \($0.user.rawValue)\n" }.joined().utf8)
    }

    public static func decode(_ body: [UInt8]) -> [EndedToken] {
        body.split(separator: UInt8(ascii: "\n")).compactMap { line in
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count == 2, let raw = Int64(String(decoding: fields[0], as: UTF8.self)), let concert = ConcertID(raw),
                let user = UserID(String(decoding: fields[1], as: UTF8.self))
            else { return nil }
            return EndedToken(concert: concert, user: user)
        }
    }
}
