import ConcertStorage
import Foundation
import PostgresNIO
import TestSupport
import Testing

/// What readiness says of the database: `up` when a writable server answers, `failing-over` when
/// something answers at the address but no writable server is behind it (a proxy whose leader is
/// gone closes the connection at once), `down` when nothing answers.
@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct DatabaseStateTests {
    static let logger = DatabaseEnvironment.logger

    /// `body` with a running client of `address`.
    static func withClient<Result: Sendable>(_ address: DatabaseAddress, _ body: (PostgresClient) async throws -> Result) async throws -> Result {
        var configuration = address.clientConfiguration
        configuration.options.connectTimeout = .seconds(1)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    static func address(port: Int) throws -> DatabaseAddress {
        let real = try DatabaseAddress(url: DatabaseEnvironment.url)
        return try DatabaseAddress(url: "postgres://\(real.username):concert@127.0.0.1:\(port)/\(real.database)")
    }

    @Test func aWritableServerIsUp() async throws {
        let address = try DatabaseAddress(url: DatabaseEnvironment.url)
        let state = try await Self.withClient(address) { client in
            // A budget for a machine loaded by the parallel suites (connections there can take seconds).
            await DatabaseState.probe(client, address: address, within: .seconds(10), logger: Self.logger)
        }
        #expect(state == .up)
    }

    @Test func aProxyWithNoServerBehindItIsFailingOver() async throws {
        // Nothing listens on the proxy's target: it accepts each connection and closes it, as
        // HAProxy does while no member answers Patroni's /primary.
        let proxy = try SeverableProxy(targetPort: try freeLocalPort())
        defer { proxy.close() }
        let address = try Self.address(port: proxy.port)
        let state = try await Self.withClient(address) { client in
            // The direct connection gets the second half: three seconds, for a loaded machine.
            await DatabaseState.probe(client, address: address, within: .seconds(6), logger: Self.logger)
        }
        #expect(state == .failingOver)
    }

    @Test func nothingListeningIsDown() async throws {
        let address = try Self.address(port: try freeLocalPort())
        let state = try await Self.withClient(address) { client in
            await DatabaseState.probe(client, address: address, within: .seconds(2), logger: Self.logger)
        }
        #expect(state == .down)
    }
}
