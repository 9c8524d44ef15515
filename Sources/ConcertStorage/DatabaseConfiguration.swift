import Foundation
import NIOSSL
public import PostgresNIO

/// Where the database is, parsed once from `postgres://user:password@host:port/database`
/// (`postgresql://` works too).
///
/// TLS follows libpq's `sslmode`: `disable`; `allow` and `prefer` (the default, except on a
/// loopback host, where it is `disable`) use TLS when the server offers it; `require` refuses a
/// server without TLS (without checking its certificate, unless `sslrootcert` names a CA file:
/// then as `verify-ca`); `verify-ca` also checks the certificate chain against `sslrootcert` (or
/// the system's roots); `verify-full` also checks that the certificate names the host.
/// `search_path=…` sets the schema search path of every connection.
/// Errors and `description` never contain the password.
public struct DatabaseAddress: Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let username: String
    let password: String?
    public let database: String
    /// What `sslmode` asks for.
    public enum TLSMode: String, Sendable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public let tlsMode: TLSMode
    /// `sslrootcert`: the CA certificates (PEM) a server's certificate must chain to.
    let rootCertificates: String?
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
        let isLoopback = host == "localhost" || host.hasPrefix("127.") || host == "::1"
        if let sslMode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value {
            guard let mode = TLSMode(rawValue: sslMode) else {
                throw DatabaseURLError(message: "sslmode must be disable, allow, prefer, require, verify-ca or verify-full, got '\(sslMode)'")
            }
            tlsMode = mode
        } else {
            tlsMode = isLoopback ? .disable : .prefer
        }
        rootCertificates = components.queryItems?.first(where: { $0.name == "sslrootcert" })?.value
        if let rootCertificates, !FileManager.default.isReadableFile(atPath: rootCertificates) {
            throw DatabaseURLError(message: "sslrootcert names no readable file: \(rootCertificates)")
        }
        searchPath = components.queryItems?.first(where: { $0.name == "search_path" })?.value
    }

    /// `postgres://user@host:port/database`, without the password.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }

    /// True when a connection must be encrypted.
    public var requiresTLS: Bool { [.require, .verifyCA, .verifyFull].contains(tlsMode) }

    /// The TLS settings `sslmode` and `sslrootcert` ask for.
    var tlsConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let rootCertificates { configuration.trustRoots = .file(rootCertificates) }
        switch tlsMode {
        case .verifyFull: configuration.certificateVerification = .fullVerification
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .require: configuration.certificateVerification = rootCertificates == nil ? .none : .noHostnameVerification
        case .disable, .allow, .prefer: configuration.certificateVerification = .none
        }
        return configuration
    }

    /// What a connection pool needs.
    public var clientConfiguration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch tlsMode {
            case .disable: .disable
            case .allow, .prefer: .prefer(tlsConfiguration)
            case .require, .verifyCA, .verifyFull: .require(tlsConfiguration)
            }
        var configuration = PostgresClient.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: tls
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
            tls: try connectionTLS()
        )
        if let searchPath { configuration.options.additionalStartupParameters.append(("search_path", searchPath)) }
        return configuration
    }
}

extension DatabaseAddress {
    func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch tlsMode {
        case .disable: .disable
        case .allow, .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration))
        case .require, .verifyCA, .verifyFull: .require(try NIOSSLContext(configuration: tlsConfiguration))
        }
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
