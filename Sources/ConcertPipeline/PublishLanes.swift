import ConcertDomain
import Synchronization

/// Per partition and reply queue, at most one command message waiting for its confirm. A command
/// that finds its lane free goes at once, alone; the commands that arrive while the lane's message
/// is unconfirmed wait, and when it is confirmed the first of them sends them all as one message
/// (up to `maxCommands`). Nothing is held back on a timer: a bundle forms only while the broker is
/// still confirming the message before it, so its size follows the load — one command at a time
/// when the system is quiet, dozens when it is busy — and a command waits at most one confirm
/// longer than it would alone. Each caller learns its own message's fate: every command of a
/// bundle is answered (or refused) with the bundle's confirm.
final class PublishLanes: Sendable {
    struct Key: Hashable, Sendable {
        let routingKey: String
        let replyTo: String?
    }

    /// Sends one message holding these commands (one alone, several as a bundle) and returns once
    /// the broker confirmed it, or throws.
    typealias Send = @Sendable ([CommandEnvelope]) async throws -> Void

    /// The most commands one message carries.
    let maxCommands: Int

    private struct Waiting: Sendable {
        let envelope: CommandEnvelope
        let continuation: CheckedContinuation<Turn, Never>
    }

    private enum Turn: Sendable {
        /// Send your command and these with it.
        case lead([Waiting])
        /// Your command went with another's: this is how its message fared.
        case done(Result<Void, any Error>)
    }

    private struct Lane {
        var busy = false
        var waiting: [Waiting] = []
    }

    private let lanes = Mutex<[Key: Lane]>([:])

    init(maxCommands: Int) {
        self.maxCommands = max(1, maxCommands)
    }

    /// Publishes `envelope` on its lane with `send`; returns once the message carrying it was
    /// confirmed, or throws what sending that message threw.
    func publish(_ envelope: CommandEnvelope, on key: Key, send: Send) async throws {
        // The common case when the system is quiet: the lane is free, no suspension to get the turn.
        if takeIfFree(key) { return try await lead(envelope, with: [], on: key, send: send) }
        let turn = await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
            let free = lanes.withLock { lanes in
                if lanes[key, default: Lane()].busy {
                    lanes[key, default: Lane()].waiting.append(Waiting(envelope: envelope, continuation: continuation))
                    return false
                }
                lanes[key, default: Lane()].busy = true
                return true
            }
            if free { continuation.resume(returning: .lead([])) }
        }
        switch turn {
        case .lead(let others): try await lead(envelope, with: others, on: key, send: send)
        case .done(let result): try result.get()
        }
    }

    /// How many commands wait on `key`'s lane for the message in flight.
    func waiting(on key: Key) -> Int {
        lanes.withLock { $0[key]?.waiting.count ?? 0 }
    }

    private func takeIfFree(_ key: Key) -> Bool {
        lanes.withLock { lanes in
            if lanes[key, default: Lane()].busy { return false }
            lanes[key, default: Lane()].busy = true
            return true
        }
    }

    /// Sends the leader's command with `others`, tells them how it went, hands the lane on.
    private func lead(_ envelope: CommandEnvelope, with others: [Waiting], on key: Key, send: Send) async throws {
        let result: Result<Void, any Error>
        do {
            try await send([envelope] + others.map(\.envelope))
            result = .success(())
        } catch {
            result = .failure(error)
        }
        for other in others { other.continuation.resume(returning: .done(result)) }
        handOn(key)
        try result.get()
    }

    /// The lane's next message: the commands waiting (up to `maxCommands`), sent by the first of them.
    private func handOn(_ key: Key) {
        let next: (leader: Waiting, others: [Waiting])? = lanes.withLock { lanes in
            guard var lane = lanes[key], !lane.waiting.isEmpty else {
                lanes[key]?.busy = false
                return nil
            }
            let count = min(maxCommands, lane.waiting.count)
            let group = lane.waiting.prefix(count)
            lane.waiting.removeFirst(count)
            lanes[key] = lane
            return (group.first!, Array(group.dropFirst()))
        }
        guard let next else { return }
        next.leader.continuation.resume(returning: .lead(next.others))
    }
}
