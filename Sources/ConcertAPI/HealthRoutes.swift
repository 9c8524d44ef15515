public import Hummingbird

/// What `/health/ready` asks: can this process reach its database and its broker right now?
public struct ReadinessChecks: Sendable {
    /// True when a trivial query succeeds (bounded by the check's own timeout).
    public var database: @Sendable () async -> Bool
    /// True while the AMQP connection is up.
    public var broker: @Sendable () async -> Bool

    public init(database: @escaping @Sendable () async -> Bool, broker: @escaping @Sendable () async -> Bool) {
        self.database = database
        self.broker = broker
    }
}

/// The body of `/health/ready`.
struct Readiness: ResponseEncodable {
    let status: String
    let database: String
    let broker: String
}

extension Router {
    /// `GET /health/live` (the process serves HTTP) and `GET /health/ready` (and can reach PostgreSQL and RabbitMQ).
    public func addHealthRoutes(readiness: ReadinessChecks) {
        get("/health/live") { _, _ -> HTTPResponse.Status in .ok }
        get("/health/ready") { _, _ -> EditedResponse<Readiness> in
            async let databaseUp = readiness.database()
            async let brokerUp = readiness.broker()
            let (database, broker) = await (databaseUp, brokerUp)
            let body = Readiness(
                status: database && broker ? "ready" : "unavailable",
                database: database ? "up" : "down",
                broker: broker ? "up" : "down"
            )
            guard database && broker else {
                return EditedResponse(status: .serviceUnavailable, headers: [.retryAfter: "5"], response: body)
            }
            return EditedResponse(status: .ok, response: body)
        }
    }
}
