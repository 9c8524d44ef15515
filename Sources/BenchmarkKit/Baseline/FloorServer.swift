public import Hummingbird
public import Logging
import ServiceLifecycle
import UnixSignals

/// The floor the API's per-request cost is compared with: a Hummingbird 2 server with no
/// middleware that answers every `GET` on the product's paths with a fixed body the size of a
/// waiting-room answer — no token, no memory, no broker. Same HTTP stack and release build as
/// `concert`; whatever the API spends above it is its own.
public enum FloorServer {
    /// The fixed answer: a waiting token's status, as the API writes it.
    public static let answer = #"{"estimatedWaitSeconds":1234,"position":123456,"status":"waiting"}"#

    /// `GET /v1/queue/status` → `200` with ``answer``, nothing else.
    public static func router() -> Router<BasicRequestContext> {
        let router = Router()
        let body = ByteBuffer(string: answer)
        router.get("/v1/queue/status") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
        return router
    }

    /// Serves on `port` until SIGTERM.
    public static func run(port: Int, logger: Logger) async throws {
        let application = Application(
            router: router(),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port), serverName: "floor"),
            logger: logger
        )
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: application, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}
