public import ConcertStorage
public import Hummingbird

/// What `/health/ready` asks: has this process finished starting, and can it reach its database
/// and its broker right now?
public struct ReadinessChecks: Sendable {
    /// Whether the database takes writes now (bounded by the check's own timeout).
    public var databaseState: @Sendable () async -> DatabaseState
    /// True while the AMQP connection is up.
    public var broker: @Sendable () async -> Bool
    /// While the process is still starting: what it is doing or waiting for (`nil` once started).
    public var startup: @Sendable () -> String?

    public init(
        databaseState: @escaping @Sendable () async -> DatabaseState,
        broker: @escaping @Sendable () async -> Bool,
        startup: @escaping @Sendable () -> String? = { nil }
    ) {
        self.databaseState = databaseState
        self.broker = broker
        self.startup = startup
    }

    /// With a database check that only tells up from down.
    public init(
        database: @escaping @Sendable () async -> Bool,
        broker: @escaping @Sendable () async -> Bool,
        startup: @escaping @Sendable () -> String? = { nil }
    ) {
        self.init(databaseState: { await database() ? .up : .down }, broker: broker, startup: startup)
    }
}

/// The body of `/health/ready`.
struct Readiness: ResponseEncodable {
    let status: String
    let database: String
    let broker: String
    /// While starting: what start-up waits for, e.g. a database that refuses the login.
    let startup: String?
}

extension Router {
    /// `GET /health/live` (the process serves HTTP) and `GET /health/ready` (it has started and
    /// can reach PostgreSQL and RabbitMQ; while starting, `startup` says what it waits for).
    /// `database` is `up`, `down`, or `failing-over` while something answers at the database's
    /// address but no writable server is behind it (see ``DatabaseState``).
    public func addHealthRoutes(readiness: ReadinessChecks) {
        get("/health/live") { _, _ -> HTTPResponse.Status in .ok }
        get("/health/ready") { _, _ -> EditedResponse<Readiness> in
            if let startup = readiness.startup() {
                // Start-up checks the connections itself, and says in `startup` what it waits for.
                let body = Readiness(status: "starting", database: "unknown", broker: "unknown", startup: startup)
                return EditedResponse(status: .serviceUnavailable, headers: [.retryAfter: "5"], response: body)
            }
            async let databaseState = readiness.databaseState()
            async let brokerUp = readiness.broker()
            let (state, broker) = await (databaseState, brokerUp)
            let database = state == .up
            let body = Readiness(
                status: database && broker ? "ready" : "unavailable",
                database: state.rawValue,
                broker: broker ? "up" : "down",
                startup: nil
            )
            guard database && broker else {
                return EditedResponse(status: .serviceUnavailable, headers: [.retryAfter: "5"], response: body)
            }
            return EditedResponse(status: .ok, response: body)
        }
    }
}

/// Until start-up has finished (schema migrated, topology declared), every route added after it
/// answers `503 SERVICE_UNAVAILABLE` saying what start-up waits for.
struct StartupMiddleware<Context: RequestContext>: RouterMiddleware {
    let startup: @Sendable () -> String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let state = startup() { throw Problem.unavailable("The service is starting: \(state).") }
        return try await next(request, context)
    }
}
