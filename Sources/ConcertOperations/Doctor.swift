import AMQPClient
import ConcertAPI
import ConcertApp
import ConcertPipeline
import ConcertStorage
import Foundation
public import Logging
import PostgresNIO
import RabbitMQManagement

/// `concert doctor`: the effective configuration (secrets masked), then every check a process
/// needs to pass to start and serve — each with ✓ or ✗ and one line of why. It changes nothing:
/// it reads, and passively declares what must already exist.
public enum Doctor {
    /// One check's verdict.
    public struct Check: Sendable {
        public enum Verdict: Sendable {
            case passed, failed
            /// Not run: what it needs failed first, or an optional setting is missing.
            case skipped
        }

        public let name: String
        public let verdict: Verdict
        public let detail: String

        static func passed(_ name: String, _ detail: String) -> Check { Check(name: name, verdict: .passed, detail: detail) }
        static func failed(_ name: String, _ detail: String) -> Check { Check(name: name, verdict: .failed, detail: detail) }
        static func skipped(_ name: String, _ detail: String) -> Check { Check(name: name, verdict: .skipped, detail: detail) }
    }

    /// What `concert doctor` prints.
    public struct Report: Sendable {
        public let settings: [(name: String, value: String)]
        public let checks: [Check]

        /// True when no check failed (a skipped one waits on an optional setting).
        public var passed: Bool { !checks.contains { $0.verdict == .failed } }

