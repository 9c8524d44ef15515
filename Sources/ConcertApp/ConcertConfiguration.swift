public import Logging

/// Everything a `concert` process is told from outside, read once from the environment (§8 of the design).
public struct ConcertConfiguration: Sendable {
    /// `CONCERT_HTTP_HOST` (127.0.0.1) and `CONCERT_HTTP_PORT` (8080).
    public var httpHost: String
    public var httpPort: Int
    /// `CONCERT_DATABASE_URL`: postgres://user:password@host:port/database.
    public var databaseURL: String
    /// `CONCERT_AMQP_URL`: amqp://user:password@host:port/vhost.
    public var amqpURL: String
    /// `CONCERT_LOG_LEVEL` (info).
    public var logLevel: Logger.Level

    /// Defaults that match what `scripts/services up` starts.
    public init(
        httpHost: String = "127.0.0.1",
        httpPort: Int = 8080,
        databaseURL: String = "postgres://concert:concert@127.0.0.1:5432/concert",
        amqpURL: String = "amqp://concert:concert@127.0.0.1:5672/%2F",
        logLevel: Logger.Level = .info
    ) {
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.databaseURL = databaseURL
        self.amqpURL = amqpURL
        self.logLevel = logLevel
    }

    /// Reads the `CONCERT_*` variables; unset ones keep their defaults, malformed ones are an error.
    public init(environment: [String: String]) throws {
        self.init()
        if let host = environment["CONCERT_HTTP_HOST"] { httpHost = host }
        if let port = environment["CONCERT_HTTP_PORT"] {
            guard let value = Int(port), (1...65535).contains(value) else {
                throw ConfigurationError(variable: "CONCERT_HTTP_PORT", problem: "must be a port number, got \(port)")
            }
            httpPort = value
        }
        if let url = environment["CONCERT_DATABASE_URL"] { databaseURL = url }
        if let url = environment["CONCERT_AMQP_URL"] { amqpURL = url }
        if let level = environment["CONCERT_LOG_LEVEL"] {
            guard let value = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError(variable: "CONCERT_LOG_LEVEL", problem: "must be one of trace, debug, info, notice, warning, error, critical")
            }
            logLevel = value
        }
    }
}

/// A configuration variable that cannot be used.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let variable: String
    public let problem: String
    public var description: String { "\(variable) \(problem)" }
}
