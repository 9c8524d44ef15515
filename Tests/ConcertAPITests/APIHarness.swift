import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWorkers
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOFoundationCompat
import PostgresNIO
import Prometheus
import TestSupport

/// Runs API tests against the real router and a seeded database of their own; with a broker,
/// also a virtual host of their own with the topology and every partition's worker running.
struct APIHarness: Sendable {
    static let secret = "api-tests-secret-0123456789abcdef"
    static let adminToken = "api-tests-admin-token-0123456789"
    /// The HS256 secret of users' access tokens in API tests.
    static let userSecret = "api-tests-user-token-secret-0123456789"

    /// `Authorization` with an access token of `user`; none for a string that is no user id
    /// (the route refuses it with 400 before it looks at credentials).
    static func authorization(_ user: String) -> HTTPFields {
        guard let id = UserID(user) else { return [:] }
        return [.authorization: "Bearer \(AccessTokens.sign(user: id, secret: userSecret, lifetime: 3600))"]
    }
    /// The registry `/metrics` serves in API tests (see `MetricsTests`, which bootstraps the metrics system with it).
    static let metricsRegistry = PrometheusCollectorRegistry()

    let client: PostgresClient
    let services: APIServices
    /// The broker connection of the pipeline (an unreachable one without a pipeline).
    let broker: AMQPConnection
    /// Where a process started by the test finds the same database and virtual host.
    let databaseURL: String
    let amqp: AMQPConfiguration

    /// The services over `client` and `broker`, with readiness checks that always pass.
    static func services(_ client: PostgresClient, broker: AMQPConnection, partitions: Int) async -> APIServices {
        await APIServices.make(
            database: client,
            broker: broker,
            tokenSecret: secret,
            // A constant, valid setting: it cannot fail.
            accessTokens: try! await AccessTokens(.init(secret: userSecret)),
            partitions: partitions,
            adminToken: adminToken,
            readiness: ReadinessChecks(database: { true }, broker: { true }),
            metrics: metricsRegistry,
            logger: DatabaseEnvironment.logger
        )
    }

