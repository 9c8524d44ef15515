import AMQPClient
import ConcertAPI
import ConcertDomain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
import NIOCore
import PostgresNIO
import Prometheus
import TestSupport
import Testing

/// The routes that act for a user need that user's access token (DESIGN §2), over HTTP.
@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct AuthAPITests {
    static func request(
        _ client: any TestClientProtocol,
        _ method: HTTPRequest.Method,
        _ uri: String,
        bearer: String?,
        body: String? = nil
    ) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        if body != nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }

    static func access(_ user: String, lifetime: TimeInterval = 600, now: Date = Date(), secret: String = APIHarness.userSecret) -> String {
        AccessTokens.sign(user: UserID(user)!, secret: secret, lifetime: lifetime, now: now)
    }

    static func expectRefusal(_ response: TestResponse, _ status: HTTPResponse.Status, _ code: String) throws {
        #expect(response.status == status, "\(code)")
        #expect(try response.json()["code"] == .string(code))
        if status == .unauthorized {
            #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "401 carries WWW-Authenticate: Bearer")
        }
    }

    @Test func everyRouteThatActsForAUserRefusesWithoutThatUsersAccessToken() async throws {
        try await APIHarness.withAPI { client, _ in
            let routes: [(HTTPRequest.Method, String, String?)] = [
                (.post, "/v1/queue/tokens", #"{"concertId":1}"#),
                (.post, "/v1/users/alice/balance/charges", #"{"amount":1000}"#),
                (.get, "/v1/users/alice/balance", nil),
            ]
            for (method, uri, body) in routes {
                try Self.expectRefusal(try await Self.request(client, method, uri, bearer: nil, body: body), .unauthorized, "AUTH_MISSING")
                try Self.expectRefusal(try await Self.request(client, method, uri, bearer: "garbage", body: body), .unauthorized, "AUTH_INVALID")
                let forged = Self.access("alice", secret: "not-the-identity-providers-secret-0123")
                try Self.expectRefusal(try await Self.request(client, method, uri, bearer: forged, body: body), .unauthorized, "AUTH_INVALID")
                let expired = Self.access("alice", lifetime: 60, now: Date().addingTimeInterval(-600))
                try Self.expectRefusal(try await Self.request(client, method, uri, bearer: expired, body: body), .unauthorized, "AUTH_EXPIRED")
            }
            // Nothing was charged by any of them.
            let balance = try await Self.request(client, .get, "/v1/users/alice/balance", bearer: Self.access("alice"))
            #expect(try balance.json() == ["userId": "alice", "balance": 0])
        }
    }

    @Test func anotherUsersAccountIsForbidden() async throws {
        try await APIHarness.withAPI { client, _ in
            let mallory = Self.access("mallory")
            try Self.expectRefusal(
                try await Self.request(client, .post, "/v1/users/alice/balance/charges", bearer: mallory, body: #"{"amount":1000}"#),
                .forbidden,
                "NOT_YOUR_ACCOUNT"
            )
            try Self.expectRefusal(try await Self.request(client, .get, "/v1/users/alice/balance", bearer: mallory), .forbidden, "NOT_YOUR_ACCOUNT")
            try Self.expectRefusal(
                try await Self.request(client, .post, "/v1/queue/tokens", bearer: mallory, body: #"{"userId":"alice","concertId":1}"#),
                .forbidden,
                "NOT_YOUR_ACCOUNT"
            )
            // Her own, named or not, is fine.
            let own = try await Self.request(client, .post, "/v1/queue/tokens", bearer: mallory, body: #"{"userId":"mallory","concertId":1}"#)
            #expect(own.status == .created)
            let again = try await Self.request(client, .post, "/v1/queue/tokens", bearer: mallory, body: #"{"concertId":1}"#)
            #expect(again.status == .ok)
            #expect(try again.json()["token"] == (try own.json()["token"]))
        }
    }

    @Test func queueTokensAndAccessTokensAreNotInterchangeable() async throws {
        try await APIHarness.withAPI { client, _ in
            let issued = try await Self.request(client, .post, "/v1/queue/tokens", bearer: Self.access("alice"), body: #"{"concertId":1}"#)
            guard case .string(let queueToken)? = try issued.json()["token"] else { throw TestFailure("no queue token") }
            // A queue token where an access token is needed…
            try Self.expectRefusal(try await Self.request(client, .get, "/v1/users/alice/balance", bearer: queueToken), .unauthorized, "AUTH_INVALID")
            // …and an access token where a queue token is needed.
            let dates = try await Self.request(client, .get, "/v1/concerts/1/dates", bearer: Self.access("alice"))
            #expect(dates.status == .unauthorized)
            #expect(try dates.json()["code"] == "TOKEN_INVALID")
        }
    }

    @Test func aDecidedCommandIsShownOnlyToItsUser() async throws {
        try await APIHarness.withAPI(pipeline: .init()) { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.queue()
            try await harness.admit()
            let date = try await PurchaseFlowTests.firstDate(alice)
            let held = try await alice.reserve(seat: 7, date: date)
            #expect(held.status == .created)
            guard case .string(let id)? = try held.json()["commandId"] else { throw TestFailure("no command id") }
            let own = try await Self.request(client, .get, "/v1/commands/\(id)", bearer: Self.access("alice"))
            #expect(own.status == .ok)
            #expect(try own.json()["status"] == "succeeded")
            let other = try await Self.request(client, .get, "/v1/commands/\(id)", bearer: Self.access("mallory"))
            #expect(other.status == .notFound)
            #expect(try other.json()["code"] == "COMMAND_NOT_FOUND")
            try Self.expectRefusal(try await Self.request(client, .get, "/v1/commands/\(id)", bearer: nil), .unauthorized, "AUTH_MISSING")
        }
    }
}

/// The refusals that depend on how the identity provider is configured (a JWKS, an issuer and an
/// audience), over HTTP. Credentials are checked before anything touches storage, so the router
/// runs over a database and a broker that are not there.
struct ConfiguredProviderAuthTests {
    static let secret = "configured-provider-secret-0123456789ab"

    /// The router with a provider of an ES256 JWKS key, an HS256 secret, an issuer and an audience;
    /// returns it with the JWKS text and its private key.
    static func router() async throws -> (Router<APIRequestContext>, jwks: String, key: ES256PrivateKey) {
        let key = ES256PrivateKey()
        let parameters = try #require(key.publicKey.parameters)
        let jwks = #"{"keys":[{"kty":"EC","crv":"P-256","x":"\#(parameters.x)","y":"\#(parameters.y)","kid":"idp-1","alg":"ES256","use":"sig"}]}"#
        let logger = Logger(label: "auth-tests")
        let client = PostgresClient(
            configuration: .init(host: "127.0.0.1", username: "nobody", password: nil, database: nil, tls: .disable),
            backgroundLogger: logger
        )
        let broker = AMQPConnection(configuration: AMQPConfiguration(port: 1), logger: logger)
        let services = await APIServices.make(
            database: client,
            broker: broker,
            tokenSecret: "configured-provider-queue-secret-0123456",
            accessTokens: try await AccessTokens(.init(secret: secret, jwks: jwks, issuer: "https://id.example", audience: "concert-api")),
            partitions: 1,
            adminToken: nil,
            readiness: ReadinessChecks(database: { true }, broker: { true }),
            metrics: PrometheusCollectorRegistry(),
            logger: logger
        )
        return (buildAPIRouter(services), jwks, key)
    }

    @Test func algNoneConfusionAndWrongIssuerOrAudienceAreRefusedOverHTTP() async throws {
        let (router, jwks, _) = try await Self.router()
        func part(_ json: String) -> String {
            Data(json.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let exp = Int(Date().timeIntervalSince1970) + 600
        let claims = #"{"sub":"alice","exp":\#(exp),"iss":"https://id.example","aud":"concert-api"}"#
        let refused: [(String, String)] = [
            ("alg none", part(#"{"alg":"none","typ":"JWT"}"#) + "." + part(claims) + "."),
            (
                "HS256 signed with the JWKS as secret",
                AccessTokens.sign(user: UserID("alice")!, secret: jwks, lifetime: 600, issuer: "https://id.example", audience: "concert-api")
            ),
            (
                "wrong issuer",
                AccessTokens.sign(user: UserID("alice")!, secret: Self.secret, lifetime: 600, issuer: "https://evil.example", audience: "concert-api")
            ),
            (
                "wrong audience",
                AccessTokens.sign(user: UserID("alice")!, secret: Self.secret, lifetime: 600, issuer: "https://id.example", audience: "another-api")
            ),
            ("no issuer or audience", AccessTokens.sign(user: UserID("alice")!, secret: Self.secret, lifetime: 600)),
        ]
        let app = Application(router: router)
        try await app.test(.router) { client in
            for (what, token) in refused {
                for (method, uri, body) in [
                    (HTTPRequest.Method.get, "/v1/users/alice/balance", nil), (.post, "/v1/queue/tokens", #"{"concertId":1}"#),
                ] as [(HTTPRequest.Method, String, String?)] {
                    let response = try await AuthAPITests.request(client, method, uri, bearer: token, body: body)
                    #expect(response.status == .unauthorized, "\(what) \(uri)")
                    #expect(try response.json()["code"] == "AUTH_INVALID", "\(what) \(uri)")
                    #expect(response.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true, "\(what)")
                }
            }
        }
    }
}
