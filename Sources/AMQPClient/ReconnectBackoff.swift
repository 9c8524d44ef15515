/// Exponential back-off between reconnect attempts, with a ceiling.
///
/// A pure value: `delay(afterFailures:)` says how long to wait before the next attempt.
public struct ReconnectBackoff: Sendable, Equatable {
    /// The wait after the first failure.
    public var initial: Duration
    /// The longest wait.
    public var maximum: Duration
    /// Growth factor per further failure.
    public var multiplier: Double

    /// Starts at `initial`, multiplies by `multiplier` per failure, never exceeds `maximum`.
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5), multiplier: Double = 2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
    }

    /// The delay before the next attempt after `failures` consecutive failed attempts (0 → no wait).
    public func delay(afterFailures failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        var delay = initial
        for _ in 1..<failures {
            delay = delay * multiplier
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }
}
