import ConcertAPI
import ConcertStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import TestSupport
import Testing

/// A database that stops answering without closing its connections (paused, a silent network, a
/// failover under way). `Disruptive…`: it lowers the process's database time limit, which must
/// not cut other suites' slow statements, so `scripts/test` runs it on its own.
@Suite(.serialized, .enabled(if: DatabaseEnvironment.isConfigured))
struct DisruptiveSilentDatabaseTests {
    static let logger = DatabaseEnvironment.logger

    @Test func aSilentDatabaseIsAnswered503WithinTheLimitAndReadsComeBackByThemselves() async throws {
        DatabaseTimeout.set(.seconds(2))
        defer { DatabaseTimeout.set(.seconds(10)) }
        try await APIHarness.withAPI { _, harness in
            let proxy = try SeverableProxy(targetPort: try DatabaseAddress(url: harness.databaseURL).port)
            defer { proxy.close() }
            var url = try #require(URLComponents(string: harness.databaseURL))
            url.port = proxy.port
            let database = PostgresClient(configuration: try .init(url: try #require(url.string)), backgroundLogger: Self.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.run() }
                defer { group.cancelAll() }
                let services = await APIHarness.services(database, broker: harness.broker, partitions: 2)
                let app = Application(router: buildAPIRouter(services))
                try await app.test(.router) { client in
                    let alice = Buyer(client, "alice")
                    func balance() async throws -> (HTTPResponse.Status, Duration, String?) {
                        let started = ContinuousClock.now
                        let response = try await alice.send(.get, "/v1/users/alice/balance", headers: APIHarness.authorization("alice"))
                        return (response.status, ContinuousClock.now - started, response.headers[.retryAfter])
                    }
                    #expect(try await balance().0 == .ok)

                    proxy.freeze()
                    // Every pooled connection is silent now, and so is every new one.
                    for _ in 0..<3 {
                        let (status, took, retryAfter) = try await balance()
                        #expect(status == .serviceUnavailable)
                        #expect(took < .seconds(5), "answered after \(took)")
                        #expect(retryAfter != nil)
                    }

                    proxy.thaw()
                    try await eventually(timeout: .seconds(15), "reads come back once the database answers") {
                        try await balance().0 == .ok
                    }
                }
            }
        }
    }
}
