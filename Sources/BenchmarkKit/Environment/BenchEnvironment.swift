import ConcertAPI
import ConcertDomain
import ConcertStorage
public import Foundation
public import Logging
public import PostgresNIO

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where a benchmark runs: the services of `scripts/services` (URLs and secrets from `.run/env`),
/// and for each scenario a fresh database and RabbitMQ virtual host of its own, removed afterwards.
public struct BenchEnvironment: Sendable {
    /// `CONCERT_DATABASE_URL`: the server (and a database the bench may connect to for `CREATE DATABASE`).
    public let databaseURL: String
    /// `CONCERT_AMQP_URL` of the default virtual host.
    public let amqpURL: String
    /// `CONCERT_AMQP_MANAGEMENT_URL`, for virtual hosts.
    public let managementURL: String
    /// `CONCERT_TOKEN_SECRET` and `CONCERT_ADMIN_TOKEN` of the processes the bench starts.
    public let tokenSecret: String
    public let adminToken: String
    /// `CONCERT_USER_TOKEN_SECRET`: the bench signs its users' access tokens with it.
    public let userTokenSecret: String
    /// `.run/` of the services: where their pid files are.
    public let runDirectory: URL
    /// Where reports, pictures and child logs go.
    public let outputDirectory: URL
    /// The `concert` executable built next to `concert-bench`.
    public let concertExecutable: URL
    public let logger: Logger

    /// Reads the environment `scripts/bench` exports; `concertExecutable` overrides the `concert` to measure.
    public init(outputDirectory: URL, concertExecutable override: URL? = nil) throws {
        let environment = ProcessInfo.processInfo.environment
        func required(_ name: String) throws -> String {
            guard let value = environment[name], !value.isEmpty else {
                throw BenchError("\(name) is not set: run the benchmarks through scripts/bench (it sources .run/env)")
            }
            return value
        }
        databaseURL = try required("CONCERT_DATABASE_URL")
        amqpURL = try required("CONCERT_AMQP_URL")
        managementURL = environment["CONCERT_AMQP_MANAGEMENT_URL"] ?? "http://concert:concert@127.0.0.1:15672"
        tokenSecret = try required("CONCERT_TOKEN_SECRET")
        userTokenSecret = try required("CONCERT_USER_TOKEN_SECRET")
        adminToken = environment["CONCERT_ADMIN_TOKEN"] ?? "bench-admin-token-0123456789abcdef"
        runDirectory = URL(fileURLWithPath: environment["CONCERT_RUN_DIR"] ?? ".run")
        self.outputDirectory = outputDirectory
        let me = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        concertExecutable = override ?? me.deletingLastPathComponent().appendingPathComponent("concert")
        guard FileManager.default.isExecutableFile(atPath: concertExecutable.path) else {
            throw BenchError("\(concertExecutable.path) is not an executable: scripts/bench builds it (swift build -c release --product concert)")
        }
        var logger = Logger(label: "concert-bench")
        logger.logLevel = .error
        self.logger = logger
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
    }

    /// The RabbitMQ node's process (for its CPU time).
    public var brokerPID: Int32? { Self.pid(in: runDirectory.appendingPathComponent("rabbitmq/rabbit.pid")) }
    /// The processes of the broker `CONCERT_AMQP_URL` names: the cluster's nodes when
    /// `scripts/services up --cluster N` wrote it (`CONCERT_CLUSTER_NODES`), else the single node.
    public var brokerPIDs: [Int32] {
        let nodes = Int(ProcessInfo.processInfo.environment["CONCERT_CLUSTER_NODES"] ?? "") ?? 0
        guard nodes > 0 else { return brokerPID.map { [$0] } ?? [] }
        return (1...nodes).compactMap { Self.pid(in: runDirectory.appendingPathComponent("rabbitmq-cluster/n\($0)/rabbit.pid")) }
    }
    /// PostgreSQL's postmaster (its backends are its children).
    public var databasePID: Int32? { Self.pid(in: runDirectory.appendingPathComponent("postgres/data/postmaster.pid")) }
    /// The postmasters of the database `CONCERT_DATABASE_URL` names: both Patroni members when
    /// `scripts/services up --pg-ha` wrote it (`CONCERT_PG_HA=1`; the standby applies every commit too), else the single server.
    public var databasePIDs: [Int32] {
        guard ProcessInfo.processInfo.environment["CONCERT_PG_HA"] == "1" else { return databasePID.map { [$0] } ?? [] }
        return (1...2).compactMap { Self.pid(in: runDirectory.appendingPathComponent("pg-ha/pg\($0)/data/postmaster.pid")) }
    }

