import AMQPClient
import ConcertPipeline
import ConcertStorage
import Foundation
import Glibc
import PostgresNIO
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The `concert` executable (the debug build `scripts/test` makes) started with settings that
/// cannot work: one-shot commands fail at once with one line that names the setting; `serve`
/// keeps trying, says once what is wrong, shows it in `/health/ready`, and stops on SIGTERM.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CONCERT_REQUIRE_SERVICES"] == "1"))
struct StartupTests {
    static let executable = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/concert")

    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The database URL of the running services with one part changed.
    static func database(password: String? = nil, database: String? = nil, port: Int? = nil) -> String {
        var url = URLComponents(string: environment["CONCERT_DATABASE_URL"] ?? "postgres://concert:concert@127.0.0.1:5432/concert")!
        if let password { url.password = password }
        if let database { url.path = "/\(database)" }
        if let port { url.port = port }
        return url.string!
    }

    /// The database URL of the running services with `query` added to its query.
    static func database(query: String) -> String {
        let url = database()
        return url + (url.contains("?") ? "&" : "?") + query
    }

    static func broker(password: String? = nil, virtualHost: String? = nil, port: Int? = nil) -> String {
        var url = URLComponents(string: environment["CONCERT_AMQP_URL"] ?? "amqp://concert:concert@127.0.0.1:5672/%2F")!
        if let password { url.password = password }
        if let virtualHost { url.path = "/\(virtualHost)" }
        if let port { url.port = port }
        return url.string!
    }

    struct Finished {
        let status: Int32?
        /// Everything it wrote, standard output and standard error together.
        let lines: [String]
        let elapsed: Duration

        /// The lines not logged at `info` (what is news for an operator).
        var problemLines: [String] { lines.filter { !$0.contains(" info ") } }
    }

