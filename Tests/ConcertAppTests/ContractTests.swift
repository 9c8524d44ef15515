import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertPipeline
import ConcertStorage
import Foundation
import PostgresNIO
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The OpenAPI document and the server agree: schemathesis (`scripts/contract-tools` installs
/// the pinned version) runs every check over every operation of a real `concert serve`, from
/// the document that process serves — examples, boundary values, random and schema-violating
/// data, methods the document does not declare, requests without credentials, and the stateful
/// phase along the document's links (a reservation → its command, its payment; the dead-letter
/// list → a letter, its replay, its discard). Each security scheme has real credentials
/// (`Tests/Contract/hooks.py`). The seed is fixed, so a failure reproduces.
@Suite(.serialized, .enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct ContractTests {
    static let user = "contract-user"
    static let adminToken = "contract-tests-admin-token-0123456789abcdef"
    static let userSecret = "contract-tests-user-secret-0123456789abcdef"
    static let contract = ClusterEnvironment.root.appendingPathComponent("Tests/Contract")

    @Test func theServerKeepsToItsDocument() async throws {
        try await Self.withServe { base in
            let run = try await Self.schemathesis(["run", "\(base)/openapi.yaml", "--checks", "all"], base: base)
            for line in run.lines.suffix(40) { print(line) }
            #expect(run.status == 0, "schemathesis found failures (above; full output \(run.log.path))")
            // Every operation but the document's own (`GET /openapi.yaml`, which schemathesis leaves out).
            #expect(OpenAPIDocument.operations.contains("GET /openapi.yaml"))
            let operations = OpenAPIDocument.operations.count - 1
            #expect(run.lines.contains { $0.contains("Selected: \(operations)/\(operations)") }, "not every operation was selected")
            #expect(run.lines.contains { $0.contains("Tested: \(operations)") }, "not every operation was tested")
            #expect(run.lines.contains { $0.contains("✅ Examples") }, "the document's examples were not all sent and passed")
            #expect(run.lines.contains { $0.contains("✅ Stateful") }, "the stateful phase did not run and pass")
        }
    }

    /// A bound changed on one side only — the document lets seats go to 200 000, the server to
    /// 100 000 — is a failure: the run that guards the contract would notice a drift.
    @Test func aBoundChangedInTheDocumentAloneFailsTheRun() async throws {
        try await Self.withServe { base in
            let (data, _) = try await URLSession.shared.data(from: URL(string: "\(base)/openapi.yaml")!)
            let served = String(decoding: data, as: UTF8.self)
            let drifted = served.replacingOccurrences(
                of: "seatNumber: { type: integer, minimum: 1, maximum: 100000,",
                with: "seatNumber: { type: integer, minimum: 1, maximum: 200000,"
            )
            try #require(drifted != served, "the served document no longer states seatNumber's maximum as the test expects")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("drifted-openapi-\(UUID().uuidString.prefix(6)).yaml")
            try drifted.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let run = try await Self.schemathesis(
                ["run", file.path, "--url", base, "--checks", "all", "--include-operation-id", "reserveSeat", "--phases", "coverage"],
                base: base
            )
            #expect(run.status == 1, "schemathesis passed a document that allows seat 200 000: \(run.lines.suffix(20))")
            #expect(run.lines.contains { $0.contains("Schema-valid request rejected") }, "\(run.lines.suffix(30))")
            #expect(run.lines.contains { $0.contains("seatNumber: must be an integer from 1 to 100000") }, "\(run.lines.suffix(30))")
        }
    }

    /// The README's curl walk-through shows what the document's examples say (both are real output).
    @Test func theREADMEWalkThroughAndTheDocumentsExamplesAgree() async throws {
        let python = try await Self.tools().deletingLastPathComponent().appendingPathComponent("python").path
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("readme-examples-\(UUID().uuidString.prefix(6)).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let check = try await SpawnedProcess(
            python,
            [Self.contract.appendingPathComponent("readme_examples.py").path],
            environment: ProcessInfo.processInfo.environment,
            log: log
        )
        let status = await check.waitForExit(timeout: .seconds(60))
        #expect(status == 0, "\(check.logLines())")
        #expect(check.logLines().contains { $0.hasPrefix("readme-examples: ") })
    }

    /// `scripts/contract-tools`: installs the pinned schemathesis once and names its executable.
    static func tools() async throws -> URL {
        let tools = FileManager.default.temporaryDirectory.appendingPathComponent("contract-tools-\(UUID().uuidString.prefix(6)).log")
        defer { try? FileManager.default.removeItem(at: tools) }
        let install = try await SpawnedProcess(
            ClusterEnvironment.root.appendingPathComponent("scripts/contract-tools").path,
            [],
            environment: ProcessInfo.processInfo.environment,
            log: tools
        )
        let installed = await install.waitForExit(timeout: .seconds(300))
        let executable = try #require(install.logLines().last { $0.hasSuffix("/bin/schemathesis") }, "scripts/contract-tools: \(install.logLines())")
        try #require(installed == 0, "scripts/contract-tools failed: \(install.logLines())")
        return URL(fileURLWithPath: executable)
    }

    struct Run {
        let status: Int32?
        let lines: [String]
        let log: URL
    }

    /// Runs the pinned schemathesis with the contract's configuration and credentials, in a
    /// scratch directory (it keeps a cache there).
    static func schemathesis(_ arguments: [String], base: String) async throws -> Run {
        let executable = try await tools().path
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("contract-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        var environment = ProcessInfo.processInfo.environment
        environment["CONCERT_CONTRACT_BASE_URL"] = base
        environment["CONCERT_CONTRACT_ACCESS_TOKEN"] = AccessTokens.sign(user: UserID(user)!, secret: userSecret, lifetime: 3600)
        environment["CONCERT_CONTRACT_HOOKS"] = contract.appendingPathComponent("hooks.py").path
        environment["CONCERT_ADMIN_TOKEN"] = adminToken
        environment["NO_COLOR"] = "1"
        let log = scratch.appendingPathComponent("schemathesis.log")
        let command = ([executable, "--no-color", "--config-file", contract.appendingPathComponent("schemathesis.toml").path] + arguments)
            .map { "'\($0.replacingOccurrences(of: "'", with: "'\\''"))'" }.joined(separator: " ")
        let process = try await SpawnedProcess("/bin/sh", ["-c", "cd '\(scratch.path)' && exec \(command)"], environment: environment, log: log)
        let status = await process.waitForExit(timeout: .seconds(600))
        return Run(status: status, lines: process.logLines().filter { !$0.isEmpty }, log: log)
    }

    /// `concert serve` of the test's own (database, virtual host), seeded with the demo catalogue
    /// plus concert 1 on 2099-12-31 in a stadium of 100 000 seats (every seat number the document
    /// allows exists) and three poison messages (the dead-letter archive has letters).
    static func withServe(_ body: (_ base: String) async throws -> Void) async throws {
        try await BrokerVirtualHost.withVirtualHost { amqp in
            try await DatabaseEnvironment.withIsolatedDatabaseAndURL { client, databaseURL in
                let logger = DatabaseEnvironment.logger
                try await Migrator().migrate(client, logger: logger)
                _ = try await DemoData().seed(client, logger: logger)
                try await client.query("INSERT INTO schedules (concert_id, date) VALUES (1, '2099-12-31') ON CONFLICT DO NOTHING", logger: logger)
                try await client.query(
                    """
                    INSERT INTO seats (schedule_id, number, price)
                    SELECT s.id, n, 100000 FROM schedules s CROSS JOIN generate_series(1, 100000) AS n
                    WHERE s.concert_id = 1 AND s.date = '2099-12-31' ON CONFLICT DO NOTHING
                    """,
                    logger: logger
                )
                let partitions = 4
                try await withConnection(amqp) { broker in
                    try await PipelineTopology(partitions: partitions).apply(to: broker)
                    for index in 0..<3 {
                        var properties = AMQPMessageProperties()
                        properties.messageId = "contract-poison-\(index)"
                        try await broker.publish(
                            exchange: PipelineTopology.commandsExchange,
                            routingKey: PipelineTopology.partitionRoutingKey(index),
                            body: Array("not a command \(index)".utf8),
                            properties: properties
                        )
                    }
                }
                let port = try freeLocalPort()
                let environment = ClusterEnvironment.serveEnvironment(
                    amqp: amqp,
                    databaseURL: databaseURL,
                    port: port,
                    partitions: partitions,
                    userSecret: userSecret,
                    // schemathesis tries the admin routes with wrong tokens by the hundred.
                    // The seat limit as configured by default: the document's bounds on seatNumbers and quantity are its.
                    ["CONCERT_ADMIN_TOKEN": adminToken, "CONCERT_SIGN_IN_FAILURES_PER_MINUTE": "0", "CONCERT_MAX_SEATS_PER_USER": "4"]
                )
                let serve = try await ClusterEnvironment.startServe(environment, name: "contract")
                do {
                    try await eventually(timeout: .seconds(60), "concert serve is ready") {
                        await LiveAPI(port: port).send("GET", "/health/ready", bearer: nil).status == 200
                    }
                    try await body("http://127.0.0.1:\(port)")
                } catch {
                    _ = await serve.stop()
                    throw error
                }
                let stopped = await serve.stop()
                #expect(stopped == 0, "concert serve did not stop cleanly on SIGTERM; log: \(serve.log.path)")
            }
        }
    }
}
