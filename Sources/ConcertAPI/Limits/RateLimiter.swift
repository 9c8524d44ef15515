public import Foundation
import HTTPTypes
import Synchronization

/// Token buckets per user and per client address for token issue and command submits
/// (`CONCERT_RATE_LIMIT`, e.g. `20/s burst 40`; `off` for none). In memory, per API process: with
/// N processes behind a load balancer a client gets up to N times the rate — a limit meant to
/// be global belongs in the load balancer. Status polls are not limited.
public final class RateLimiter: Sendable {
    public let perSecond: Double
    public let burst: Double

    private struct Bucket {
        var tokens: Double
        var updated: TimeInterval
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    /// Beyond this many buckets, the full ones (idle long enough to have refilled) are dropped.
    private let capacity: Int

    public init(perSecond: Double, burst: Double, capacity: Int = 200_000) {
        self.perSecond = perSecond
        self.burst = max(1, burst)
        self.capacity = capacity
    }

    /// Parses `RATE/s` (burst twice the rate) or `RATE/s burst N`; `nil` for `off`. Throws a
    /// description of the expected form.
    public static func parse(_ text: String) throws(RateLimitSyntaxError) -> RateLimiter? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed == "off" { return nil }
        let words = trimmed.split(separator: " ")
        guard words.count == 1 || (words.count == 3 && words[1] == "burst"),
            words[0].hasSuffix("/s"), let rate = Double(words[0].dropLast(2)), rate > 0, rate.isFinite
        else {
            throw RateLimitSyntaxError(text: text)
        }
        var burst = rate * 2
        if words.count == 3 {
            guard let value = Double(words[2]), value >= 1, value.isFinite else { throw RateLimitSyntaxError(text: text) }
            burst = value
        }
        return RateLimiter(perSecond: rate, burst: burst)
    }

    /// Takes one request from each key's bucket, or throws 429 `RATE_LIMITED` with the seconds
    /// until one is available (`Retry-After`) — and then takes from none.
    public func admit(_ keys: [String], now: TimeInterval = Date().timeIntervalSince1970) throws(Problem) {
        let wait: Double? = buckets.withLock { buckets in
            if buckets.count > capacity { buckets = buckets.filter { now - $0.value.updated < burst / perSecond } }
            var refilled: [(String, Bucket)] = []
            var longest = 0.0
            for key in keys {
                var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
                bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * perSecond)
                bucket.updated = now
                if bucket.tokens < 1 { longest = max(longest, (1 - bucket.tokens) / perSecond) }
                refilled.append((key, bucket))
            }
            let allowed = longest == 0
            for (key, var bucket) in refilled {
                if allowed { bucket.tokens -= 1 }
                buckets[key] = bucket
            }
            return allowed ? nil : longest
        }
        if let wait { throw .rateLimited(retryAfter: Int(wait.rounded(.up))) }
    }
}

/// `CONCERT_RATE_LIMIT` is not `RATE/s`, `RATE/s burst N` or `off`.
public struct RateLimitSyntaxError: Error, CustomStringConvertible {
    public let text: String
    public var description: String { "must be RATE/s, RATE/s burst N (e.g. 20/s burst 40) or off, got '\(text)'" }
}

extension Problem {
    static func rateLimited(retryAfter seconds: Int) -> Problem {
        Problem(
            status: .tooManyRequests,
            code: "RATE_LIMITED",
            title: "Too many requests",
            detail: "Too many requests from this user or address; try again in \(max(1, seconds)) s.",
            headers: [.retryAfter: String(max(1, seconds))]
        )
    }
}
