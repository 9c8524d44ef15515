/// A concert's identifier: a positive integer.
public struct ConcertID: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public let rawValue: Int64

    /// `nil` unless `rawValue` is positive.
    public init?(_ rawValue: Int64) {
        guard rawValue > 0 else { return nil }
        self.rawValue = rawValue
    }

    /// Validates a request field or path segment.
    public static func parse(_ rawValue: Int64?, field: String = "concertId") throws(ValidationError) -> ConcertID {
        guard let rawValue, let id = ConcertID(rawValue) else {
            throw ValidationError(field: field, reason: "must be a positive integer")
        }
        return id
    }

    /// Validates a path segment.
    public static func parse(_ text: String, field: String = "concertId") throws(ValidationError) -> ConcertID {
        try parse(Int64(text), field: field)
    }

    public var description: String { String(rawValue) }

    public static func < (lhs: ConcertID, rhs: ConcertID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(Int64.self)
        guard let id = ConcertID(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "concert id must be positive"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
