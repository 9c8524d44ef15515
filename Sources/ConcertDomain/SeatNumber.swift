/// A seat's number within its schedule, counted from 1.
public struct SeatNumber: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    /// The largest seat number a request may name.
    public static let maximum = 100_000

    /// The number, 1…`maximum`.
    public let rawValue: Int

    /// The seat number `rawValue`; `nil` outside 1…`maximum`.
    ///
    /// - Parameters:
    ///   - rawValue: The number.
    public init?(_ rawValue: Int) {
        guard (1...Self.maximum).contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// Validates a request field.
    ///
    /// - Parameters:
    ///   - rawValue: The value sent; `nil` when the request has none.
    ///   - field: The field's name, for the error.
    /// - Returns: The seat number.
    /// - Throws: `ValidationError` for `field`, "must be an integer from 1 to 100000", when `rawValue` is `nil` or outside
    ///   1…`maximum`.
    public static func parse(_ rawValue: Int?, field: String = "seatNumber") throws(ValidationError) -> SeatNumber {
        guard let rawValue, let number = SeatNumber(rawValue) else {
            throw ValidationError(field: field, reason: "must be an integer from 1 to \(maximum)")
        }
        return number
    }

    /// The number in decimal, e.g. `7`.
    public var description: String { String(rawValue) }

    /// Orders seat numbers by value.
    ///
    /// - Parameters:
    ///   - lhs: A seat number.
    ///   - rhs: Another seat number.
    /// - Returns: `true` when `lhs` is the smaller.
    public static func < (lhs: SeatNumber, rhs: SeatNumber) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Reads the seat number from a single integer value.
    ///
    /// - Parameters:
    ///   - decoder: The decoder of the value.
    /// - Throws: `DecodingError` when the value is not an `Int` or outside 1…`maximum`.
    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(Int.self)
        guard let number = SeatNumber(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "seat number out of range"))
        }
        self = number
    }

    /// Writes the seat number as a single integer value.
    ///
    /// - Parameters:
    ///   - encoder: The encoder to write to.
    /// - Throws: Any error `encoder` throws.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
