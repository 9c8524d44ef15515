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
        let client = PostgresClient(
            configuration: .init(host: "127.0.0.1", username: "nobody", password: nil, database: nil, tls: .disable),
            backgroundLogger: logger
        )
        let broker = AMQPConnection(configuration: AMQPConfiguration(port: 1), logger: logger)
        return buildAPIRouter(
            await APIServices.make(
                database: client,
                broker: broker,
                tokenSecret: "openapi-tests-secret-0123456789abcdef",
                // A constant, valid setting: it cannot fail.
                accessTokens: try! await AccessTokens(.init(secret: APIHarness.userSecret)),
                partitions: 1,
                adminToken: nil,
                readiness: ReadinessChecks(database: { true }, broker: { true }),
                metrics: PrometheusCollectorRegistry(),
                logger: logger
            )
        )
    }

    static func routerOperations() async -> Set<String> {
        let router = await router()
        // The operator console's HTML pages (`/admin/console`) are not part of the API's contract.
        return Set(
            router.routes.filter { !"\($0.path)".hasPrefix("/admin/console") }.map { route in
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

    /// A path that exists answers a method it does not take with 405, `Allow` and problem+json
    /// (RFC 9110 §15.5.6); a path that does not exist stays 404.
    @Test func anotherMethodOnAKnownPathIs405WithAllow() async throws {
        let app = Application(router: await Self.router())
        try await app.test(.router) { client in
            for (method, path, allowed) in [
                (HTTPRequest.Method("TRACE")!, "/v1/reservations", "POST"),
                (.delete, "/v1/concerts/1/dates", "GET"),
                (.put, "/admin/dead-letters/7", "DELETE, GET"),
                (.get, "/v1/payments", "POST"),
            ] {
                let response = try await client.execute(uri: path, method: method)
                #expect(response.status == .methodNotAllowed, "\(method) \(path)")
                #expect(response.headers[.allow] == allowed, "\(method) \(path)")
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(String(buffer: response.body).contains(#""code":"METHOD_NOT_ALLOWED""#))
            }
            let unknown = try await client.execute(uri: "/v1/nothing-here", method: .get)
            #expect(unknown.status == .notFound)
            #expect(unknown.headers[.allow] == nil)
        }
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
