/// Exponential back-off between attempts, with a ceiling: reconnecting, subscribing again,
/// retrying a write while the database is away, waiting for a dependency at start-up.
///
/// A pure value: `delay(afterFailures:)` says how long to wait before the next attempt;
/// `pause(_:unless:)` waits that long, or less when the caller is stopping.
public struct Backoff: Sendable, Equatable {
    /// The wait after the first failure.
    public var initial: Duration
    /// The longest wait.
    public var maximum: Duration
    /// Growth factor per further failure.
    public var multiplier: Double

    /// Starts at `initial`, multiplies by `multiplier` per failure, never exceeds `maximum`.
    ///
    /// - Parameters:
    ///   - initial: The wait after the first failure.
    ///   - maximum: The longest wait.
    ///   - multiplier: Growth factor per further failure.
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5), multiplier: Double = 2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
    }

    /// The delay before the next attempt after `failures` consecutive failed attempts (0 → no wait).
    ///
    /// - Parameters:
    ///   - failures: How many attempts in a row have failed.
    /// - Returns: `.zero` for no failures, else `initial` times `multiplier` to the power
    ///   `failures - 1`, at most `maximum`.
    public func delay(afterFailures failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        var delay = initial
        for _ in 1..<failures {
            delay = delay * multiplier
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }

    /// Sleeps `duration`, checking `stopping` (and cancellation) every 100 ms.
    ///
    /// - Parameters:
    ///   - duration: How long to wait.
    ///   - stopping: True once the caller should give up waiting (graceful shutdown began, say).
    /// - Returns: False when the wait ended early because of `stopping` or cancellation.
    public static func pause(_ duration: Duration, unless stopping: () -> Bool = { false }) async -> Bool {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            if stopping() || Task.isCancelled { return false }
            try? await Task.sleep(for: min(.milliseconds(100), deadline - ContinuousClock.now))
        }
        return !stopping() && !Task.isCancelled
    }
}
