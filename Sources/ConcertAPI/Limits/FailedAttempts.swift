public import Foundation
import HTTPTypes
import Synchronization

/// Failed sign-ins per client address, for the console's sign-in and the admin API: past
/// `limit` failures within `window`, the address is refused (`429 RATE_LIMITED`, `Retry-After`)
/// before its credentials are even looked at, until the window since its first failure passes.
/// In memory, per API process; a success does not reset it (a guesser that also knows one
/// token gains nothing).
public final class FailedAttempts: Sendable {
    public let limit: Int
    public let window: TimeInterval
    private let failures = Mutex<[String: (count: Int, since: TimeInterval)]>([:])
    /// Beyond this many addresses, those whose window passed are dropped.
    private let capacity: Int

    public init(limit: Int = 10, window: TimeInterval = 60, capacity: Int = 100_000) {
        self.limit = limit
        self.window = window
        self.capacity = capacity
    }

    /// Whole seconds until `address` may try again, or `nil` when it may now.
    public func retryAfter(_ address: String?, now: TimeInterval = Date().timeIntervalSince1970) -> Int? {
        guard let address else { return nil }
        return failures.withLock { failures in
            guard let entry = failures[address], entry.count >= limit else { return nil }
            let left = entry.since + window - now
            guard left > 0 else {
                failures[address] = nil
                return nil
            }
            return Int(left.rounded(.up))
        }
    }

    /// Notes a failed attempt from `address`.
    public func failed(_ address: String?, now: TimeInterval = Date().timeIntervalSince1970) {
        guard let address else { return }
        failures.withLock { failures in
            if failures.count > capacity { failures = failures.filter { now - $0.value.since < window } }
            if let entry = failures[address], now - entry.since < window {
                failures[address] = (entry.count + 1, entry.since)
            } else {
                failures[address] = (1, now)
            }
        }
    }
}

extension Problem {
    /// Too many failed sign-ins from this address.
    static func tooManyFailures(retryAfter seconds: Int) -> Problem {
        Problem(
            status: .tooManyRequests,
            code: "RATE_LIMITED",
            title: "Too many requests",
            detail: "Too many failed attempts from this address; try again in \(seconds) s.",
            headers: [.retryAfter: String(seconds)]
        )
    }
}