    static func pid(in file: URL) -> Int32? {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first.flatMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// A fresh database and virtual host named after the scenario; both are removed when `body` returns.
    public func withFreshSystem<Result: Sendable>(
        _ scenario: String,
        _ body: (Sandbox, PostgresClient) async throws -> Result
    ) async throws -> Result {
        try await removeLeftovers()
        // The benchmark's pid is in the names, so that what an interrupted run left is recognised.
        let suffix = "\(getpid())_\(UUID().uuidString.prefix(6).lowercased())"
        let name = "bench_\(scenario.replacingOccurrences(of: "-", with: "_"))_\(suffix)"
        let vhost = "bench-\(scenario)-\(suffix.replacingOccurrences(of: "_", with: "-"))"
        try await administer("CREATE DATABASE \(name)")
        do {
            try await management("PUT", "/api/vhosts/\(vhost)")
            try await management("PUT", "/api/permissions/\(vhost)/\(amqpUser)", body: #"{"configure":".*","write":".*","read":".*"}"#)
            let sandbox = Sandbox(environment: self, database: name, virtualHost: vhost)
            let result = try await sandbox.withDatabase { client in try await body(sandbox, client) }
            _ = try? await management("DELETE", "/api/vhosts/\(vhost)")
            try? await administer("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            return result
        } catch {
            _ = try? await management("DELETE", "/api/vhosts/\(vhost)")
            try? await administer("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            throw error
        }
    }

    var amqpUser: String { URLComponents(string: amqpURL)?.user ?? "guest" }

    /// Drops the databases and virtual hosts of benchmark runs whose process is gone (interrupted runs).
    func removeLeftovers() async throws {
        func orphaned(_ name: String, separator: Character) -> Bool {
            let parts = name.split(separator: separator)
            guard parts.count >= 4, let pid = Int32(parts[parts.count - 2]) else { return false }
            return kill(pid, 0) != 0
        }
        let client = PostgresClient(configuration: try PostgresClient.Configuration(url: databaseURL), backgroundLogger: logger)
        let databases: [String] = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await client.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%'", logger: logger).map {
                try $0.decode(String.self)
            }
        }
        for database in databases where orphaned(database, separator: "_") {
            try? await administer("DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
        }
        let data = try await management("GET", "/api/vhosts")
        let vhosts = ((try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        for vhost in vhosts where vhost.hasPrefix("bench-") && orphaned(vhost, separator: "-") {
            _ = try? await management("DELETE", "/api/vhosts/\(vhost)")
        }
    }

    /// Runs one statement on the server's own database (CREATE/DROP DATABASE cannot run in a transaction).
    func administer(_ sql: String) async throws {
        let client = PostgresClient(configuration: try PostgresClient.Configuration(url: databaseURL), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.execute(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    /// A request to the RabbitMQ management API.
    @discardableResult
    func management(_ method: String, _ path: String, body: String? = nil) async throws -> Data {
        // On a cluster, the first node's management API speaks for all.
        let first = managementURL.split(separator: ",").first.map(String.init) ?? managementURL
        guard var components = URLComponents(string: first) else { throw BenchError("CONCERT_AMQP_MANAGEMENT_URL is not a URL") }
        let user = components.user ?? "guest"
        let password = components.password ?? "guest"
        components.user = nil
        components.password = nil
        components.percentEncodedPath = path
        var request = URLRequest(url: components.url!)
        request.httpMethod = method
        request.setValue("Basic \(Data("\(user):\(password)".utf8).base64EncodedString())", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = body.map { Data($0.utf8) } ?? (method == "PUT" ? Data("{}".utf8) : nil)
        let (data, response) = try await URLSession.shared.data(for: request)
        guard let status = (response as? HTTPURLResponse)?.statusCode, (200..<300).contains(status) else {
            throw BenchError("RabbitMQ management: \(method) \(path) answered \((response as? HTTPURLResponse)?.statusCode ?? 0)")
        }
        return data
    }
}

/// One scenario's own database and virtual host, and the processes started on them.
public struct Sandbox: Sendable {
    public let environment: BenchEnvironment
    public let database: String
    public let virtualHost: String

    /// The URL of this sandbox's database.
    public var databaseURL: String {
        guard var components = URLComponents(string: environment.databaseURL) else { return environment.databaseURL }
        components.path = "/\(database)"
        return components.string ?? environment.databaseURL
    }

    /// The AMQP URL of this sandbox's virtual host (every node's, on a cluster).
    public var amqpURL: String {
        environment.amqpURL.split(separator: ",").map { node in
            guard var components = URLComponents(string: String(node)) else { return String(node) }
            components.percentEncodedPath = "/\(virtualHost)"
            return components.string ?? String(node)
        }.joined(separator: ",")
    }

    /// The environment of a `concert` process on this sandbox; `extra` overrides.
    public func concertEnvironment(port: Int? = nil, _ extra: [String: String] = [:]) -> [String: String] {
        var variables = ProcessInfo.processInfo.environment
        variables["CONCERT_DATABASE_URL"] = databaseURL
        variables["CONCERT_AMQP_URL"] = amqpURL
        variables["CONCERT_TOKEN_SECRET"] = environment.tokenSecret
        variables["CONCERT_USER_TOKEN_SECRET"] = environment.userTokenSecret
        variables["CONCERT_ADMIN_TOKEN"] = environment.adminToken
        variables["CONCERT_LOG_LEVEL"] = "warning"
        variables["CONCERT_RATE_LIMIT"] = "off"
        // The load sends many reservations per user (distinct seats): no per-user seat limit.
        variables["CONCERT_MAX_SEATS_PER_USER"] = "off"
        if let port { variables["CONCERT_HTTP_PORT"] = String(port) }
        variables.merge(extra) { _, new in new }
        return variables
    }

    /// Runs `concert ARGS` to completion on this sandbox (e.g. `seed`).
    public func concert(_ arguments: [String], _ extra: [String: String] = [:]) async throws -> String {
        try await runToCompletion(environment.concertExecutable, arguments, environment: concertEnvironment(extra))
    }

    /// Starts `concert ARGS` on this sandbox, logging to the output folder.
    public func start(_ name: String, arguments: [String], port: Int? = nil, _ extra: [String: String] = [:]) async throws -> ChildProcess {
        try await ChildProcess(
            name: name,
            executable: environment.concertExecutable,
            arguments: arguments,
            environment: concertEnvironment(port: port, extra),
            logFile: environment.outputDirectory.appendingPathComponent("logs/\(database)-\(name).log")
        )
    }

    /// Runs `body` with a client of this sandbox's database.
    public func withDatabase<Result: Sendable>(_ body: (PostgresClient) async throws -> Result) async throws -> Result {
        var configuration = try PostgresClient.Configuration(url: databaseURL)
        configuration.options.maximumConnections = 4
        let client = PostgresClient(configuration: configuration, backgroundLogger: environment.logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}

extension BenchEnvironment {
    /// `Authorization` with an access token of `user` (valid for a day), for the routes that act for a user.
    public func authorization(_ user: String) -> [(String, String)] {
        Self.authorization(user, secret: userTokenSecret)
    }

    static func authorization(_ user: String, secret: String) -> [(String, String)] {
        guard let id = UserID(user) else { return [] }
        return [("Authorization", "Bearer " + AccessTokens.sign(user: id, secret: secret, lifetime: 86_400))]
    }
}
