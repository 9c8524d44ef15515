/// The publisher-confirm bookkeeping of one confirm-mode channel, as a pure state machine.
///
/// Each publish gets the next delivery tag (1, 2, 3, … per channel). The broker answers with
/// `basic.ack` / `basic.nack`, possibly with `multiple` (every tag up to and including it).
/// A `mandatory` message that no queue takes comes back as `basic.return` *before* its own ack,
/// and RabbitMQ confirms such a message at once, so the next confirm's highest tag is the
/// returned message. The tracker turns broker events into outcomes for the waiting publishers.
///
/// Each publish also has a deadline: `expire(now:)` hands back the publishes the broker left
/// unconfirmed past theirs (a blocked or overloaded broker), so that no publisher waits for ever.
struct ConfirmTracker<Waiter> {
    /// What happened to one published message.
    enum Outcome {
        case confirmed
        case nacked
        case returned(replyCode: Int, replyText: String)
    }

    private var nextTag: UInt64 = 1
    private var lowestPending: UInt64 = 1
    private var pending: [UInt64: Waiter] = [:]
    /// When each pending publish stops waiting (tags in order, deadlines in the same order).
    private var deadlines: [UInt64: ContinuousClock.Instant] = [:]
    private var returned: (replyCode: Int, replyText: String)?

    /// Number of publishes awaiting a confirm.
    var pendingCount: Int { pending.count }

    /// Records a publish just written to the channel and returns its delivery tag.
    mutating func published(_ waiter: Waiter, deadline: ContinuousClock.Instant = .now + .seconds(3_600)) -> UInt64 {
        let tag = nextTag
        nextTag += 1
        pending[tag] = waiter
        deadlines[tag] = deadline
        return tag
    }

    /// The publishes still unconfirmed at their deadline, oldest first; a confirm that comes for
    /// one of them later is ignored.
    mutating func expire(now: ContinuousClock.Instant) -> [Waiter] {
        var expired: [Waiter] = []
        while lowestPending < nextTag {
            guard let waiter = pending[lowestPending] else {
                lowestPending += 1
                continue
            }
            guard let deadline = deadlines[lowestPending], deadline <= now else { break }
            pending[lowestPending] = nil
            deadlines[lowestPending] = nil
            expired.append(waiter)
            lowestPending += 1
        }
        return expired
    }

    /// A `basic.return` arrived: the message it names will be confirmed by the next ack.
    mutating func returned(replyCode: Int, replyText: String) {
        returned = (replyCode, replyText)
    }

    /// A `basic.ack` arrived.
    mutating func acked(tag: UInt64, multiple: Bool) -> [(Waiter, Outcome)] {
        settle(tag: tag, multiple: multiple, outcome: .confirmed)
    }

    /// A `basic.nack` arrived.
    mutating func nacked(tag: UInt64, multiple: Bool) -> [(Waiter, Outcome)] {
        settle(tag: tag, multiple: multiple, outcome: .nacked)
    }

    /// The channel or connection is gone: every pending publish has an unknown outcome.
    /// The tracker starts over, as a new channel numbers its publishes from 1 again.
    mutating func reset() -> [Waiter] {
        let waiters = pending.sorted { $0.key < $1.key }.map(\.value)
        self = ConfirmTracker()
        return waiters
    }

    private mutating func settle(tag: UInt64, multiple: Bool, outcome brokerOutcome: Outcome) -> [(Waiter, Outcome)] {
        var settled: [(Waiter, Outcome)] = []
        let returnedMessage = returned.take()
        func outcome(for settledTag: UInt64) -> Outcome {
            if settledTag == tag, let returnedMessage {
                return .returned(replyCode: returnedMessage.replyCode, replyText: returnedMessage.replyText)
            }
            return brokerOutcome
        }
        if multiple {
            var current = lowestPending
            while current <= tag {
                if let waiter = pending.removeValue(forKey: current) { settled.append((waiter, outcome(for: current))) }
                deadlines[current] = nil
                current += 1
            }
        } else if let waiter = pending.removeValue(forKey: tag) {
            settled.append((waiter, outcome(for: tag)))
            deadlines[tag] = nil
        }
        // Keep the low-water mark at the oldest tag still unconfirmed.
        while lowestPending < nextTag, pending[lowestPending] == nil { lowestPending += 1 }
        return settled
    }
}
