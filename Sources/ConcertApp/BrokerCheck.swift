public import AMQPClient
public import Logging

/// Says in one line what is wrong with the broker settings, before a connection would retry them
/// for ever (the RabbitMQ counterpart of `DatabaseCheck`).
public enum BrokerCheck {
    /// Why the broker cannot be used, said for the person who configured it.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        /// What failed: nothing answered, the login, or the virtual host.
        public enum Kind: Sendable { case unreachable, loginRefused, virtualHost }
        public let kind: Kind
        public let description: String
    }

    /// Connects once and closes; throws `Problem` when that fails.
    public static func check(_ configuration: AMQPConfiguration, logger: Logger) async throws {
        var quiet = logger
        quiet.logLevel = .error
        do {
            try await AMQPConnection.probe(configuration, logger: quiet)
        } catch let error as AMQPError {
            throw problem(error, configuration: configuration)
        }
    }

    static func problem(_ error: AMQPError, configuration: AMQPConfiguration) -> Problem {
        let text = error.message
        let nodes = configuration.addresses.map(\.description).joined(separator: ", ")
        if error.replyCode == 403 || text.contains("ACCESS_REFUSED") {
            return Problem(
                kind: .loginRefused,
                description: "RabbitMQ refused the login of user \"\(configuration.username)\" — check CONCERT_AMQP_URL"
            )
        }
        if error.replyCode == 530 || text.contains("NOT_ALLOWED") {
            return Problem(
                kind: .virtualHost,
                description:
                    "virtual host \"\(configuration.virtualHost)\" does not exist on \(nodes), or user \"\(configuration.username)\" may not use it — check CONCERT_AMQP_URL"
            )
        }
        return Problem(
            kind: .unreachable,
            description: "cannot reach RabbitMQ at \(nodes) — is it running? (scripts/services up starts it) — check CONCERT_AMQP_URL"
        )
    }
}
