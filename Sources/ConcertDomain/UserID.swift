/// A user's identifier: 1…64 characters of `A–Z a–z 0–9 _ -`.
public struct UserID: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The identifier as the client sent it.
    public let rawValue: String

    /// Validates `rawValue`; `nil` when it does not match `^[A-Za-z0-9_-]{1,64}$`.
    ///
    /// - Parameters:
    ///   - rawValue: The identifier as the client sent it.
    public init?(_ rawValue: String) {
        let utf8 = rawValue.utf8
        guard (1...64).contains(utf8.count), utf8.allSatisfy(Self.isAllowed) else { return nil }
        self.rawValue = rawValue
    }

    /// Validates a request field.
    ///
    /// - Parameters:
    ///   - rawValue: The value sent.
    ///   - field: The field's name, for the error.
    /// - Returns: The user id.
    /// - Throws: `ValidationError` for `field`, "must be 1-64 characters of A-Z a-z 0-9 _ -", when `rawValue` does not
    ///   match `^[A-Za-z0-9_-]{1,64}$`.
    public static func parse(_ rawValue: String, field: String = "userId") throws(ValidationError) -> UserID {
        guard let id = UserID(rawValue) else {
            throw ValidationError(field: field, reason: "must be 1-64 characters of A-Z a-z 0-9 _ -")
        }
        return id
    }

    /// The identifier as the client sent it.
    public var description: String { rawValue }

    /// Whose name an operator's commands travel under (a seat map, a refund, a cancelled date):
    /// every command is some user's.
    public static let `operator` = UserID("operator")!

    /// Reads the identifier from a single string value.
    ///
    /// - Parameters:
    ///   - decoder: The decoder of the value.
    /// - Throws: `DecodingError` when the value is not a string matching `^[A-Za-z0-9_-]{1,64}$`.
    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let id = UserID(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid user id"))
        }
        self = id
    }

    /// Writes the identifier as a single string value.
    ///
    /// - Parameters:
    ///   - encoder: The encoder to write to.
    /// - Throws: Any error `encoder` throws.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}
