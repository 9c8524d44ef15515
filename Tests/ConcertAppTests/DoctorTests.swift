import AMQPClient
import ConcertOperations
import ConcertPipeline
import ConcertStorage
import Foundation
import PostgresNIO
import TestSupport
import Testing

/// `concert doctor` over the executable: on a healthy stack every check passes (exit 0); on a
/// broken one it fails (exit 1), naming the check and why, while the others still run.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CONCERT_REQUIRE_SERVICES"] == "1"))
struct DoctorTests {
    /// The `✓`/`✗`/`–` lines of a doctor run by check name (a check may fail on several lines).
    struct Verdicts {
        let finished: StartupTests.Finished
        func lines(_ check: String) -> [String] {
            finished.lines.filter {
                $0.range(of: #"^  [✓✗–] "# + NSRegularExpression.escapedPattern(for: check) + "  ", options: .regularExpression) != nil
            }
        }
        func passed(_ check: String) -> Bool {
            let found = lines(check)
            return !found.isEmpty && found.allSatisfy { $0.hasPrefix("  ✓") }
        }
        func failed(_ check: String) -> Bool { lines(check).contains { $0.hasPrefix("  ✗") } }
        var checkLines: [String] { finished.lines.filter { $0.hasPrefix("  ✓") || $0.hasPrefix("  ✗") || $0.hasPrefix("  –") } }
    }

    static let checks = [
        "configuration", "token secret", "admin token", "access tokens", "database", "schema", "clock", "broker", "virtual host", "permissions",
        "topology", "partitions",
    ]

    static func doctor(_ changes: [String: String]) async throws -> Verdicts {
        Verdicts(finished: try await StartupTests.run(["doctor"], changes, timeout: .seconds(60)))
    }

    /// A database of its own (migrated) and a virtual host of its own, with or without the topology.
    static func withStack<Result: Sendable>(
        topology: Bool = true,
        _ body: (_ changes: [String: String], _ broker: AMQPConfiguration) async throws -> Result
    ) async throws -> Result {
        try await DatabaseEnvironment.withIsolatedDatabaseAndURL { database, databaseURL in
            try await Migrator().migrate(database, logger: DatabaseEnvironment.logger)
            return try await BrokerVirtualHost.withVirtualHost { broker in
                let changes = [
                    "CONCERT_DATABASE_URL": databaseURL, "CONCERT_AMQP_URL": StartupTests.broker(virtualHost: broker.virtualHost),
                    "CONCERT_PARTITIONS": "4",
                ]
                if topology {
                    let applied = try await StartupTests.run(["topology", "apply"], changes)
                    try #require(applied.status == 0, "\(applied.lines)")
                }
                return try await body(changes, broker)
            }
        }
    }

    @Test func aHealthyStackPassesEveryCheck() async throws {
        try await Self.withStack { changes, _ in
            let verdicts = try await Self.doctor(changes)
            #expect(verdicts.finished.status == 0, "\(verdicts.finished.lines)")
            for check in Self.checks {
                #expect(verdicts.passed(check), "\(check): \(verdicts.lines(check))")
            }
            #expect(verdicts.checkLines.count == Self.checks.count, "\(verdicts.checkLines)")
            #expect(verdicts.finished.lines.last == "all 12 checks passed")
            // The effective configuration comes first, passwords and secrets masked.
            #expect(verdicts.finished.lines.first == "configuration (from the environment; secrets masked):")
            #expect(verdicts.finished.lines.contains { $0.contains("CONCERT_PARTITIONS") && $0.hasSuffix("  4") })
            let secret = try #require(ProcessInfo.processInfo.environment["CONCERT_TOKEN_SECRET"])
            #expect(!verdicts.finished.lines.contains { $0.contains(secret) })
            #expect(verdicts.finished.lines.contains { $0.contains("CONCERT_TOKEN_SECRET") && $0.contains("set, \(secret.utf8.count) characters") })
            #expect(!verdicts.finished.lines.contains { $0.contains(":concert@") }, "a password shown")
        }
    }

    @Test func aFreshBrokerIsNotAProblem() async throws {
        try await Self.withStack(topology: false) { changes, _ in
            let verdicts = try await Self.doctor(changes)
            #expect(verdicts.finished.status == 0, "\(verdicts.finished.lines)")
            #expect(verdicts.lines("topology").first?.contains("not declared yet") == true, "\(verdicts.lines("topology"))")
        }
    }

