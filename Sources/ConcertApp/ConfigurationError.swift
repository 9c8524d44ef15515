/// A configuration variable that cannot be used.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let variable: String
    public let problem: String
    public var description: String { "\(variable) \(problem)" }
}

/// Every configuration variable that cannot be used, said together: one line each, under a line
/// that counts them (one problem is just its line).
public struct ConfigurationProblems: Error, Sendable, CustomStringConvertible {
    public let problems: [ConfigurationError]

    public init(_ problems: [ConfigurationError]) { self.problems = problems }

    public var description: String {
        guard problems.count > 1 else { return problems.first?.description ?? "no configuration problems" }
        return (["\(problems.count) settings need fixing:"] + problems.map { "  \($0)" }).joined(separator: "\n")
    }
}
