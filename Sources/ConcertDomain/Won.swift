/// An amount of money in whole Korean won.
public struct Won: Hashable, Sendable, Codable, Comparable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// The most one charge may add.
    public static let maximumCharge: Won = 100_000_000

    public let amount: Int64

    public init(_ amount: Int64) { self.amount = amount }
    public init(integerLiteral value: Int64) { self.amount = value }

    /// A charge amount: 1 … 100 000 000 won.
    public static func charge(_ amount: Int64?, field: String = "amount") throws(ValidationError) -> Won {
        guard let amount, (1...maximumCharge.amount).contains(amount) else {
            throw ValidationError(field: field, reason: "must be an integer from 1 to \(maximumCharge.amount)")
        }
        return Won(amount)
    }

    public var description: String { "₩\(amount)" }

    public static func < (lhs: Won, rhs: Won) -> Bool { lhs.amount < rhs.amount }
    public static func + (lhs: Won, rhs: Won) -> Won { Won(lhs.amount + rhs.amount) }
    public static func - (lhs: Won, rhs: Won) -> Won { Won(lhs.amount - rhs.amount) }

    public init(from decoder: any Decoder) throws {
        amount = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(amount)
    }
}