        public var text: String {
            let nameWidth = settings.map(\.name.count).max() ?? 0
            var lines = ["configuration (from the environment; secrets masked):"]
            lines += settings.map { "  " + $0.name.padding(toLength: nameWidth + 2, withPad: " ", startingAt: 0) + $0.value }
            lines.append("")
            lines.append("checks:")
            let checkWidth = checks.map(\.name.count).max() ?? 0
            for check in checks {
                let mark =
                    switch check.verdict {
                    case .passed: "✓"
                    case .failed: "✗"
                    case .skipped: "–"
                    }
                lines.append("  \(mark) " + check.name.padding(toLength: checkWidth + 2, withPad: " ", startingAt: 0) + check.detail)
            }
            lines.append("")
            let failed = checks.filter { $0.verdict == .failed }.map(\.name)
            let skipped = checks.filter { $0.verdict == .skipped }.count
            if failed.isEmpty {
                lines.append("all \(checks.count - skipped) checks passed" + (skipped > 0 ? " (\(skipped) skipped)" : ""))
            } else {
                var names: [String] = []
                for name in failed where !names.contains(name) { names.append(name) }
                lines.append("\(failed.count) of \(checks.count) checks failed: \(names.joined(separator: ", "))")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// The largest difference between this machine's clock and the database's that passes: holds
    /// and queue tokens are stamped by one process and compared with another's time.
    static let clockTolerance = 1.0

    /// Reads `environment` as an API process (`concert serve`) would and runs every check.
    public static func examine(environment: [String: String], logger: Logger) async -> Report {
        let (configuration, problems) = ConcertConfiguration.read(environment: environment)
        var checks: [Check] = []

        // Well-formed variables; the secrets have checks of their own below.
        let secrets: Set = ["CONCERT_TOKEN_SECRET", "CONCERT_ADMIN_TOKEN", "CONCERT_USER_TOKEN_SECRET", "CONCERT_USER_JWKS"]
        let malformed = problems.filter { !secrets.contains($0.variable) }
        if malformed.isEmpty {
            checks.append(.passed("configuration", "every variable is well-formed"))
        } else {
            checks += malformed.map { .failed("configuration", $0.description) }
        }
        checks += await secretChecks(configuration, problems: problems)

        let databaseURLUsable = !problems.contains { $0.variable == "CONCERT_DATABASE_URL" }
        checks +=
            databaseURLUsable
            ? await databaseChecks(configuration, logger: logger)
            : ["database", "schema", "clock"].map { .skipped($0, "CONCERT_DATABASE_URL cannot be used") }
        let brokerURLUsable = !problems.contains { $0.variable == "CONCERT_AMQP_URL" }
        checks +=
            brokerURLUsable
            ? await brokerChecks(configuration, logger: logger)
            : ["broker", "virtual host", "permissions", "topology", "partitions"].map { .skipped($0, "CONCERT_AMQP_URL cannot be used") }
        return Report(settings: ConcertConfiguration.effectiveSettings(environment), checks: checks)
    }

    // MARK: Secrets

    static func secretChecks(_ configuration: ConcertConfiguration, problems: [ConfigurationError]) async -> [Check] {
        func problem(_ variable: String) -> ConfigurationError? { problems.first { $0.variable == variable } }
        var checks: [Check] = []
        if let problem = problem("CONCERT_TOKEN_SECRET") {
            checks.append(.failed("token secret", problem.description))
        } else if let secret = configuration.tokenSecret {
            checks.append(.passed("token secret", "CONCERT_TOKEN_SECRET is set (\(secret.utf8.count) characters)"))
        } else {
            checks.append(.failed("token secret", "CONCERT_TOKEN_SECRET is not set: the API cannot sign waiting-room tokens and does not start"))
        }
        if let problem = problem("CONCERT_ADMIN_TOKEN") {
            checks.append(.failed("admin token", problem.description))
        } else if let token = configuration.adminToken {
            checks.append(.passed("admin token", "CONCERT_ADMIN_TOKEN is set (\(token.utf8.count) characters)"))
        } else {
            checks.append(.failed("admin token", "CONCERT_ADMIN_TOKEN is not set: the admin API and the console refuse everyone"))
        }
        if let problem = problem("CONCERT_USER_TOKEN_SECRET") ?? problem("CONCERT_USER_JWKS") {
            checks.append(.failed("access tokens", problem.description))
        } else if configuration.userTokenSecret == nil, configuration.userJWKSPath == nil {
            checks.append(
                .failed(
                    "access tokens",
                    "neither CONCERT_USER_TOKEN_SECRET nor CONCERT_USER_JWKS is set: the API cannot verify users and does not start"
                )
            )
        } else {
            do {
                _ = try await AccessTokens(configuration.accessTokenSettings())
                let keys = [
                    configuration.userTokenSecret.map { "an HS256 secret (\($0.count) characters)" },
                    configuration.userJWKSPath.map { "the JWKS \($0)" },
                ].compactMap(\.self).joined(separator: " and ")
                checks.append(.passed("access tokens", "users' access tokens are verified with \(keys)"))
            } catch {
                checks.append(.failed("access tokens", "\(error)"))
            }
        }
        return checks
    }

    // MARK: Database

    static func databaseChecks(_ configuration: ConcertConfiguration, logger: Logger) async -> [Check] {
        let address: DatabaseAddress
        do {
            address = try DatabaseAddress(url: configuration.databaseURL)
            try await DatabaseCheck.check(address, timeout: .seconds(5), logger: logger)
        } catch {
            return [.failed("database", "\(error)"), .skipped("schema", "needs the database"), .skipped("clock", "needs the database")]
        }
        do {
            return try await ConcertServices.withDatabase(configuration, logger: logger) { database in
                var checks: [Check] = []
                let version = try await DatabaseCheck.serverVersion(database, logger: logger)
                checks.append(.passed("database", "\(address) lets user \(address.username) in (PostgreSQL \(version))"))
                checks.append(try await schemaCheck(database, logger: logger))
                checks.append(try await clockCheck(database, logger: logger))
                return checks
            }
        } catch {
            return [.failed("database", "\(address): \(String(reflecting: error))")]
        }
    }

    static func schemaCheck(_ database: PostgresClient, logger: Logger) async throws -> Check {
        let known = Migration.all.last?.version ?? 0
        guard let versions = try await DatabaseCheck.appliedSchemaVersions(database, logger: logger) else {
            return .passed("schema", "empty: the first start (or concert migrate) creates schema version \(known)")
        }
        let newest = versions.max() ?? 0
        let missing = Migration.all.map(\.version).filter { !versions.contains($0) }
        if newest > known {
            return .failed(
                "schema",
                "the database is at schema version \(newest), newer than this build's \(known): run the newer build (or restore a backup)"
            )
        }
        if missing.isEmpty {
            return .passed("schema", "version \(newest), this build's")
        }
        return .passed(
            "schema",
            "version \(newest), behind this build's \(known): the next start (or concert migrate) applies \(missing.map(String.init).joined(separator: ", "))"
        )
    }

    static func clockCheck(_ database: PostgresClient, logger: Logger) async throws -> Check {
        let sent = Date()
        let theirs = try await DatabaseCheck.serverClock(database, logger: logger)
        let received = Date()
        // The database read its clock about halfway through the round trip.
        let ours = (sent.timeIntervalSince1970 + received.timeIntervalSince1970) / 2
        let skew = ours - theirs
        let said = String(format: "%.3f s %@ the database's", abs(skew), skew >= 0 ? "ahead of" : "behind")
        guard abs(skew) <= clockTolerance else {
            return .failed(
                "clock",
                "this machine's clock is \(said) (more than \(clockTolerance) s): hold and token deadlines would be off; synchronise the clocks (NTP)"
            )
        }
        return .passed("clock", "this machine's clock is \(said)")
    }

    // MARK: Broker

    static func brokerChecks(_ configuration: ConcertConfiguration, logger: Logger) async -> [Check] {
        let later = ["permissions", "topology", "partitions"]
        let broker: AMQPConfiguration
        do {
            broker = try AMQPConfiguration(url: configuration.amqpURL)
            try await BrokerCheck.check(broker, logger: logger)
        } catch let problem as BrokerCheck.Problem {
            switch problem.kind {
            case .virtualHost:
                return [
                    .passed("broker", "\(configuration.brokerDescription) lets user \"\(configurationUser(configuration))\" in"),
                    .failed("virtual host", problem.description),
                ]
                    + later.map { .skipped($0, "needs the virtual host") }
            case .loginRefused, .unreachable:
                return [.failed("broker", problem.description)] + (["virtual host"] + later).map { .skipped($0, "needs the broker") }
            }
        } catch {
            return [.failed("broker", "\(error)")] + (["virtual host"] + later).map { .skipped($0, "needs the broker") }
        }
        var checks: [Check] = [
            .passed("broker", "\(configuration.brokerDescription) lets user \"\(broker.username)\" in"),
            .passed("virtual host", "\"\(broker.virtualHost)\" exists and user \"\(broker.username)\" may use it"),
        ]
        checks.append(await permissionsCheck(configuration))
        do {
            checks += try await ConcertServices.withBroker(configuration, logger: logger) { connection in
                try await topologyChecks(configuration, connection: connection)
            }
        } catch let error as AMQPError {
            checks.append(.failed("topology", "cannot compare it: \(error.message)"))
            checks.append(.skipped("partitions", "needs the topology"))
        } catch {
            checks.append(.failed("topology", "cannot compare it: \(error)"))
            checks.append(.skipped("partitions", "needs the topology"))
        }
        return checks
    }

    static func configurationUser(_ configuration: ConcertConfiguration) -> String {
        (try? AMQPConfiguration(url: configuration.amqpURL).username) ?? "?"
    }

    /// The user's permissions in the virtual host, from the management API, against every name
    /// the pipeline declares (configure), publishes or binds to (write) and consumes (read).
    static func permissionsCheck(_ configuration: ConcertConfiguration) async -> Check {
        guard let management = ManagementClient(configuration), let broker = try? AMQPConfiguration(url: configuration.amqpURL) else {
            return .skipped("permissions", "not checked: set CONCERT_AMQP_MANAGEMENT_URL so doctor can read them")
        }
        let node = await management.answeringNode()
        let granted: ManagementClient.Permissions
        do {
            granted = try await management.permissions(of: broker.username, in: broker.virtualHost, from: node)
        } catch is DecodingError {
            return .failed("permissions", "the management API's answer about permissions is not an object of three expressions")
        } catch let failure as ManagementClient.Failure where failure.status == 404 {
            return .failed(
                "permissions",
                "user \"\(configurationUser(configuration))\" has no permissions in the virtual host (rabbitmqctl set_permissions)"
            )
        } catch {
            return .failed("permissions", "cannot read them from the management API: \(error)")
        }
        let topology = configuration.topology
        let exchanges = topology.exchanges.map(\.name)
        // Each API process declares a server-named (amq.gen-…) reply queue and binds it to the events exchange.
        let queues = topology.queues.map(\.name) + ["amq.gen-reply"]
        let needs: [(String, String?, [String])] = [
            ("configure", granted.configure, exchanges + queues), ("write", granted.write, exchanges + queues),
            ("read", granted.read, exchanges + queues),
        ]
        var lacking: [String] = []
        for (kind, granted, names) in needs {
            let pattern = granted ?? ""
            guard let expression = try? NSRegularExpression(pattern: pattern) else {
                lacking.append("\(kind) '\(pattern)' is not a regular expression")
                continue
            }
            let denied = names.filter { name in
                pattern.isEmpty || expression.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) == nil
            }
            if !denied.isEmpty {
                lacking.append(
                    "\(kind) '\(pattern)' leaves out \(denied.prefix(3).joined(separator: ", "))\(denied.count > 3 ? " and \(denied.count - 3) more" : "")"
                )
            }
        }
        guard lacking.isEmpty else { return .failed("permissions", lacking.joined(separator: "; ")) }
        return .passed("permissions", "configure, write and read cover every exchange and queue of the pipeline")
    }

    /// The broker's topology against this build's (`concert topology export`): exchanges and
    /// queues by passive declares, queue arguments by declaring an existing queue again (the
    /// broker refuses other arguments with 406 and says which; equal ones change nothing),
    /// bindings from the management API; then the partition count.
    static func topologyChecks(_ configuration: ConcertConfiguration, connection: AMQPConnection) async throws -> [Check] {
        let topology = configuration.topology
        var missing: [String] = []
        var different: [String] = []
        for exchange in topology.exchanges where try await !connection.exchangeExists(exchange.name) {
            missing.append(exchange.name)
        }
        for queue in topology.queues {
            guard try await connection.queueExists(queue.name) else {
                missing.append(queue.name)
                continue
            }
            do {
                try await connection.declare(queue)
            } catch let error as AMQPError where error.replyCode == 406 {
                different.append(error.message.components(separatedBy: "PRECONDITION_FAILED - ").last ?? error.message)
            }
        }
        let declaredPartitions = try await PipelineTopology.declaredPartitions(on: connection)
        var bindingsNote = ""
        if let management = ManagementClient(configuration), let broker = try? AMQPConfiguration(url: configuration.amqpURL) {
            let node = await management.answeringNode()
            if let present = try? await management.bindings(in: broker.virtualHost, from: node) {
                let have = Set(present.map { "\($0.source ?? "") → \($0.destination ?? "") (\($0.routingKey ?? ""))" })
                for binding in topology.bindings {
                    let name = "\(binding.exchange) → \(binding.queue) (\(binding.routingKey))"
                    if !have.contains(name), !missing.contains(binding.queue), !missing.contains(binding.exchange) {
                        missing.append("binding \(name)")
                    }
                }
            }
        } else {
            bindingsNote = " (bindings not compared: no CONCERT_AMQP_MANAGEMENT_URL)"
        }

        var checks: [Check] = []
        let total = topology.exchanges.count + topology.queues.count
        if declaredPartitions == nil, missing.count >= total {
            checks.append(.passed("topology", "not declared yet: the first start (or concert topology apply) declares it"))
        } else if missing.isEmpty, different.isEmpty {
            checks.append(
                .passed(
                    "topology",
                    "\(topology.exchanges.count) exchanges, \(topology.queues.count) queues and \(topology.bindings.count) bindings as this build declares them\(bindingsNote)"
                )
            )
        } else {
            var parts: [String] = []
            if !different.isEmpty { parts.append("different: \(different.joined(separator: "; "))") }
            if !missing.isEmpty {
                parts.append("missing: \(missing.prefix(4).joined(separator: ", "))\(missing.count > 4 ? " and \(missing.count - 4) more" : "")")
            }
            checks.append(.failed("topology", parts.joined(separator: " — ") + " (see topology/README.md › Changing the topology)"))
        }
        switch declaredPartitions {
        case nil:
            checks.append(.passed("partitions", "none on the broker yet: the first start declares \(configuration.partitions) (CONCERT_PARTITIONS)"))
        case let declared? where declared == configuration.partitions:
            checks.append(.passed("partitions", "\(declared) partition queues, as CONCERT_PARTITIONS says"))
        case let declared?:
            checks.append(.failed("partitions", PipelineTopology.partitionCountMismatch(declared: declared, configured: configuration.partitions)))
        }
        return checks
    }
}
