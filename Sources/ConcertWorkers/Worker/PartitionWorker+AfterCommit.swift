import ConcertDomain
import ConcertPipeline
import Foundation
import Logging
import Tracing

extension PartitionWorker {
    /// Schedules the expiries, sends the outcomes and announces ended tokens, all at once. False
    /// when the expiries could not be published (the batch must then not be acknowledged). With
    /// `traces`, within the last attempt's span, each reply in its command's trace.
    func finish(_ after: BatchStateMachine.AfterCommit, traces: BatchTraces?) async -> Bool {
        guard let traces else { return await finish(after, replyContexts: [:]) }
        return await InstrumentationContext.withValue(traces.lastAttempt) {
            await finish(after, replyContexts: traces.contexts)
        }
    }

    private func finish(_ after: BatchStateMachine.AfterCommit, replyContexts: [String: InstrumentationContext]) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await replies.send(after.replies, traces: replyContexts)
                return true
            }
            group.addTask {
                await replies.announce(after.endedTokens)
                return true
            }
            group.addTask { await scheduleExpiry(of: after.holdsToExpire) }
            return await group.allSatisfy { $0 }
        }
    }

    /// One expiry message for all the batch's holds (its schedules are all of this partition).
    func scheduleExpiry(of holds: [(schedule: ScheduleKey, reservations: [UUID])]) async -> Bool {
        guard let expiry = HoldExpiry.command(for: holds, at: Date()) else { return true }
        do {
            try await publisher.publishExpiry(expiry, schedule: holds[0].schedule)
            return true
        } catch {
            // A hold past its deadline counts as free everywhere meanwhile, and the sweeper ends it.
            logger.warning(
                "hold expiry not scheduled; batch not acknowledged",
                metadata: ["holds": "\(holds.map(\.reservations.count).reduce(0, +))", "error": "\(error)"]
            )
            return false
        }
    }
}
