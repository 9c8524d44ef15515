/// An amount of money in whole Korean won.
public struct Won: Hashable, Sendable, Codable, Comparable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// The most one charge may add.
    public static let maximumCharge: Won = 100_000_000

    /// The amount in whole won; not checked, so it may be negative.
    public let amount: Int64

    /// `amount` won.
    ///
    /// - Parameters:
    ///   - amount: The amount in whole won, not checked.
    public init(_ amount: Int64) { self.amount = amount }
    /// An amount written as an integer literal, e.g. `let price: Won = 50_000`.
    ///
    /// - Parameters:
    ///   - value: The amount in whole won.
    public init(integerLiteral value: Int64) { self.amount = value }

    /// A charge amount: 1 … 100 000 000 won.
    ///
    /// - Parameters:
    ///   - amount: The value sent; `nil` when the request has none.
    ///   - field: The field's name, for the error.
    /// - Returns: The amount.
    /// - Throws: `ValidationError` for `field`, "must be an integer from 1 to 100000000", when `amount` is `nil` or outside
    ///   1…`maximumCharge`.
    public static func charge(_ amount: Int64?, field: String = "amount") throws(ValidationError) -> Won {
        guard let amount, (1...maximumCharge.amount).contains(amount) else {
            throw ValidationError(field: field, reason: "must be an integer from 1 to \(maximumCharge.amount)")
        }
        return Won(amount)
    }

    /// The amount with the won sign, e.g. `₩50000`.
    public var description: String { "₩\(amount)" }

    /// Orders amounts by value.
    ///
    /// - Parameters:
    ///   - lhs: An amount.
    ///   - rhs: Another amount.
    /// - Returns: `true` when `lhs` is the smaller.
    public static func < (lhs: Won, rhs: Won) -> Bool { lhs.amount < rhs.amount }
    /// The sum of two amounts; traps on `Int64` overflow.
    ///
    /// - Parameters:
    ///   - lhs: An amount.
    ///   - rhs: The amount to add.
    /// - Returns: `lhs` plus `rhs`.
    public static func + (lhs: Won, rhs: Won) -> Won { Won(lhs.amount + rhs.amount) }
    /// The difference of two amounts; traps on `Int64` overflow.
    ///
    /// - Parameters:
    ///   - lhs: An amount.
    ///   - rhs: The amount to subtract.
    /// - Returns: `lhs` minus `rhs`, negative when `rhs` is the larger.
    public static func - (lhs: Won, rhs: Won) -> Won { Won(lhs.amount - rhs.amount) }

    /// Reads the amount from a single integer value, not checked.
    ///
    /// - Parameters:
    ///   - decoder: The decoder of the value.
    /// - Throws: `DecodingError` when the value is not an `Int64`.
    public init(from decoder: any Decoder) throws {
        amount = try decoder.singleValueContainer().decode(Int64.self)
    }

    /// Writes the amount as a single integer value.
    ///
    /// - Parameters:
    ///   - encoder: The encoder to write to.
    /// - Throws: Any error `encoder` throws.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(amount)
    }
}
