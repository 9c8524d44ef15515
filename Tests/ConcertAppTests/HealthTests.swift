import AMQPClient
import ConcertAPI
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOFoundationCompat
import PostgresNIO
import Prometheus
import TestSupport
import Testing

@testable import ConcertApp

@Suite(.enabled(if: ProcessInfo.processInfo.environment["CONCERT_REQUIRE_SERVICES"] == "1"))
struct HealthTests {
    let configuration: ConcertConfiguration
    let logger = Logger(label: "health-tests")

    init() throws {
        var configuration = try ConcertConfiguration(environment: ProcessInfo.processInfo.environment)
        configuration.tokenSecret = "health-tests-secret-0123456789abcdefghij"
        configuration.userTokenSecret = "health-tests-user-secret-0123456789abcdef"
        self.configuration = configuration
    }

    @Test func liveAndReadyWhenDatabaseAndBrokerAnswer() async throws {
        let database = try ConcertServices.makeDatabase(configuration, logger: logger)
        let broker = try ConcertServices.makeBroker(configuration, role: "health-test", logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            group.addTask { try await broker.run() }
            defer { group.cancelAll() }
            try await broker.waitUntilConnected(timeout: .seconds(10))

            let api = try await ConcertServices.makeAPIServices(
                configuration,
                metrics: PrometheusCollectorRegistry(),
                database: database,
                broker: broker,
                progress: StartupProgress(finished: true),
                logger: logger
            )
            let app = Application(router: buildAPIRouter(api))
            try await app.test(.router) { client in
                try await client.execute(uri: "/health/live", method: .get) { response in
                    #expect(response.status == .ok)
                }
                // Ready once the fresh pool has its first connection (seconds on a machine loaded by
                // the parallel suites; a process that cannot serve yet rightly says it is not ready).
                var answer: [String: String] = [:]
                try await eventually(timeout: .seconds(20), "/health/ready answers ready") {
                    let response = try await client.execute(uri: "/health/ready", method: .get)
                    answer = try JSONDecoder().decode([String: String].self, from: response.body)
                    return response.status == .ok
                }
                #expect(answer == ["status": "ready", "database": "up", "broker": "up"])
            }
        }
    }

    @Test func notReadyWithRetryAfterWhileTheBrokerIsUnreachable() async throws {
        var unreachable = configuration
        unreachable.amqpURL = "amqp://concert:concert@127.0.0.1:1/%2F"  // nothing listens on port 1
        let database = try ConcertServices.makeDatabase(configuration, logger: logger)
        let broker = try ConcertServices.makeBroker(unreachable, role: "health-test", logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            group.addTask { try await broker.run() }
            defer { group.cancelAll() }

            let api = try await ConcertServices.makeAPIServices(
                configuration,
                metrics: PrometheusCollectorRegistry(),
                database: database,
                broker: broker,
                progress: StartupProgress(finished: true),
                logger: logger
            )
            let app = Application(router: buildAPIRouter(api))
            try await app.test(.router) { client in
                try await client.execute(uri: "/health/live", method: .get) { response in
                    #expect(response.status == .ok)
                }
                // Once the fresh pool answers, only the broker keeps the process from being ready.
                try await eventually(timeout: .seconds(20), "/health/ready sees the database up") {
                    let response = try await client.execute(uri: "/health/ready", method: .get)
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] == "5")
                    let answer = try JSONDecoder().decode([String: String].self, from: response.body)
                    #expect(answer["broker"] == "down")
                    return answer == ["status": "unavailable", "database": "up", "broker": "down"]
                }
            }
        }
    }
}
