public import ConcertPipeline
public import ConcertStorage
public import Hummingbird
import Logging
public import Prometheus

/// What the API's handlers use; built once per process by ConcertApp.
public struct APIServices: Sendable {
    public var wallets: WalletStore
    public var catalogue: CatalogueStore
    public var waitingRoom: WaitingRoomStore
    public var tokens: QueueTokens
    /// In-memory admission marks (a `Service` the process must run).
    public var view: WaitingRoomView
    /// Batched last-seen writes (a `Service` the process must run).
    public var lastSeen: LastSeenRecorder
    public var commands: CommandStore
    public var reservations: ReservationStore
    public var publisher: CommandPublisher
    public var deadLetters: DeadLetterOperations
    /// The bearer token of `/admin/…`; `nil` refuses every admin request.
    public var adminToken: String?
    public var readiness: ReadinessChecks
    /// Where `/metrics` reads from: the registry behind the process's `MetricsSystem`.
    public var metrics: PrometheusCollectorRegistry

    public init(
        wallets: WalletStore,
        catalogue: CatalogueStore,
        waitingRoom: WaitingRoomStore,
        tokens: QueueTokens,
        view: WaitingRoomView,
        lastSeen: LastSeenRecorder,
        commands: CommandStore,
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
        self.view = view
        self.lastSeen = lastSeen
        self.commands = commands
        self.reservations = reservations
        self.publisher = publisher
        self.deadLetters = deadLetters
        self.adminToken = adminToken
        self.readiness = readiness
        self.metrics = metrics
    }

    var tokenGuard: TokenGuard { TokenGuard(tokens: tokens, store: waitingRoom, view: view) }
}

/// The API's router: every route of the contract, behind the problem mapping and request logging.
public func buildAPIRouter(_ services: APIServices) -> Router<APIRequestContext> {
    let router = Router(context: APIRequestContext.self)
    router.add(middleware: LogRequestsMiddleware(.debug))
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: ProblemMiddleware())
    router.addHealthRoutes(readiness: services.readiness)
    router.addOpenAPIRoute()
    router.addMetricsRoute(services.metrics)
    router.addBalanceRoutes(services.wallets)
    router.addConcertRoutes(services.catalogue)
    router.addQueueRoutes(services)
    router.addScheduleRoutes(services)
    router.addCommandRoutes(services)
    router.addAdminRoutes(services)
    return router
}