    /// A seeded database and an HTTP test client over the router. Without `pipeline`, the broker is
    /// an address where nothing listens (commands get 503). With `testing: .live` the API listens
    /// on a port of 127.0.0.1 (the client's `port`), for a process outside the test to reach.
    static func withAPI(
        pipeline: PipelineSettings? = nil,
        rateLimit: RateLimiter? = nil,
        testing: TestingSetup = .router,
        customize: @escaping @Sendable (inout APIServices) -> Void = { _ in },
        _ body: @escaping @Sendable (any TestClientProtocol, APIHarness) async throws -> Void
    ) async throws {
        try await DatabaseEnvironment.withSeededDatabaseAndURL { client, databaseURL in
            guard let pipeline else {
                var nowhere = AMQPConfiguration(port: 1)
                nowhere.connectionName = "nowhere"
                try await withRunning(AMQPConnection(configuration: nowhere, logger: DatabaseEnvironment.logger)) { broker in
                    var services = await services(client, broker: broker, partitions: 2)
                    services.rateLimiter = rateLimit
                    customize(&services)
                    try await run(client, services: services, broker: broker, databaseURL: databaseURL, amqp: nowhere, testing: testing, body)
                }
                return
            }
            try await BrokerVirtualHost.withVirtualHost { configuration in
                let broker = AMQPConnection(configuration: configuration, logger: DatabaseEnvironment.logger)
                try await withRunning(broker) { broker in
                    try await broker.waitUntilConnected(timeout: .seconds(10))
                    try await PipelineTopology(partitions: pipeline.partitions, holdSeconds: pipeline.holdSeconds).apply(to: broker)
                    var limited = await services(client, broker: broker, partitions: pipeline.partitions)
                    limited.rateLimiter = rateLimit
                    customize(&limited)
                    let services = limited
                    let publisher = CommandPublisher(connection: broker, partitions: pipeline.partitions)
                    let replies = ReplySender(connection: broker, local: services.inbox, logger: DatabaseEnvironment.logger)
                    let workers = (pipeline.inProcessWorkers ? 0..<pipeline.partitions : 0..<0).map { partition in
                        PartitionWorker(
                            partition: partition,
                            connection: broker,
                            database: client,
                            publisher: publisher,
                            replies: replies,
                            settings: .init(holdDuration: TimeInterval(pipeline.holdSeconds), maximumSeatsPerUser: pipeline.maximumSeatsPerUser),
                            logger: DatabaseEnvironment.logger
                        )
                    }
                    let archiver = DeadLetterArchiver(connection: broker, database: client, logger: DatabaseEnvironment.logger)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for worker in workers { group.addTask { try await worker.run() } }
                        group.addTask { try await archiver.run() }
                        group.addTask { try await services.inbox.run() }
                        defer { group.cancelAll() }
                        try await run(
                            client,
                            services: services,
                            broker: broker,
                            databaseURL: databaseURL,
                            amqp: configuration,
                            testing: testing,
                            body
                        )
                    }
                }
            }
        }
    }

    /// How the pipeline of a test is set up.
    struct PipelineSettings: Sendable {
        var partitions = 2
        var holdSeconds = 300
        /// `CONCERT_MAX_SEATS_PER_USER` of the in-process workers (`nil`: no limit).
        var maximumSeatsPerUser: Int? = nil
        /// False when the test starts `concert worker` processes itself.
        var inProcessWorkers = true
    }

    private static func run(
        _ client: PostgresClient,
        services: APIServices,
        broker: AMQPConnection,
        databaseURL: String,
        amqp: AMQPConfiguration,
        testing: TestingSetup,
        _ body: @escaping @Sendable (any TestClientProtocol, APIHarness) async throws -> Void
    ) async throws {
        let harness = APIHarness(
            client: client,
            services: services,
            broker: broker,
            databaseURL: databaseURL,
            amqp: amqp
        )
        try await harness.services.view.refresh()
        let app = Application(router: buildAPIRouter(harness.services))
        try await app.test(testing) { testClient in try await body(testClient, harness) }
    }

    /// The environment of a `concert` process started by the test: this test's database schema
    /// and virtual host, the harness's secrets.
    func childEnvironment(partitions: Int) -> [String: String] {
        let vhost = amqp.virtualHost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? amqp.virtualHost
        var environment = ProcessInfo.processInfo.environment
        environment["CONCERT_DATABASE_URL"] = databaseURL
        environment["CONCERT_AMQP_URL"] = amqp.addresses.map { "amqp://\(amqp.username):\(amqp.password)@\($0)/\(vhost)" }.joined(separator: ",")
        environment["CONCERT_PARTITIONS"] = String(partitions)
        environment["CONCERT_TOKEN_SECRET"] = Self.secret
        environment["CONCERT_USER_TOKEN_SECRET"] = Self.userSecret
        // As the in-process workers of `PipelineSettings` (no limit unless a test sets one).
        environment["CONCERT_MAX_SEATS_PER_USER"] = "off"
        environment["CONCERT_LOG_LEVEL"] = "warning"
        return environment
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Starts `concert worker` (the debug build `scripts/test` makes) against this test's database
    /// schema and virtual host, logging to a temporary file.
    func startWorker(partitions: Int, name: String) async throws -> SpawnedProcess {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("concert-\(name)-\(UUID().uuidString.prefix(6)).log")
        return try await SpawnedProcess(
            Self.root.appendingPathComponent(".build/debug/concert").path,
            ["worker"],
            environment: childEnvironment(partitions: partitions),
            log: log
        )
    }

    /// A `SeverableProxy` in front of the test's database, and a client that connects through it
    /// (the caller runs the client and closes the proxy).
    func databaseBehindProxy(connectTimeout: Duration? = nil) throws -> (proxy: SeverableProxy, database: PostgresClient) {
        let proxy = try SeverableProxy(targetPort: try DatabaseAddress(url: databaseURL).port)
        guard var url = URLComponents(string: databaseURL) else { throw TestFailure("not a URL: \(databaseURL)") }
        url.port = proxy.port
        guard let proxied = url.string else { throw TestFailure("no URL for port \(proxy.port)") }
        var configuration = try PostgresClient.Configuration(url: proxied)
        if let connectTimeout { configuration.options.connectTimeout = connectTimeout }
        return (proxy, PostgresClient(configuration: configuration, backgroundLogger: DatabaseEnvironment.logger))
    }

    /// One admission pass (what the admitter does on each tick), then the view refreshes.
    func admit(capacity: Int = 1000, activeFor: TimeInterval = 600, abandonAfter: TimeInterval = 30, now: Date = Date()) async throws {
        _ = try await services.waitingRoom.admit(
            policy: WaitingRoom.Policy(capacity: capacity, admitPerSecond: 0),
            activeFor: activeFor,
            abandonAfter: abandonAfter,
            now: now
        )
        try await services.view.refresh()
    }
}

extension TestResponse {
    /// The body decoded as JSON.
    func json<Value: Decodable>(_ type: Value.Type = [String: JSONValue].self) throws -> Value {
        try JSONDecoder().decode(Value.self, from: body)
    }
}

/// Any JSON value, for asserting on response bodies.
enum JSONValue: Decodable, Equatable, Sendable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case object([String: JSONValue])
    case array([JSONValue])
    case null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .number(Double(value)) }
}
