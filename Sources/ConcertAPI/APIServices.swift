public import AMQPClient
public import ConcertDomain
public import ConcertPipeline
public import ConcertStorage
public import Hummingbird
public import Logging
public import PostgresNIO
public import Prometheus

/// What the API's handlers use; built once per process by ConcertApp.
public struct APIServices: Sendable {
    public var wallets: WalletStore
    public var catalogue: CatalogueStore
    public var waitingRoom: WaitingRoomStore
    public var tokens: QueueTokens
    /// Users' access tokens (the identity provider's).
    public var accessTokens: AccessTokens
    /// In-memory admission marks (a `Service` the process must run).
    public var view: WaitingRoomView
    /// Batched last-seen writes (a `Service` the process must run).
    public var lastSeen: LastSeenRecorder
    public var commands: CommandStore
    /// Commands answered `503 OUTCOME_UNKNOWN`, recorded (later, if need be; a `Service` the process must run).
    public var unknownOutcomes: UnknownOutcomeRecorder
    /// Command ids that prove they were handed out (no row is written on accept).
    public var commandIDs: CommandIDs
    /// Admitted tokens' rows in memory (fed by the inbox's ended-token announcements).
    public var activeTokens: ActiveTokens
    /// This process's reply queue: outcomes for `Prefer: wait` (a `Service` the process must run).
    public var inbox: ReplyInbox
    public var reservations: ReservationStore
    public var publisher: CommandPublisher
    public var deadLetters: DeadLetterOperations
    /// How long a command answered `503 OUTCOME_UNKNOWN` reads pending before it is failed for
    /// good if it never arrived: twice the broker's confirm limit (`CONCERT_PUBLISH_TIMEOUT_SECONDS`).
    public var unknownOutcomeBound: Double {
        2 * Double(publisher.connection.configuration.confirmTimeout.components.seconds)
    }
    /// Per-user and per-address limits of token issue and submits; `nil`: none (`CONCERT_RATE_LIMIT=off`).
    public var rateLimiter: RateLimiter?
    /// The puzzle token issue asks for; `nil`: none (`CONCERT_QUEUE_PROOF_OF_WORK_BITS=0`).
    public var proofOfWork: ProofOfWork?
    /// The most seats one reservation may ask for: `CONCERT_MAX_SEATS_PER_USER` (100 when that is
    /// `off`). The partition enforces the limit itself, counting what the user holds already.
    public var maximumSeatsPerOrder = 4
    /// A concert's waiting-room capacity and admission rate when it sets none
    /// (`CONCERT_QUEUE_CAPACITY`, `CONCERT_ADMIT_PER_SECOND`).
    public var admissionDefaults = WaitingRoom.Policy()
    /// Whose `Forwarded` / `X-Forwarded-For` to believe (`CONCERT_TRUSTED_PROXIES`).
    public var trustedProxies = TrustedProxies.none
    /// Failed admin-token attempts per client address (the admin API and the console's sign-in);
    /// `nil`: not limited (`CONCERT_SIGN_IN_FAILURES_PER_MINUTE=0`).
    public var failedSignIns: FailedAttempts? = FailedAttempts()
    /// The bearer token of `/admin/…`; `nil` refuses every admin request.
    public var adminToken: String?
    public var readiness: ReadinessChecks
    /// Where `/metrics` reads from: the registry behind the process's `MetricsSystem`.
    public var metrics: PrometheusCollectorRegistry
    /// The operator console (`/admin/console`); `nil` leaves it out.
    public var console: ConsoleServices?

    public init(
        wallets: WalletStore,
        catalogue: CatalogueStore,
        waitingRoom: WaitingRoomStore,
        tokens: QueueTokens,
        accessTokens: AccessTokens,
        view: WaitingRoomView,
        lastSeen: LastSeenRecorder,
        commands: CommandStore,
        commandIDs: CommandIDs,
        activeTokens: ActiveTokens,
        inbox: ReplyInbox,
        reservations: ReservationStore,
        publisher: CommandPublisher,
        deadLetters: DeadLetterOperations,
        adminToken: String?,
        readiness: ReadinessChecks,
        metrics: PrometheusCollectorRegistry
    ) {
        self.wallets = wallets
        self.catalogue = catalogue
        self.waitingRoom = waitingRoom
        self.tokens = tokens
        self.accessTokens = accessTokens
        self.view = view
        self.lastSeen = lastSeen
        self.commands = commands
        unknownOutcomes = UnknownOutcomeRecorder(store: commands, logger: commands.logger)
        self.commandIDs = commandIDs
        self.activeTokens = activeTokens
        self.inbox = inbox
        self.reservations = reservations
        tokenIssuer = Coalescer(maximumBatch: 500) { requests in try await waitingRoom.issue(requests) }
        self.publisher = publisher
        self.deadLetters = deadLetters
        self.adminToken = adminToken
        self.readiness = readiness
        self.metrics = metrics
    }

