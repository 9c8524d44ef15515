import AMQPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import ConcertAPI

/// `CONCERT_RATE_LIMIT`: token buckets per user and per client address.
struct RateLimiterTests {
    @Test func theSettingIsParsedOrNamedAsWrong() throws {
        let plain = try #require(try RateLimiter.parse("20/s"))
        #expect(plain.perSecond == 20 && plain.burst == 40)
        let burst = try #require(try RateLimiter.parse("5/s burst 7"))
        #expect(burst.perSecond == 5 && burst.burst == 7)
        #expect(try RateLimiter.parse("off") == nil)
        for bad in ["", "20", "20/m", "-1/s", "0/s", "20/s burst", "20/s burst 0", "20/s bust 40", "lots/s"] {
            #expect(throws: RateLimitSyntaxError.self, "\(bad)") { _ = try RateLimiter.parse(bad) }
        }
    }

    @Test func aBurstPassesThenRetryAfterSaysWhenTheNextOneWill() throws {
        let limiter = RateLimiter(perSecond: 2, burst: 3)
        let now = 1_000.0
        for _ in 0..<3 { try limiter.admit(["user:a"], now: now) }
        do {
            try limiter.admit(["user:a"], now: now)
            Issue.record("a fourth request within the burst was admitted")
        } catch {
            #expect(error.code == "RATE_LIMITED")
            #expect(error.status == .tooManyRequests)
            #expect(error.headers[.retryAfter] == "1")
        }
        // Other users are not affected; after half a second (2/s) one more passes.
        try limiter.admit(["user:b"], now: now)
        try limiter.admit(["user:a"], now: now + 0.5)
        #expect(throws: Problem.self) { try limiter.admit(["user:a"], now: now + 0.5) }
    }

    @Test func aRefusalTakesFromNoBucket() throws {
        let limiter = RateLimiter(perSecond: 1, burst: 1)
        try limiter.admit(["user:a", "address:1.2.3.4"], now: 0)
        // The address is spent: a request of user b from it is refused, and b's own bucket is untouched.
        #expect(throws: Problem.self) { try limiter.admit(["user:b", "address:1.2.3.4"], now: 0) }
        try limiter.admit(["user:b", "address:5.6.7.8"], now: 0)
    }
}

@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct RateLimitAPITests {
    @Test func tokenIssueBeyondTheBurstIs429WithRetryAfter() async throws {
        try await APIHarness.withAPI(rateLimit: RateLimiter(perSecond: 0.2, burst: 3)) { client, _ in
            var statuses: [HTTPResponse.Status] = []
            var last: TestResponse?
            for _ in 0..<4 {
                let (response, _) = try await WaitingRoomAPITests.issue(client, user: "eager")
                statuses.append(response.status)
                last = response
            }
            #expect(statuses.prefix(3).allSatisfy { $0 == .created || $0 == .ok })
            let refused = try #require(last)
            #expect(refused.status == .tooManyRequests)
            #expect(try refused.json()["code"] == "RATE_LIMITED")
            #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 >= 1)
            // Another user is not limited by eager's requests (router tests have no client address).
            #expect(try await WaitingRoomAPITests.issue(client, user: "patient").0.status == .created)
        }
    }
}

/// `CONCERT_TRUSTED_PROXIES`: who the client is behind a load balancer.
struct TrustedProxiesTests {
    @Test func blocksAreParsedAndWrongEntriesNamed() throws {
        let proxies = try TrustedProxies(parsing: "10.0.0.0/8, 192.168.1.7, ::1, fd00::/8")
        #expect(proxies.trusts("10.200.3.4") && proxies.trusts("192.168.1.7") && proxies.trusts("::1") && proxies.trusts("fd12::5"))
        #expect(proxies.trusts("::ffff:10.1.2.3"))
        #expect(!proxies.trusts("11.0.0.1") && !proxies.trusts("192.168.1.8") && !proxies.trusts("fe80::1") && !proxies.trusts("nonsense"))
        for bad in ["10.0.0.0/33", "host.example", "1.2.3.4/x", "::1/129", "1.2.3"] {
            #expect(throws: TrustedProxiesSyntaxError.self, "\(bad)") { _ = try TrustedProxies(parsing: bad) }
        }
        #expect(try TrustedProxies(parsing: "") == .none)
    }

