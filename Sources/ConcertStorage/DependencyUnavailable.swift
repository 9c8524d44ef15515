/// A service the system depends on — the database or the broker — could not do what was asked,
/// for a reason that says nothing about the request and may pass (unreachable, restarting,
/// short of resources). Storage and the pipeline throw this one error; the API answers it with
/// `503` and `Retry-After`.
public struct DependencyUnavailable: Error, Sendable, CustomStringConvertible {
    /// Which dependency.
    public enum Dependency: String, Sendable {
        case database, broker
    }

    public let dependency: Dependency
    /// True when the work may have been done anyway (the connection was lost after the request
    /// was sent): the caller must not say "nothing was done".
    public let outcomeUnknown: Bool
    /// What went wrong, for logs (never shown to clients).
    public let underlying: String

    public init(_ dependency: Dependency, outcomeUnknown: Bool, underlying: String) {
        self.dependency = dependency
        self.outcomeUnknown = outcomeUnknown
        self.underlying = underlying
    }

    public var description: String {
        "\(dependency.rawValue) unavailable\(outcomeUnknown ? " (outcome unknown)" : ""): \(underlying)"
    }
}
