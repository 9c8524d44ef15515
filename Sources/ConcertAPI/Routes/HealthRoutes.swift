public import Hummingbird

/// What `/health/ready` asks: has this process finished starting, and can it reach its database
/// and its broker right now?
public struct ReadinessChecks: Sendable {
    /// True when a trivial query succeeds (bounded by the check's own timeout).
    public var database: @Sendable () async -> Bool
    /// True while the AMQP connection is up.
    public var broker: @Sendable () async -> Bool
    /// While the process is still starting: what it is doing or waiting for (`nil` once started).
    public var startup: @Sendable () -> String?

    public init(
        database: @escaping @Sendable () async -> Bool,
        broker: @escaping @Sendable () async -> Bool,
        startup: @escaping @Sendable () -> String? = { nil }
    ) {
        self.database = database
        self.broker = broker
        self.startup = startup
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
    public func addHealthRoutes(readiness: ReadinessChecks) {
        get("/health/live") { _, _ -> HTTPResponse.Status in .ok }
        get("/health/ready") { _, _ -> EditedResponse<Readiness> in
            if let startup = readiness.startup() {
                // Start-up checks the connections itself, and says in `startup` what it waits for.
                let body = Readiness(status: "starting", database: "unknown", broker: "unknown", startup: startup)
                return EditedResponse(status: .serviceUnavailable, headers: [.retryAfter: "5"], response: body)
            }
            async let databaseUp = readiness.database()
            async let brokerUp = readiness.broker()
            let (database, broker) = await (databaseUp, brokerUp)
            let body = Readiness(
                status: database && broker ? "ready" : "unavailable",
                database: database ? "up" : "down",
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
