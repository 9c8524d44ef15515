/// The waiting room's rules (§3 of the design), as pure functions of its state.
///
/// Each concert has a strictly increasing token sequence. `admittedThrough` is the highest
/// admitted sequence number: a token is waiting while `seq > admittedThrough`, and its position
/// is `seq − admittedThrough` (the spec's formula).
public enum WaitingRoom {
    /// How admission is limited.
    public struct Policy: Sendable, Hashable {
        /// At most this many active tokens per concert.
        public var capacity: Int
        /// At most this many admissions per second (0 = unlimited).
        public var admitPerSecond: Int

        /// A policy of at most `capacity` active tokens per concert and `admitPerSecond` admissions per second.
        ///
        /// - Parameters:
        ///   - capacity: At most this many active tokens per concert.
        ///   - admitPerSecond: At most this many admissions per second; 0 for no limit.
        public init(capacity: Int = 1000, admitPerSecond: Int = 0) {
            self.capacity = capacity
            self.admitPerSecond = admitPerSecond
        }
    }

    /// The position of token `seq`: 0 once admitted.
    ///
    /// - Parameters:
    ///   - seq: The token's sequence number.
    ///   - admittedThrough: The highest admitted sequence number of the token's concert.
    /// - Returns: `seq − admittedThrough`, or 0 when the token is admitted.
    public static func position(seq: Int64, admittedThrough: Int64) -> Int64 {
        max(0, seq - admittedThrough)
    }

    /// How many waiting tokens one admission tick may admit, `elapsedSeconds` after the previous one.
    ///
    /// As many as the free capacity and the waiting tokens allow; with `admitPerSecond` above 0, also at most
    /// `admitPerSecond` times `elapsedSeconds` clamped to 0…1, rounded down.
    ///
    /// - Parameters:
    ///   - active: The concert's active tokens.
    ///   - waiting: The concert's waiting tokens.
    ///   - policy: The limits.
    ///   - elapsedSeconds: Seconds since the previous tick.
    /// - Returns: How many tokens to admit.
    public static func admissions(active: Int, waiting: Int, policy: Policy, elapsedSeconds: Double) -> Int {
        let room = max(0, policy.capacity - active)
        var allowed = min(room, waiting)
        if policy.admitPerSecond > 0 {
            // Never more than one second's worth per tick, however late the tick.
            let budget = Int((Double(policy.admitPerSecond) * min(max(elapsedSeconds, 0), 1)).rounded(.down))
            allowed = min(allowed, max(budget, 0))
        }
        return allowed
    }

    /// Seconds until a token at `position` is likely admitted at `admissionsPerSecond` (≥ 1 s while waiting;
    /// with no recent admissions to go by, it assumes one per second, capped at an hour).
    ///
    /// - Parameters:
    ///   - position: The token's position; 0 or less once admitted.
    ///   - admissionsPerSecond: The recent rate of admissions; 0 or less when there were none.
    /// - Returns: The estimate in whole seconds, rounded up: 0 for an admitted token.
    public static func estimatedWaitSeconds(position: Int64, admissionsPerSecond: Double) -> Int {
        guard position > 0 else { return 0 }
        guard admissionsPerSecond > 0 else { return Int(min(position, 3600)) }
        return max(1, Int((Double(position) / admissionsPerSecond).rounded(.up)))
    }

    // MARK: - The pre-queue draw

    /// Tokens issued while a concert's pre-queue waits for its draw get a sequence number from
    /// here up: no place yet (nobody is admitted before the draw, and no provisional number is
    /// ever a place). The draw gives each one its place below this.
    public static let provisionalSeqBase: Int64 = 1_000_000_000_000

    /// True when `seq` is a provisional number (its token waits for the draw).
    public static func isProvisional(_ seq: Int64) -> Bool { seq >= provisionalSeqBase }

    /// The places of the tokens waiting for the draw: those issued before the sale's start in a
    /// uniformly random order, then those issued after it in arrival order, all after `base`
    /// (the concert's highest place so far).
    ///
    /// - Parameters:
    ///   - early: The provisional numbers of the tokens issued before the start.
    ///   - late: The provisional numbers of the tokens issued at or after the start, in arrival order.
    ///   - base: The highest place already given (every new place is above it).
    ///   - generator: The randomness: the system's cryptographic generator in production.
    /// - Returns: Each provisional number with its place.
    public static func draw(
        early: [Int64],
        late: [Int64],
        after base: Int64,
        using generator: inout some RandomNumberGenerator
    ) -> [(provisional: Int64, place: Int64)] {
        var places = Array(1...Int64(max(early.count, 1))).prefix(early.count).map { base + $0 }
        places.shuffle(using: &generator)
        var drawn = zip(early, places).map { (provisional: $0, place: $1) }
        for (offset, provisional) in late.enumerated() {
            drawn.append((provisional, base + Int64(early.count + offset + 1)))
        }
        return drawn
    }
}
