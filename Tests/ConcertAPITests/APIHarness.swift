import ConcertAPI
import ConcertDomain
import ConcertStorage
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOFoundationCompat
import PostgresNIO
import TestSupport

/// Runs API tests against the real router and a seeded database of their own.
struct APIHarness: Sendable {
    static let secret = "api-tests-secret-0123456789abcdef"

    let client: PostgresClient
    let services: APIServices

    /// The services over `client`, with readiness checks that always pass.
    static func services(_ client: PostgresClient) async -> APIServices {
        let logger = DatabaseEnvironment.logger
        let waitingRoom = WaitingRoomStore(client: client, logger: logger)
        return APIServices(
            wallets: WalletStore(client: client, logger: logger),
            catalogue: CatalogueStore(client: client, logger: logger),
            waitingRoom: waitingRoom,
            tokens: await QueueTokens(secret: secret),
            view: WaitingRoomView(store: waitingRoom, logger: logger),
            lastSeen: LastSeenRecorder(store: waitingRoom, logger: logger),
            readiness: ReadinessChecks(database: { true }, broker: { true })
        )
    }

    /// A seeded database and an HTTP test client over the router.
    static func withAPI(_ body: @escaping @Sendable (any TestClientProtocol, APIHarness) async throws -> Void) async throws {
        try await DatabaseEnvironment.withSeededDatabase { client in
            let harness = APIHarness(client: client, services: await services(client))
            try await harness.services.view.refresh()
            let app = Application(router: buildAPIRouter(harness.services))
            try await app.test(.router) { testClient in try await body(testClient, harness) }
        }
    }

    /// One admission pass (what the admitter does on each tick), then the view refreshes.
    func admit(capacity: Int = 1000, activeFor: TimeInterval = 600, abandonAfter: TimeInterval = 30, now: Date = Date()) async throws {
        _ = try await services.waitingRoom.admit(
            policy: WaitingRoom.Policy(capacity: capacity, admitPerSecond: 0),
            activeFor: activeFor,
            abandonAfter: abandonAfter,
            now: now
        )
        try await services.view.refresh()
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