    /// Runs `concert arguments…` with `changes` to the environment (an empty value unsets a
    /// variable) to its end, at most `timeout`.
    static func run(_ arguments: [String], _ changes: [String: String], timeout: Duration = .seconds(60)) async throws -> Finished {
        var environment = Self.environment.merging(changes) { _, new in new }
        for (name, value) in changes where value.isEmpty { environment[name] = nil }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("concert-run-\(UUID().uuidString.prefix(8)).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let started = ContinuousClock.now
        let process = try await SpawnedProcess(executable.path, arguments, environment: environment, log: log)
        let status = await process.waitForExit(timeout: timeout)
        let lines = process.logLines().filter { !$0.isEmpty }
        return Finished(status: status, lines: lines, elapsed: ContinuousClock.now - started)
    }

    @Test(arguments: [
        (["migrate"], "password authentication failed"),
        (["seed"], "password authentication failed"),
        (["status"], "password authentication failed"),
        (["dead-letters", "list"], "password authentication failed"),
    ])
    func oneShotCommandsRefusedByTheDatabaseFailAtOnce(arguments: [String], expected: String) async throws {
        let finished = try await Self.run(arguments, ["CONCERT_DATABASE_URL": Self.database(password: "wrong")])
        Self.expectOneLineFailure(finished, containing: expected, naming: "CONCERT_DATABASE_URL")
    }

    @Test(arguments: [
        (Self.database(database: "no_such_database"), "database \"no_such_database\" does not exist"),
        (Self.database(port: 1), "cannot reach PostgreSQL at 127.0.0.1:1"),
        ("mysql://somewhere/else", "must be postgres://user:password@host:port/database, got 'mysql://somewhere/else'"),
        // The test server has no TLS: a URL that requires it must not quietly go plain.
        (Self.database(query: "sslmode=require"), "does not offer TLS, and sslmode=require in CONCERT_DATABASE_URL requires it"),
        (Self.database(query: "sslmode=verify-full"), "does not offer TLS, and sslmode=verify-full"),
        (Self.database(query: "sslmode=verify-ca&sslrootcert=/no/such/ca.pem"), "sslrootcert names no readable file"),
        (Self.database(query: "sslmode=sometimes"), "sslmode must be disable, allow, prefer, require"),
    ])
    func aDatabaseURLThatCannotWorkFailsMigrateAtOnce(url: String, expected: String) async throws {
        let finished = try await Self.run(["migrate"], ["CONCERT_DATABASE_URL": url])
        Self.expectOneLineFailure(finished, containing: expected, naming: "CONCERT_DATABASE_URL")
    }

    /// Passwords `URLComponents` cannot parse never reach the output, whatever fails.
    @Test(arguments: ["pa#ss word", "at@sign/slash", "q?uery"])
    func aPasswordOfAnyShapeIsNeverPrinted(password: String) async throws {
        let finished = try await Self.run(
            ["migrate"],
            [
                "CONCERT_DATABASE_URL": "postgres://concert:\(password)@127.0.0.1:1/concert",
                "CONCERT_AMQP_URL": "amqp://concert:\(password)@127.0.0.1:1/%2F",
            ]
        )
        #expect(finished.status != 0)
        #expect(!finished.lines.joined(separator: "\n").contains(password), "\(finished.lines)")
        let doctor = try await Self.run(
            ["doctor"],
            [
                "CONCERT_DATABASE_URL": "postgres://concert:\(password)@127.0.0.1:1/concert",
                "CONCERT_AMQP_URL": "amqp://concert:\(password)@127.0.0.1:1/%2F",
            ]
        )
        #expect(!doctor.lines.joined(separator: "\n").contains(password), "\(doctor.lines)")
    }

    @Test(arguments: [
        (Self.broker(password: "wrong"), "RabbitMQ refused the login"),
        (Self.broker(virtualHost: "no-such-vhost"), "virtual host \"no-such-vhost\" does not exist"),
        (Self.broker(port: 1), "cannot reach RabbitMQ at 127.0.0.1:1"),
    ])
    func aBrokerURLThatCannotWorkFailsTopologyApplyAtOnce(url: String, expected: String) async throws {
        let finished = try await Self.run(["topology", "apply"], ["CONCERT_AMQP_URL": url])
        Self.expectOneLineFailure(finished, containing: expected, naming: "CONCERT_AMQP_URL")
    }

    /// Without a way to verify access tokens the API does not start: one line naming the variables.
    @Test(arguments: ["api", "serve"])
    func theAPIRefusesToStartWithoutAccessTokenKeys(subcommand: String) async throws {
        let finished = try await Self.run(
            [subcommand],
            [
                "CONCERT_USER_TOKEN_SECRET": "",
                "CONCERT_USER_JWKS": "",
                "CONCERT_TOKEN_SECRET": "startup-tests-secret-0123456789abcdef",
                "CONCERT_HTTP_PORT": String(try freeLocalPort()),
            ]
        )
        Self.expectOneLineFailure(finished, containing: "must be set", naming: "CONCERT_USER_TOKEN_SECRET or CONCERT_USER_JWKS")
    }

    static func expectOneLineFailure(_ finished: Finished, containing expected: String, naming variable: String) {
        #expect(finished.status == 1)
        // At once rather than after a retry loop: seconds, however loaded the machine is.
        #expect(finished.elapsed < .seconds(30))
        #expect(finished.problemLines.count == 1, "\(finished.lines)")
        #expect(finished.problemLines.first?.contains(expected) == true, "\(finished.lines)")
        #expect(finished.problemLines.first?.contains(variable) == true, "\(finished.lines)")
    }

    /// `serve` with a dependency it cannot use yet — a database that refuses its login, a broker
    /// that refuses it, a virtual host that does not exist: HTTP answers anyway, `/health/ready`
    /// says what start-up waits for, the API answers 503, the log says it once and nothing per
    /// retry (the operator may be fixing it), and SIGTERM stops it.
    @Test(arguments: [
        ("CONCERT_DATABASE_URL", Self.database(password: "wrong"), "refused the login"),
        ("CONCERT_AMQP_URL", Self.broker(password: "wrong"), "RabbitMQ refused the login"),
        ("CONCERT_AMQP_URL", Self.broker(virtualHost: "no-such-vhost"), "virtual host \"no-such-vhost\" does not exist"),
    ])
    func serveWaitingForADependencySaysWhyOnceAndStopsOnSIGTERM(variable: String, url: String, expected: String) async throws {
        let port = try freeLocalPort()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("concert-startup-\(UUID().uuidString.prefix(6)).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let process = try await SpawnedProcess(
            Self.executable.path,
            ["serve"],
            environment: Self.environment.merging([variable: url, "CONCERT_HTTP_PORT": String(port)]) { _, new in new },
            log: log
        )
        var stopped = false
        defer { if !stopped { process.send(SIGKILL) } }

        var ready: (status: Int, body: [String: String])?
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let answer = try? await Self.get(port: port, "/health/ready"), answer.body["startup"]?.contains(expected) == true {
                ready = answer
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let readiness = try #require(ready, "no /health/ready saying '\(expected)' within 20 s")
        #expect(readiness.status == 503)
        #expect(readiness.body["status"] == "starting")
        #expect(readiness.body["startup"]?.contains(variable) == true)
        let concerts = try await Self.get(port: port, "/v1/concerts")
        #expect(concerts.status == 503)
        #expect(concerts.body["code"] == "SERVICE_UNAVAILABLE")
        #expect(concerts.body["detail"]?.contains(expected) == true)

        // A hang-up during start-up is no reason to stop.
        process.send(SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        #expect(process.isRunning, "SIGHUP during start-up ended the process")

        // Several retries later (they back off from 250 ms to 5 s): said once; besides it only the
        // open-file limit, the server's start and the database's connection, at info.
        try await Task.sleep(for: .seconds(4))
        let lines = process.logLines().filter { !$0.isEmpty }
        #expect(lines.filter { $0.contains(expected) }.count == 1, "\(lines)")
        #expect(lines.filter { !$0.contains(" info ") }.count == 1, "\(lines)")
        #expect(lines.count <= 4, "\(lines)")

        let status = await process.stop(timeout: .seconds(15))
        stopped = true
        #expect(status == 0, "serve did not stop cleanly within 15 s of SIGTERM")
    }

    /// Every malformed or missing variable is named in the first lines of output, together, before
    /// anything connects (the database and broker URLs here point where nothing listens: no line
    /// about them, and no waiting).
    @Test(arguments: ["serve", "api"])
    func everyBadVariableIsNamedAtOnceBeforeAnythingConnects(subcommand: String) async throws {
        let finished = try await Self.run(
            [subcommand],
            [
                "CONCERT_TOKEN_SECRET": "",
                "CONCERT_ADMIN_TOKEN": "short",
                "CONCERT_PARTITIONS": "0",
                "CONCERT_USER_TOKEN_SECRET": "also-short",
                "CONCERT_HOLD_SECONDS": "five minutes",
                "CONCERT_DATABASE_URL": Self.database(port: 1),
                "CONCERT_AMQP_URL": Self.broker(port: 1),
            ]
        )
        #expect(finished.status == 1)
        #expect(finished.elapsed < .seconds(5))
        #expect(finished.lines.first == "Error: 5 settings need fixing:", "\(finished.lines)")
        #expect(finished.lines.count == 6, "\(finished.lines)")
        for variable in [
            "CONCERT_TOKEN_SECRET is required", "CONCERT_ADMIN_TOKEN must be at least 16",
            "CONCERT_PARTITIONS must be an integer in 1...1024, got '0'",
            "CONCERT_USER_TOKEN_SECRET must be at least 32", "CONCERT_HOLD_SECONDS must be an integer",
        ] {
            #expect(finished.lines.contains { $0.hasPrefix("  \(variable)") }, "\(variable) not named: \(finished.lines)")
        }
        #expect(!finished.lines.contains { $0.contains("cannot reach") })
    }

    @Test(arguments: [
        (["worker"], "0"), (["worker"], "-3"), (["topology", "apply"], "sixteen"), (["serve"], "1025"),
    ])
    func aBadPartitionCountStopsEveryCommandWithOneLine(arguments: [String], partitions: String) async throws {
        let finished = try await Self.run(arguments, ["CONCERT_PARTITIONS": partitions])
        Self.expectOneLineFailure(finished, containing: "must be an integer in 1...1024, got '\(partitions)'", naming: "CONCERT_PARTITIONS")
    }

    /// A database whose schema is newer than this build: `serve` stops with one line (it would
    /// otherwise write rows a newer build's code depends on in ways it cannot know).
    @Test func serveRefusesADatabaseNewerThanTheBuild() async throws {
        try await DatabaseEnvironment.withIsolatedDatabaseAndURL { database, url in
            try await Migrator().migrate(database, logger: DatabaseEnvironment.logger)
            try await database.query(
                "INSERT INTO schema_migrations (version, name) VALUES (9999, 'from the future')",
                logger: DatabaseEnvironment.logger
            )
            let finished = try await Self.run(
                ["serve"],
                ["CONCERT_DATABASE_URL": url, "CONCERT_HTTP_PORT": String(try freeLocalPort())],
                timeout: .seconds(30)
            )
            Self.expectOneLineFailure(finished, containing: "schema version 9999, newer than this build's", naming: "upgrade")
        }
    }

    /// A broker whose topology has another partition count: `serve` stops with one line naming
    /// CONCERT_PARTITIONS instead of declaring more partitions (which would move schedules between workers).
    @Test func serveRefusesATopologyWithAnotherPartitionCount() async throws {
        try await BrokerVirtualHost.withVirtualHost { broker in
            let url = Self.broker(virtualHost: broker.virtualHost)
            let applied = try await Self.run(["topology", "apply"], ["CONCERT_AMQP_URL": url, "CONCERT_PARTITIONS": "4"])
            #expect(applied.status == 0, "\(applied.lines)")
            let finished = try await Self.run(
                ["serve"],
                ["CONCERT_AMQP_URL": url, "CONCERT_PARTITIONS": "8", "CONCERT_HTTP_PORT": String(try freeLocalPort())],
                timeout: .seconds(30)
            )
            Self.expectOneLineFailure(
                finished,
                containing: "CONCERT_PARTITIONS is 8 but the broker has 4 partition queues",
                naming: "CONCERT_PARTITIONS"
            )
            // Nothing was declared: p4…p7 do not exist.
            let exists = try await withConnection(broker) { try await $0.queueExists(PipelineTopology.partitionQueue(4)) }
            #expect(!exists)
        }
    }

    static func get(port: Int, _ path: String) async throws -> (status: Int, body: [String: String]) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, object.compactMapValues { $0 as? String })
    }

}
