/// Input that breaks a rule of the domain; names the field so a client can fix its request.
public struct ValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request field at fault, e.g. `seatNumber`.
    public let field: String
    /// What is wrong with it.
    public let reason: String

    /// An error naming `field` and what is wrong with it.
    ///
    /// - Parameters:
    ///   - field: The request field at fault.
    ///   - reason: What is wrong with it, e.g. `must be a positive integer`.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    /// `field: reason`, e.g. `seatNumber: must be an integer from 1 to 10000`.
    public var description: String { "\(field): \(reason)" }
}
