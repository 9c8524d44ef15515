/// A concert's identifier: a positive integer.
public struct ConcertID: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    /// The identifier; always positive.
    public let rawValue: Int64

    /// The id `rawValue`; `nil` unless it is positive.
    ///
    /// - Parameters:
    ///   - rawValue: The identifier.
    public init?(_ rawValue: Int64) {
        guard rawValue > 0 else { return nil }
        self.rawValue = rawValue
    }

    /// Validates a request field or path segment.
    ///
    /// - Parameters:
    ///   - rawValue: The value sent; `nil` when the request has none.
    ///   - field: The field's name, for the error.
    /// - Returns: The concert id.
    /// - Throws: `ValidationError` for `field`, "must be a positive integer", when `rawValue` is `nil` or not positive.
    public static func parse(_ rawValue: Int64?, field: String = "concertId") throws(ValidationError) -> ConcertID {
        guard let rawValue, let id = ConcertID(rawValue) else {
            throw ValidationError(field: field, reason: "must be a positive integer")
        }
        return id
    }

    /// Validates a path segment.
    ///
    /// - Parameters:
    ///   - text: The segment's text, a decimal integer.
    ///   - field: The field's name, for the error.
    /// - Returns: The concert id.
    /// - Throws: `ValidationError` for `field`, "must be a positive integer", when `text` is not an integer that fits
    ///   `Int64` or is not positive.
    public static func parse(_ text: String, field: String = "concertId") throws(ValidationError) -> ConcertID {
        try parse(Int64(text), field: field)
    }

    /// The id in decimal, e.g. `42`.
    public var description: String { String(rawValue) }

    /// Orders ids by value.
    ///
    /// - Parameters:
    ///   - lhs: An id.
    ///   - rhs: Another id.
    /// - Returns: `true` when `lhs` is the smaller.
    public static func < (lhs: ConcertID, rhs: ConcertID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Reads the id from a single integer value.
    ///
    /// - Parameters:
    ///   - decoder: The decoder of the value.
    /// - Throws: `DecodingError` when the value is not an `Int64` or not positive.
    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(Int64.self)
        guard let id = ConcertID(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "concert id must be positive"))
        }
        self = id
    }

    /// Writes the id as a single integer value.
    ///
    /// - Parameters:
    ///   - encoder: The encoder to write to.
    /// - Throws: Any error `encoder` throws.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
