import ConcertAPI
import ConcertStorage
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOFoundationCompat
import PostgresNIO
import TestSupport

/// Runs API tests against the real router and a seeded database of their own.
enum APIHarness {
    /// The router over `client`, with readiness checks that always pass.
    static func router(_ client: PostgresClient) -> Router<APIRequestContext> {
        let logger = DatabaseEnvironment.logger
        return buildAPIRouter(
            APIServices(
                wallets: WalletStore(client: client, logger: logger),
                catalogue: CatalogueStore(client: client, logger: logger),
                readiness: ReadinessChecks(database: { true }, broker: { true })
            )
        )
    }

    /// A seeded database and an HTTP test client over the router.
    static func withAPI(_ body: @escaping @Sendable (any TestClientProtocol, PostgresClient) async throws -> Void) async throws {
        try await DatabaseEnvironment.withSeededDatabase { client in
            let app = Application(router: router(client))
            try await app.test(.router) { testClient in try await body(testClient, client) }
        }
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
