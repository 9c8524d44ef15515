public import ConcertDomain
public import ConcertStorage
public import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

/// Remembers when waiting tokens were polled and writes those times in batches (one statement
/// every couple of seconds), never one write per poll. A token not seen for
/// `CONCERT_ABANDON_SECONDS` is abandoned by the admitter.
public final class LastSeenRecorder: Service, Sendable {
    private struct Key: Hashable {
        let concert: ConcertID
        let seq: Int64
    }

    private let store: WaitingRoomStore
    private let logger: Logger
    private let interval: Duration
    private let pending = Mutex<[Key: Date]>([:])

    public init(store: WaitingRoomStore, logger: Logger, interval: Duration = .seconds(2)) {
        self.store = store
        self.logger = logger
        self.interval = interval
    }

    /// Notes a poll of token `seq`.
    public func saw(concert: ConcertID, seq: Int64, at time: Date) {
        pending.withLock { $0[Key(concert: concert, seq: seq)] = time }
    }

    /// Writes what was noted since the last flush.
    public func flush() async throws {
        let batch = pending.withLock { pending in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.recordLastSeen(batch.map { (concert: $0.key.concert, seq: $0.key.seq, at: $0.value) })
        } catch {
            // Keep the times for the next flush (newer polls win).
            pending.withLock { pending in pending.merge(batch) { newer, _ in newer } }
            throw error
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                do {
                    try await self.flush()
                } catch {
                    self.logger.warning("waiting room: flushing last-seen times failed", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
        }
        // Final flush on shutdown, so a restart does not abandon everybody who just polled.
        try? await flush()
    }
}
