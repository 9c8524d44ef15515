import AMQPClient
import ConcertAPI
import ConcertPipeline
import ConcertStorage
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Prometheus
import Testing

/// The OpenAPI document and the router describe the same API (no services needed: routes are
/// registered without touching the database or the broker).
@Suite struct OpenAPITests {
    static func router() async -> Router<APIRequestContext> {
        let logger = Logger(label: "openapi-tests")
        let client = PostgresClient(configuration: .init(host: "127.0.0.1", username: "nobody", password: nil, database: nil, tls: .disable), backgroundLogger: logger)
        let broker = AMQPConnection(configuration: AMQPConfiguration(port: 1), logger: logger)
        let waitingRoom = WaitingRoomStore(client: client, logger: logger)
        return buildAPIRouter(
            APIServices(
                wallets: WalletStore(client: client, logger: logger),
                catalogue: CatalogueStore(client: client, logger: logger),
                waitingRoom: waitingRoom,
                tokens: await QueueTokens(secret: "openapi-tests-secret-0123456789abcdef"),
                view: WaitingRoomView(store: waitingRoom, logger: logger),
                lastSeen: LastSeenRecorder(store: waitingRoom, logger: logger),
                commands: CommandStore(client: client, logger: logger),
                reservations: ReservationStore(client: client, logger: logger),
                publisher: CommandPublisher(connection: broker, partitions: 1),
                deadLetters: DeadLetterOperations(store: DeadLetterStore(client: client, logger: logger), connection: broker),
                adminToken: nil,
                readiness: ReadinessChecks(database: { true }, broker: { true }),
                metrics: PrometheusCollectorRegistry()
            )
        )
    }

    static func routerOperations() async -> Set<String> {
        let router = await router()
        return Set(
            router.routes.map { route in
                // Hummingbird writes parameters as `:name`; OpenAPI as `{name}`.
                let path = "\(route.path)".split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
                return "\(route.method) /\(path.joined(separator: "/"))"
            }
        )
    }

    @Test func everyDocumentedOperationExistsAndEveryRouteIsDocumented() async {
        let documented = OpenAPIDocument.operations
        let routed = await Self.routerOperations()
        #expect(documented.count >= 18)
        #expect(documented.subtracting(routed).isEmpty, "documented but not routed: \(documented.subtracting(routed).sorted())")
        #expect(routed.subtracting(documented).isEmpty, "routed but not documented: \(routed.subtracting(documented).sorted())")
    }

    @Test func theDocumentIsServed() async throws {
        let app = Application(router: await Self.router())
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/openapi.yaml", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/yaml; charset=utf-8")
            #expect(String(buffer: response.body) == OpenAPIDocument.yaml)
            #expect(OpenAPIDocument.yaml.hasPrefix("openapi: 3.0.3"))
        }
    }
}