    /// Every service over one database client and one broker connection: what a `concert`
    /// process (and a test) runs the API with. `abandonAfter`: `CONCERT_ABANDON_SECONDS`.
    public static func make(
        database: PostgresClient,
        broker: AMQPConnection,
        tokenSecret: String,
        accessTokens: AccessTokens,
        partitions: Int,
        adminToken: String?,
        readiness: ReadinessChecks,
        metrics: PrometheusCollectorRegistry,
        abandonAfter: Double = 30,
        logger: Logger
    ) async -> APIServices {
        let waitingRoom = WaitingRoomStore(client: database, logger: logger)
        let activeTokens = ActiveTokens(store: waitingRoom)
        var services = APIServices(
            wallets: WalletStore(client: database, logger: logger),
            catalogue: CatalogueStore(client: database, logger: logger),
            waitingRoom: waitingRoom,
            tokens: await QueueTokens(secret: tokenSecret),
            accessTokens: accessTokens,
            view: WaitingRoomView(store: waitingRoom, logger: logger) { concert, after, through in
                do {
                    try await activeTokens.readAhead {
                        try await waitingRoom.admittedTokens(concert: concert, after: after, through: through, limit: ActiveTokens.readAheadLimit)
                    }
                } catch {
                    // Each holder's first request reads its row instead, as it would without this.
                    logger.warning("waiting room: reading newly admitted tokens ahead failed", metadata: ["error": "\(String(reflecting: error))"])
                }
            },
            lastSeen: LastSeenRecorder(store: waitingRoom, logger: logger, abandonAfter: abandonAfter),
            commands: CommandStore(client: database, logger: logger),
            commandIDs: CommandIDs(secret: tokenSecret),
            activeTokens: activeTokens,
            inbox: ReplyInbox(connection: broker, logger: logger, tokensEnded: { activeTokens.ended($0) }),
            reservations: ReservationStore(client: database, logger: logger),
            publisher: CommandPublisher(connection: broker, partitions: partitions),
            deadLetters: DeadLetterOperations(store: DeadLetterStore(client: database, logger: logger), connection: broker),
            adminToken: adminToken,
            readiness: readiness,
            metrics: metrics
        )
        services.console = ConsoleServices(
            store: ConsoleStore(client: database, logger: logger),
            partitions: partitions,
            adminToken: adminToken,
            queueFacts: ConsoleServices.passiveQueueFacts(broker, topology: PipelineTopology(partitions: partitions))
        )
        return services
    }

    /// The concert's sale times: from the view (refreshed every second), else from the catalogue
    /// (a concert created since). `nil`: no such concert.
    func saleWindow(of concert: ConcertID) async throws -> SaleWindow? {
        if let window = view.window(concert) { return window }
        return try await catalogue.concert(concert)?.window
    }

    /// Token issues from concurrent requests, one statement per batch.
    let tokenIssuer: Coalescer<(concert: ConcertID, user: UserID), WaitingRoomStore.Issue>

    /// Takes one request of `user` (and of the client's address) from the rate limits: 429 `RATE_LIMITED` when spent.
    func admitRequest(of user: UserID, request: Request, context: APIRequestContext) throws(Problem) {
        guard let rateLimiter else { return }
        var keys = ["user:" + user.rawValue]
        if let address = clientAddress(request, context) { keys.append("address:" + address) }
        try rateLimiter.admit(keys)
    }

    /// The client's address: the TCP peer, or what a trusted proxy says it forwarded for (`TrustedProxies`).
    func clientAddress(_ request: Request, _ context: APIRequestContext) -> String? {
        trustedProxies.client(peer: context.clientAddress, headers: request.headers)
    }

    var tokenGuard: TokenGuard { TokenGuard(tokens: tokens, active: activeTokens, view: view) }

    /// The user of the request's bearer token, a waiting-room token (even one that has ended: it
    /// still says who) or an access token: 401 `AUTH_MISSING`, `AUTH_INVALID` or `AUTH_EXPIRED` otherwise.
    func bearerUser(_ request: Request) async throws(Problem) -> UserID {
        if let queueToken = try? await tokenGuard.verified(request) { return queueToken.userID }
        return try await accessTokens.user(of: request)
    }
}

/// The API's router: every route of the contract, behind the problem mapping and request logging.
public func buildAPIRouter(_ services: APIServices) -> Router<APIRequestContext> {
    let router = Router(context: APIRequestContext.self)
    let routes = RouteMethods()
    // The request's span (continuing a client's `traceparent`) around everything else, so its
    // logs and the command it publishes belong to it; no middleware at all when tracing is off.
    if CommandTracing.isEnabled { router.add(middleware: TracingMiddleware()) }
    router.add(middleware: LogRequestsMiddleware(.debug))
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: ProblemMiddleware(routes: routes))
    router.addHealthRoutes(readiness: services.readiness)
    router.addOpenAPIRoute()
    router.addMetricsRoute(services.metrics, readiness: services.readiness)
    router.add(middleware: StartupMiddleware(startup: services.readiness.startup))
    router.addBalanceRoutes(services.wallets, accessTokens: services.accessTokens)
    router.addConcertRoutes(services.catalogue)
    router.addQueueRoutes(services)
    router.addScheduleRoutes(services)
    router.addCommandRoutes(services)
    router.addAdminRoutes(services)
    router.addConsoleRoutes(services)
    routes.learn(router)
    return router
}
