import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertPipeline
import ConcertStorage
import Foundation
import Glibc
import TestSupport
import Testing

/// The operator console in a real browser: `Tests/Browser/console_test.py` drives headless
/// Chromium (selenium; `scripts/browser-tools` installs both) against a `concert serve` of this
/// test's own, with poison messages waiting in a partition. Every page and form is used: sign-in
/// (refused first), the overview changing after reservations, a dead-letter group, one letter
/// replayed and another discarded, the group replayed after its confirmation, commands looked
/// up, sign-out; and requests without a session or without the CSRF token refused.
@Suite(.serialized, .enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct ConsoleBrowserTests {
    static let poison = 3

    @Test func everyPageAndFormWorksInARealBrowser() async throws {
        try await BrokerVirtualHost.withVirtualHost { amqp in
            try await DatabaseEnvironment.withIsolatedDatabaseAndURL { client, databaseURL in
                let logger = DatabaseEnvironment.logger
                try await Migrator().migrate(client, logger: logger)
                _ = try await DemoData().seed(client, logger: logger)
                let partitions = 4
                // Poison waits in partition 0 before any worker runs: it is dead-lettered at once.
                try await withConnection(amqp) { broker in
                    try await PipelineTopology(partitions: partitions).apply(to: broker)
                    for index in 0..<Self.poison {
                        var properties = AMQPMessageProperties()
                        properties.messageId = "console-poison-\(index)-\(UUID().uuidString.prefix(6))"
                        try await broker.publish(
                            exchange: PipelineTopology.commandsExchange,
                            routingKey: PipelineTopology.partitionRoutingKey(0),
                            body: Array("not a command \(index)".utf8),
                            properties: properties
                        )
                    }
                }
                let adminToken = "console-tests-admin-token-0123456789abcdef"
                let userSecret = "console-tests-user-secret-0123456789abcdef"
                let port = try freeLocalPort()
                let environment = ClusterEnvironment.serveEnvironment(
                    amqp: amqp,
                    databaseURL: databaseURL,
                    port: port,
                    partitions: partitions,
                    userSecret: userSecret,
                    ["CONCERT_ADMIN_TOKEN": adminToken]
                )
                let serve = try await ClusterEnvironment.startServe(environment, name: "console")
                let log = serve.log
                // Stopped (and waited for) by awaiting: nothing blocks a thread of the concurrency pool.
                do {
                    try await eventually(timeout: .seconds(60), "concert serve is ready") {
                        await LiveAPI(port: port).send("GET", "/health/ready", bearer: nil).status == 200
                    }

                    let users = (0..<3).map { "console-buyer-\($0)" }
                    var browser = environment
                    browser["CONSOLE_URL"] = "http://127.0.0.1:\(port)"
                    browser["CONSOLE_ADMIN_TOKEN"] = adminToken
                    browser["CONSOLE_ACCESS_TOKENS"] = users.map { AccessTokens.sign(user: UserID($0)!, secret: userSecret, lifetime: 3600) }.joined(
                        separator: ","
                    )
                    browser["CONSOLE_USER"] = users[0]
                    browser["CONSOLE_POISON"] = String(Self.poison)
                    if let folder = environment["CONCERT_CONSOLE_SCREENSHOTS"] { browser["CONSOLE_SCREENSHOTS"] = folder }
                    let output = FileManager.default.temporaryDirectory.appendingPathComponent("console-browser-\(UUID().uuidString.prefix(6)).log")
                    let script = try await SpawnedProcess(
                        "/usr/bin/env",
                        ["python3", ClusterEnvironment.root.appendingPathComponent("Tests/Browser/console_test.py").path],
                        environment: browser,
                        log: output
                    )
                    let status = await script.waitForExit(timeout: .seconds(300))
                    let lines = script.logLines().filter { !$0.isEmpty }
                    for line in lines { print(line) }
                    #expect(status == 0, "the browser test failed (\(lines.last ?? "no output")); concert serve's log: \(log.path)")
                    #expect(lines.contains("browser: all steps passed"))
                } catch {
                    _ = await serve.stop()
                    throw error
                }
                let stopped = await serve.stop()
                #expect(stopped == 0, "concert serve did not stop cleanly on SIGTERM; log: \(log.path)")
            }
        }
    }
}
