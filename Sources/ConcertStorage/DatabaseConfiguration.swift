import Foundation
import NIOSSL
public import PostgresNIO

/// Where the database is, parsed once from `postgres://user:password@host:port/database`
/// (`postgresql://` works too).
///
/// `sslmode=disable` or a loopback host turns TLS off; otherwise TLS is preferred.
/// `search_path=…` sets the schema search path of every connection.
/// Errors and `description` never contain the password.
public struct DatabaseAddress: Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let username: String
    let password: String?
    public let database: String
    let tls: Bool
    let searchPath: String?

    public init(url: String) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty, let user = components.user
        else {
            throw DatabaseURLError(message: "expected postgres://user:password@host:port/database")
        }
        self.host = host
        port = components.port ?? 5432
        username = user.removingPercentEncoding ?? user
        password = components.password?.removingPercentEncoding
        database = components.path.count > 1 ? String(components.path.dropFirst()) : username
        let sslMode = components.queryItems?.first { $0.name == "sslmode" }?.value
        let isLoopback = host == "localhost" || host.hasPrefix("127.") || host == "::1"
        tls = !(sslMode == "disable" || (sslMode == nil && isLoopback))
        searchPath = components.queryItems?.first(where: { $0.name == "search_path" })?.value
    }

    /// `postgres://user@host:port/database`, without the password.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }

    /// What a connection pool needs.
    public var clientConfiguration: PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: tls ? .prefer(.makeClientConfiguration()) : .disable
        )
        if let searchPath { configuration.options.additionalStartupParameters.append(("search_path", searchPath)) }
        return configuration
    }

    /// What a single connection needs (the start-up check).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: tls ? .prefer(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable
        )
        if let searchPath { configuration.options.additionalStartupParameters.append(("search_path", searchPath)) }
        return configuration
    }
}

extension PostgresClient.Configuration {
    /// Parses `postgres://user:password@host:port/database` (see `DatabaseAddress`).
    public init(url: String) throws {
        self = try DatabaseAddress(url: url).clientConfiguration
    }
}

/// A database URL that cannot be used.
public struct DatabaseURLError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "invalid CONCERT_DATABASE_URL: \(message)" }
}
