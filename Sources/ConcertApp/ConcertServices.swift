public import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWorkers
import Foundation
import Hummingbird
public import Logging
public import PostgresNIO
public import Prometheus
public import ServiceLifecycle
import UnixSignals

/// Builds the long-running parts of a `concert` process; `@main` and the tests call the same functions.
public enum ConcertServices {
    /// The PostgreSQL client (a `Service`: it must be run).
    public static func makeDatabase(_ configuration: ConcertConfiguration, logger: Logger) throws -> PostgresClient {
        var database = try DatabaseAddress(url: configuration.databaseURL).clientConfiguration
        database.options.maximumConnections = 40
        DatabaseTimeout.set(.seconds(configuration.databaseTimeoutSeconds))
        database.options.connectTimeout = .seconds(configuration.databaseTimeoutSeconds)
        // Statements on the hot paths are prepared once per connection. Left to itself, PostgreSQL
        // plans the set-based ones (unnest of arrays) again at every execution, because it cannot
        // tell that a generic plan does as well; and a generic plan made while a table is still
        // empty would scan it whole for as long as the connection lives. Every statement of this
        // system is an index lookup by design, so: generic plans, and never a sequential scan where
        // an index serves.
        database.options.additionalStartupParameters += [("plan_cache_mode", "force_generic_plan"), ("enable_seqscan", "off")]
        // The pool logs each failed connection attempt; the process says what is wrong itself
        // (`waitForDatabase`, readiness), once, instead of a flood.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        return PostgresClient(configuration: database, backgroundLogger: background)
    }

    /// An AMQP connection named after its role, so operators can tell connections apart in the broker.
    public static func makeBroker(_ configuration: ConcertConfiguration, role: String, logger: Logger) throws -> AMQPConnection {
        var broker = try AMQPConfiguration(url: configuration.amqpURL)
        broker.connectionName = "concert \(role) pid \(ProcessInfo.processInfo.processIdentifier)"
        broker.confirmTimeout = .seconds(configuration.publishTimeoutSeconds)
        return AMQPConnection(configuration: broker, logger: logger)
    }