    /// One broken setting at a time: the check that names it fails, the exit status is 1.
    @Test(arguments: [
        ("CONCERT_TOKEN_SECRET", "", "token secret", "CONCERT_TOKEN_SECRET is not set"),
        ("CONCERT_TOKEN_SECRET", "too-short", "token secret", "must be at least 32 characters"),
        ("CONCERT_ADMIN_TOKEN", "short", "admin token", "must be at least 16 characters"),
        ("CONCERT_USER_TOKEN_SECRET", "", "access tokens", "neither CONCERT_USER_TOKEN_SECRET nor CONCERT_USER_JWKS"),
        ("CONCERT_PARTITIONS", "lots", "configuration", "CONCERT_PARTITIONS must be an integer"),
        ("CONCERT_DATABASE_URL", StartupTests.database(password: "wrong"), "database", "refused the login"),
        ("CONCERT_DATABASE_URL", StartupTests.database(port: 1), "database", "cannot reach PostgreSQL"),
        ("CONCERT_AMQP_URL", StartupTests.broker(password: "wrong"), "broker", "RabbitMQ refused the login"),
        ("CONCERT_AMQP_URL", StartupTests.broker(port: 1), "broker", "cannot reach RabbitMQ"),
        ("CONCERT_AMQP_URL", StartupTests.broker(virtualHost: "no-such-vhost"), "virtual host", "virtual host \"no-such-vhost\" does not exist"),
    ])
    func aBrokenSettingFailsItsCheck(variable: String, value: String, check: String, why: String) async throws {
        let verdicts = try await Self.doctor([variable: value])
        #expect(verdicts.finished.status == 1)
        #expect(verdicts.failed(check), "\(verdicts.finished.lines)")
        #expect(verdicts.lines(check).contains { $0.contains(why) }, "\(verdicts.lines(check))")
        #expect(verdicts.finished.lines.last?.contains("failed: ") == true && verdicts.finished.lines.last?.contains(check) == true)
        #expect(verdicts.checkLines.count >= Self.checks.count, "every check has its line: \(verdicts.checkLines)")
    }

    @Test func aDatabaseNewerThanTheBuildFailsTheSchemaCheck() async throws {
        try await Self.withStack { changes, _ in
            try await DatabaseEnvironment.withIsolatedDatabaseAndURL { database, url in
                try await Migrator().migrate(database, logger: DatabaseEnvironment.logger)
                try await database.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (9999, 'from the future')",
                    logger: DatabaseEnvironment.logger
                )
                let verdicts = try await Self.doctor(changes.merging(["CONCERT_DATABASE_URL": url]) { _, new in new })
                #expect(verdicts.finished.status == 1)
                #expect(verdicts.failed("schema"))
                #expect(
                    verdicts.lines("schema").first?.contains("schema version 9999, newer than this build's") == true,
                    "\(verdicts.lines("schema"))"
                )
            }
        }
    }

    @Test func anotherPartitionCountFailsThePartitionsCheck() async throws {
        try await Self.withStack { changes, _ in
            let verdicts = try await Self.doctor(changes.merging(["CONCERT_PARTITIONS": "6"]) { _, new in new })
            #expect(verdicts.finished.status == 1)
            #expect(verdicts.failed("partitions"))
            #expect(verdicts.lines("partitions").first?.contains("CONCERT_PARTITIONS is 6 but the broker has 4 partition queues") == true)
            #expect(
                verdicts.lines("topology").first?.contains("missing: concert.commands.p4, concert.commands.p5") == true,
                "\(verdicts.lines("topology"))"
            )
        }
    }

    @Test func anotherHoldLengthFailsTheTopologyCheckNamingTheArgument() async throws {
        try await Self.withStack { changes, _ in
            let verdicts = try await Self.doctor(changes.merging(["CONCERT_HOLD_SECONDS": "60"]) { _, new in new })
            #expect(verdicts.finished.status == 1)
            #expect(verdicts.failed("topology"))
            #expect(
                verdicts.lines("topology").first?.contains("inequivalent arg 'x-message-ttl' for queue 'concert.delay.hold'") == true,
                "\(verdicts.lines("topology"))"
            )
            #expect(verdicts.passed("partitions"))
        }
    }

    @Test func missingPermissionsFailThePermissionsCheck() async throws {
        try await Self.withStack { changes, broker in
            try await BrokerVirtualHost.request(
                "PUT",
                "/api/permissions/\(broker.virtualHost)/\(broker.username)",
                body: #"{"configure":"^$","write":"^concert\\.commands","read":".*"}"#
            )
            let verdicts = try await Self.doctor(changes)
            #expect(verdicts.finished.status == 1)
            #expect(verdicts.failed("permissions"))
            let line = verdicts.lines("permissions").first ?? ""
            #expect(line.contains("configure '^$' leaves out concert.commands"), "\(line)")
            #expect(line.contains("write '^concert\\.commands' leaves out concert.delay"), "\(line)")
            #expect(!line.contains("read"), "\(line)")
        }
    }
}
