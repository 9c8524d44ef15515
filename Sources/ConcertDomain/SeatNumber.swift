/// A seat's number within its schedule, counted from 1.
public struct SeatNumber: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    /// The largest seat number a request may name.
    public static let maximum = 10_000

    public let rawValue: Int

    /// `nil` outside 1…`maximum`.
    public init?(_ rawValue: Int) {
        guard (1...Self.maximum).contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// Validates a request field.
    public static func parse(_ rawValue: Int?, field: String = "seatNumber") throws(ValidationError) -> SeatNumber {
        guard let rawValue, let number = SeatNumber(rawValue) else {
            throw ValidationError(field: field, reason: "must be an integer from 1 to \(maximum)")
        }
        return number
    }

    public var description: String { String(rawValue) }

    public static func < (lhs: SeatNumber, rhs: SeatNumber) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(Int.self)
        guard let number = SeatNumber(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "seat number out of range"))
        }
        self = number
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