    /// `concert serve`: the HTTP API with its database and broker connections, the waiting room's
    /// memory and batch writers, every partition's worker, the admitter and its watchdog — the
    /// whole system in one process. HTTP answers at once; start-up (`Preparation`: waiting for the
    /// database and the broker, migrating, declaring the topology) runs in the group, and what
    /// needs it starts after it — until then `/health/ready` says what start-up waits for and the
    /// API answers 503. SIGTERM and SIGINT drain and stop it, during start-up too.
    /// With `pipeline: false` it is `concert api`: the HTTP API alone, for more API processes behind a load balancer.
    public static func buildServeGroup(
        _ configuration: ConcertConfiguration,
        pipeline: Bool = true,
        metrics: PrometheusCollectorRegistry,
        tracing: (any Service)? = nil,
        logger: Logger
    ) async throws -> ServiceGroup {
        ignoreHangUps()
        let progress = StartupProgress()
        let database = try makeDatabase(configuration, logger: logger)
        let broker = try makeBroker(configuration, role: "serve", logger: logger)
        let api = try await makeAPIServices(configuration, metrics: metrics, database: database, broker: broker, progress: progress, logger: logger)
        let files = OpenFileLimit.raiseToHardLimit()
        logger.info("open-file limit", metadata: ["files.before": "\(files.before)", "files.now": "\(files.now)"])
        let connections = ConnectionGuard(
            requestTimeout: .seconds(Int64(configuration.httpIdleTimeoutSeconds)),
            // Descriptors are also the database's, the broker's and the log's: keep a margin.
            maximumConnections: min(configuration.httpMaximumConnections, max(64, Int(files.now) - 256))
        )
        let application = Application(
            router: buildAPIRouter(api),
            server: connections.server,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.httpHost, port: configuration.httpPort),
                serverName: "concert"
            ),
            logger: logger
        )
        var afterStartup: [any Service] = [broker, api.view, api.lastSeen, api.unknownOutcomes, api.inbox]
        if let path = configuration.userJWKSPath, api.accessTokens.usesJWKS {
            afterStartup.append(JWKSWatcher(path: path, accessTokens: api.accessTokens, logger: logger))
        }
        if pipeline {
            let workerBroker = try makeBroker(configuration, role: "worker", logger: logger)
            afterStartup +=
                [workerBroker]
                + pipelineServices(
                    configuration,
                    preferred: Array(0..<configuration.partitions),
                    database: database,
                    broker: workerBroker,
                    localInbox: api.inbox,
                    logger: logger
                )
        }
        return group(
            [
                .init(
                    service: Preparation(configuration: configuration, progress: progress, finally: { try await api.view.refresh() }, logger: logger),
                    successTerminationBehavior: .ignore,
                    // A start-up that cannot succeed (a newer schema, another partition count) stops
                    // the HTTP server gracefully and the process with its one line.
                    failureTerminationBehavior: .gracefullyShutdownGroup
                ),
                .init(service: database),
            ] + afterStartup.map { .init(service: AfterStartup(service: $0, progress: progress)) } + [
                .init(service: application, successTerminationBehavior: .gracefullyShutdownGroup)
            ],
            tracing: tracing,
            logger: logger
        )
    }

    /// `concert worker`: partition workers, the admitter, its watchdog and the archiver, without HTTP.
    /// It consumes every partition, subscribing at once to its `preferred` share and a few seconds
    /// later to the rest: each queue has a single active consumer (the first subscribed), so several
    /// such processes split the partitions, each standing by for the others' — and a standby takes
    /// over within seconds when the active one's process dies. They start after start-up (as in `serve`).
    /// With `CONCERT_METRICS_PORT` it serves `metrics` there (`MetricsListener`) from the start.
    public static func buildWorkerGroup(
        _ configuration: ConcertConfiguration,
        preferred: [Int],
        metrics: PrometheusCollectorRegistry? = nil,
        tracing: (any Service)? = nil,
        logger: Logger
    ) throws -> ServiceGroup {
        ignoreHangUps()
        let progress = StartupProgress()
        let database = try makeDatabase(configuration, logger: logger)
        let broker = try makeBroker(configuration, role: "worker", logger: logger)
        let afterStartup: [any Service] =
            [broker] + pipelineServices(configuration, preferred: preferred, database: database, broker: broker, localInbox: nil, logger: logger)
        var listener: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let port = configuration.metricsPort, let metrics {
            listener = [.init(service: MetricsListener.make(host: configuration.httpHost, port: port, registry: metrics, logger: logger))]
        }
        return group(
            [
                .init(
                    service: Preparation(configuration: configuration, progress: progress, logger: logger),
                    successTerminationBehavior: .ignore,
                    failureTerminationBehavior: .gracefullyShutdownGroup
                ),
                .init(service: database),
            ] + listener + afterStartup.map { .init(service: AfterStartup(service: $0, progress: progress)) },
            tracing: tracing,
            logger: logger
        )
    }

    /// How long a graceful shutdown may take before what still runs is cancelled: long enough for a
    /// batch in hand to commit, short enough that SIGTERM during an outage (a worker retrying its
    /// batch, a final flush to a database that is down) still stops the process within seconds.
    /// Nothing is acknowledged that did not commit: what is left unacknowledged the broker requeues.
    public static let gracefulShutdownLimit: Duration = .seconds(10)

    /// SIGHUP never ends a long-running process, during start-up neither: it asks to read
    /// `CONCERT_USER_JWKS` again where there is one (`JWKSWatcher` traps it then), and is ignored
    /// otherwise.
    static func ignoreHangUps() {
        signal(SIGHUP, SIG_IGN)
    }

    /// The process's one service group: SIGTERM and SIGINT shut it down gracefully. The span
    /// exporter (`tracing`) goes first, so it stops last and sends the spans of the shutdown too.
    static func group(
        _ services: [ServiceGroupConfiguration.ServiceConfiguration],
        tracing: (any Service)? = nil,
        logger: Logger
    ) -> ServiceGroup {
        let services = (tracing.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? []) + services
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = gracefulShutdownLimit
        configuration.maximumCancellationDuration = .seconds(5)
        return ServiceGroup(configuration: configuration)
    }

    /// A worker for every partition (the `preferred` ones subscribe first), the admitter, the tick
    /// watchdog, the dead-letter archiver and the hold sweeper, on `broker`. With `localInbox` (`concert serve`), the
    /// workers hand outcomes for this process's API to it in memory.
    static func pipelineServices(
        _ configuration: ConcertConfiguration,
        preferred: [Int],
        database: PostgresClient,
        broker: AMQPConnection,
        localInbox: ReplyInbox?,
        logger: Logger
    ) -> [any Service] {
        let publisher = CommandPublisher(connection: broker, partitions: configuration.partitions)
        let replies = ReplySender(connection: broker, local: localInbox, logger: logger)
        let preferred = Set(preferred)
        let workers: [any Service] = (0..<configuration.partitions).map { partition in
            PartitionWorker(
                partition: partition,
                connection: broker,
                database: database,
                publisher: publisher,
                replies: replies,
                settings: configuration.partitionSettings,
                subscribeAfter: preferred.contains(partition) ? .zero : .seconds(5),
                logger: logger
            )
        }
        let waitingRoom = WaitingRoomStore(client: database, logger: logger)
        return workers + [
            AdmissionTicker(connection: broker, store: waitingRoom, settings: configuration.admission, logger: logger),
            TickWatchdog(connection: broker, logger: logger),
            DeadLetterArchiver(connection: broker, database: database, logger: logger),
            HoldSweeper(reservations: ReservationStore(client: database, logger: logger), publisher: publisher, logger: logger),
            QueueDepthMonitor(connection: broker, topology: configuration.topology, logger: logger),
        ]
    }

    /// What the API handlers use.
    static func makeAPIServices(
        _ configuration: ConcertConfiguration,
        metrics: PrometheusCollectorRegistry,
        database: PostgresClient,
        broker: AMQPConnection,
        progress: StartupProgress,
        logger: Logger
    ) async throws -> APIServices {
        guard let secret = configuration.tokenSecret else {
            throw ConfigurationError(variable: "CONCERT_TOKEN_SECRET", problem: "is required (scripts/services up writes one to .run/env)")
        }
        let accessTokens: AccessTokens
        do {
            accessTokens = try await AccessTokens(configuration.accessTokenSettings())
        } catch let error as AccessTokens.SettingsError {
            throw ConfigurationError(variable: error.variable, problem: error.problem)
        }
        let address = try DatabaseAddress(url: configuration.databaseURL)
        var services = await APIServices.make(
            database: database,
            broker: broker,
            tokenSecret: secret,
            accessTokens: accessTokens,
            partitions: configuration.partitions,
            adminToken: configuration.adminToken,
            readiness: ReadinessChecks(
                databaseState: { await DatabaseState.probe(database, address: address, within: .seconds(2), logger: logger) },
                broker: { broker.isConnected },
                startup: { progress.current }
            ),
            metrics: metrics,
            abandonAfter: TimeInterval(configuration.abandonSeconds),
            logger: logger
        )
        services.rateLimiter = configuration.rateLimit
        services.proofOfWork = ProofOfWork(bits: configuration.proofOfWorkBits, secret: secret)
        services.maximumSeatsPerOrder = configuration.maximumSeatsPerUser ?? 100
        services.admissionDefaults = WaitingRoom.Policy(capacity: configuration.queueCapacity, admitPerSecond: configuration.admitPerSecond)
        services.trustedProxies = configuration.trustedProxies
        services.failedSignIns =
            configuration.signInFailuresPerMinute == 0 ? nil : FailedAttempts(limit: configuration.signInFailuresPerMinute, window: 60)
        if configuration.managementURL != nil, let passive = services.console?.queueFacts {
            // With the management API the console also shows unacked messages and the active consumer.
            services.console?.queueFacts = {
                async let live = passive()
                let managed = (try? await ManagedQueue.all(configuration)) ?? [:]
                var facts = await live
                for (name, info) in managed {
                    var fact = facts[name] ?? .init(ready: info.ready, consumers: info.consumers)
                    fact.unacknowledged = info.unacknowledged
                    fact.activeConsumer = info.activeConsumer
                    facts[name] = fact
                }
                return facts
            }
        }
        return services
    }

    /// Runs `body` with a running AMQP connection (for one-shot commands such as `topology apply`):
    /// a broker that cannot be used fails it at once, with one line that says why.
    public static func withBroker<Result: Sendable>(
        _ configuration: ConcertConfiguration,
        logger: Logger,
        _ body: @Sendable (AMQPConnection) async throws -> Result
    ) async throws -> Result {
        try await BrokerCheck.check(try AMQPConfiguration(url: configuration.amqpURL), logger: logger)
        // A one-shot command's connection is not news; its problems are.
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        let broker = try makeBroker(configuration, role: "cli", logger: quiet)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await broker.run() }
            defer { group.cancelAll() }
            try await broker.waitUntilConnected(timeout: .seconds(10))
            return try await body(broker)
        }
    }

    /// Runs `body` with a running PostgreSQL client (for one-shot commands such as `migrate`): a
    /// database that cannot be used fails it at once, with one line that says why.
    public static func withDatabase<Result: Sendable>(
        _ configuration: ConcertConfiguration,
        logger: Logger,
        _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        try await DatabaseCheck.check(try DatabaseAddress(url: configuration.databaseURL), logger: logger)
        let database = try makeDatabase(configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            defer { group.cancelAll() }
            return try await body(database)
        }
    }
}
