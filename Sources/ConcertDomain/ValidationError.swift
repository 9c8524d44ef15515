/// Input that breaks a rule of the domain; names the field so a client can fix its request.
public struct ValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request field at fault, e.g. `seatNumber`.
    public let field: String
    /// What is wrong with it.
    public let reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}
