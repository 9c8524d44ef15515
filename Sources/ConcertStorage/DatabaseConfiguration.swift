import Foundation
public import PostgresNIO

extension PostgresClient.Configuration {
    /// Parses `postgres://user:password@host:port/database` (`postgresql://` works too).
    ///
    /// `sslmode=disable` or a loopback host turns TLS off; otherwise TLS is preferred.
    /// `search_path=…` sets the schema search path of every connection.
    /// Errors never contain the password.
    public init(url: String) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty, let user = components.user
        else {
            throw DatabaseURLError(message: "expected postgres://user:password@host:port/database")
        }
        let database = components.path.count > 1 ? String(components.path.dropFirst()) : user
        let sslMode = components.queryItems?.first { $0.name == "sslmode" }?.value
        let isLoopback = host == "localhost" || host.hasPrefix("127.") || host == "::1"
        let tls: TLS = sslMode == "disable" || (sslMode == nil && isLoopback) ? .disable : .prefer(.makeClientConfiguration())
        self.init(
            host: host,
            port: components.port ?? 5432,
            username: user.removingPercentEncoding ?? user,
            password: components.password?.removingPercentEncoding,
            database: database,
            tls: tls
        )
        if let searchPath = components.queryItems?.first(where: { $0.name == "search_path" })?.value {
            options.additionalStartupParameters.append(("search_path", searchPath))
        }
    }
}

/// A database URL that cannot be used.
public struct DatabaseURLError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "invalid CONCERT_DATABASE_URL: \(message)" }
}
