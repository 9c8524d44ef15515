public import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// Connects once, on its own, to tell a person in one line what is wrong with the database
/// settings — before a connection pool would retry them for ever and log every attempt.
public enum DatabaseCheck {
    /// Why the database cannot be used, said for the person who configured it.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
        /// True when retrying cannot help without a change of settings (a refused login, a missing database).
        public let isConfiguration: Bool
    }

    /// Opens one connection to `address` and closes it; throws `Problem` if that fails or takes longer than `timeout`.
    public static func check(_ address: DatabaseAddress, timeout: Duration = .seconds(10), logger: Logger) async throws {
        var silenced = logger
        silenced.logLevel = .critical
        let quiet = silenced
        let configuration: PostgresConnection.Configuration
        do {
            configuration = try address.connectionConfiguration()
        } catch {
            throw Problem(description: "cannot set up TLS for \(address): \(error)", isConfiguration: true)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    let connection = try await PostgresConnection.connect(
                        on: MultiThreadedEventLoopGroup.singleton.next(),
                        configuration: configuration,
                        id: 0,
                        logger: quiet
                    )
                    try await connection.close()
                } catch let error as PSQLError {
                    throw problem(error, address: address)
                } catch {
                    // A TLS handshake that failed (a certificate that does not verify, or no TLS at all).
                    guard address.requiresTLS else { throw error }
                    throw Problem(
                        description:
                            "TLS to PostgreSQL at \(address.host):\(address.port) failed (sslmode=\(address.tlsMode.rawValue) in CONCERT_DATABASE_URL requires it): \(error)",
                        isConfiguration: true
                    )
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw Problem(
                    description: "PostgreSQL at \(address.host):\(address.port) did not answer within \(timeout) — check CONCERT_DATABASE_URL",
                    isConfiguration: false
                )
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    static func problem(_ error: PSQLError, address: DatabaseAddress) -> Problem {
        let message = error.serverInfo?[.message] ?? ""
        if error.code == .sslUnsupported {
            return Problem(
                description:
                    "PostgreSQL at \(address.host):\(address.port) does not offer TLS, and sslmode=\(address.tlsMode.rawValue) in CONCERT_DATABASE_URL requires it",
                isConfiguration: true
            )
        }
        switch error.sqlState {
        case "28P01", "28000":
            return Problem(
                description: "PostgreSQL refused the login of user \"\(address.username)\": \(message) — check CONCERT_DATABASE_URL",
                isConfiguration: true
            )
        case "3D000":
            return Problem(
                description: "database \"\(address.database)\" does not exist on \(address.host):\(address.port) — check CONCERT_DATABASE_URL",
                isConfiguration: true
            )
        case let state?:
            return Problem(
                description: "PostgreSQL at \(address.host):\(address.port) refused the connection (\(state)): \(message)",
                isConfiguration: false
            )
        case nil:
            return Problem(
                description:
                    "cannot reach PostgreSQL at \(address.host):\(address.port) — is it running? (scripts/services up starts it) — check CONCERT_DATABASE_URL",
                isConfiguration: false
            )
        }
    }
}
