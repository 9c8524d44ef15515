@testable import ConcertAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

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
