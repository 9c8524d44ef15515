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

        public init(capacity: Int = 1000, admitPerSecond: Int = 0) {
            self.capacity = capacity
            self.admitPerSecond = admitPerSecond
        }
    }

    /// The position of token `seq`: 0 once admitted.
    public static func position(seq: Int64, admittedThrough: Int64) -> Int64 {
        max(0, seq - admittedThrough)
    }

    /// How many waiting tokens one admission tick may admit, `elapsedSeconds` after the previous one.
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
    public static func estimatedWaitSeconds(position: Int64, admissionsPerSecond: Double) -> Int {
        guard position > 0 else { return 0 }
        guard admissionsPerSecond > 0 else { return Int(min(position, 3600)) }
        return max(1, Int((Double(position) / admissionsPerSecond).rounded(.up)))
    }
}
