/// Input that breaks a rule of the domain; names the field so a client can fix its request.
public struct ValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request field at fault, e.g. `seatNumber`.
    public let field: String
    /// What is wrong with it.
    public let reason: String
    /// True when each value keeps its own rules and together they break one (a name used twice,
    /// a total over its bound): no schema of single fields can say it, and the API answers 409.
    public var isInconsistency = false

    /// An error naming `field` and what is wrong with it.
    ///
    /// - Parameters:
    ///   - field: The request field at fault.
    ///   - reason: What is wrong with it, e.g. `must be a positive integer`.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    /// `field: reason`, e.g. `seatNumber: must be an integer from 1 to 100000`.
    public var description: String { "\(field): \(reason)" }
}