    @Test func theClientIsTheRightMostUntrustedHopAndOnlyATrustedPeerIsBelieved() throws {
        let proxies = try TrustedProxies(parsing: "10.0.0.0/8")
        func client(_ peer: String, _ fields: [(String, String)]) -> String? {
            var headers = HTTPFields()
            for (name, value) in fields { headers.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
            return proxies.client(peer: peer, headers: headers)
        }
        // A forged left-most hop is passed over: the right-most one our proxy did not add is the client.
        #expect(client("10.0.0.5", [("X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.0.0.7")]) == "203.0.113.9")
        #expect(client("10.0.0.5", [("Forwarded", #"for=6.6.6.6, for="[2001:db8::1]:4711";proto=https, for=10.0.0.7"#)]) == "2001:db8::1")
        #expect(client("10.0.0.5", [("Forwarded", "for=198.51.100.17:8080")]) == "198.51.100.17")
        // Forwarded wins over X-Forwarded-For.
        #expect(client("10.0.0.5", [("Forwarded", "for=198.51.100.17"), ("X-Forwarded-For", "6.6.6.6")]) == "198.51.100.17")
        // From an untrusted peer the headers change nothing.
        #expect(client("203.0.113.50", [("X-Forwarded-For", "1.1.1.1")]) == "203.0.113.50")
        // A trusted peer without the headers is the client itself.
        #expect(client("10.0.0.5", []) == "10.0.0.5")
    }
}

/// The limits per address on a real socket (the peer is 127.0.0.1).
@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct ClientAddressLimitTests {
    static func withLiveAPI(
        trusting proxies: String,
        rateLimit: RateLimiter?,
        _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        try await DatabaseEnvironment.withSeededDatabase { database in
            let broker = AMQPConnection(configuration: AMQPConfiguration(port: 1), logger: DatabaseEnvironment.logger)
            var services = await APIHarness.services(database, broker: broker, partitions: 2)
            services.rateLimiter = rateLimit
            services.trustedProxies = try TrustedProxies(parsing: proxies)
            try await services.view.refresh()
            let app = Application(router: buildAPIRouter(services))
            try await app.test(.live) { client in try await body(client) }
        }
    }

    static func issue(_ client: any TestClientProtocol, user: String, forwardedFor: String) async throws -> HTTPResponse.Status {
        var headers = APIHarness.authorization(user)
        headers[.contentType] = "application/json"
        headers[HTTPField.Name("X-Forwarded-For")!] = forwardedFor
        return try await client.execute(uri: "/v1/queue/tokens", method: .post, headers: headers, body: ByteBuffer(string: #"{"concertId":1}"#))
            .status
    }

    @Test func twoClientsBehindATrustedProxyAreLimitedSeparately() async throws {
        try await Self.withLiveAPI(trusting: "127.0.0.1", rateLimit: RateLimiter(perSecond: 0.01, burst: 2)) {
            (client: any TestClientProtocol) async throws in
            // Different users, so only the address bucket can refuse.
            #expect(try await Self.issue(client, user: "a1", forwardedFor: "203.0.113.1") == .created)
            #expect(try await Self.issue(client, user: "a2", forwardedFor: "203.0.113.1") == .created)
            #expect(try await Self.issue(client, user: "a3", forwardedFor: "203.0.113.1") == .tooManyRequests)
            #expect(try await Self.issue(client, user: "b1", forwardedFor: "203.0.113.2") == .created)
        }
    }

    @Test func aForgedForwardedForFromAnUntrustedPeerChangesNothing() async throws {
        try await Self.withLiveAPI(trusting: "", rateLimit: RateLimiter(perSecond: 0.01, burst: 2)) { (client: any TestClientProtocol) async throws in
            #expect(try await Self.issue(client, user: "c1", forwardedFor: "198.51.100.1") == .created)
            #expect(try await Self.issue(client, user: "c2", forwardedFor: "198.51.100.2") == .created)
            #expect(try await Self.issue(client, user: "c3", forwardedFor: "198.51.100.3") == .tooManyRequests)
        }
    }

    @Test func failedAdminTokensFromOneAddressAreRefusedBeforeTheTokenIsLookedAt() async throws {
        try await Self.withLiveAPI(trusting: "", rateLimit: nil) { (client: any TestClientProtocol) async throws in
            func admin(_ token: String) async throws -> TestResponse {
                try await client.execute(uri: "/admin/dead-letters", method: .get, headers: [.authorization: "Bearer \(token)"])
            }
            #expect(try await admin(APIHarness.adminToken).status == .ok)
            for attempt in 0..<10 { #expect(try await admin("guess-\(attempt)").status == .unauthorized) }
            let refused = try await admin(APIHarness.adminToken)
            #expect(refused.status == .tooManyRequests)
            #expect(refused.headers[.retryAfter] != nil)
            // The console's sign-in counts the same failures.
            let signIn = try await client.execute(
                uri: "/admin/console/sign-in",
                method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=\(APIHarness.adminToken)")
            )
            #expect(signIn.status == .tooManyRequests)
        }
    }
}
