public import ConcertDomain
public import ConcertStorage
public import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

/// Remembers when waiting tokens were polled and writes those times in batches (one statement
/// every couple of seconds), never one write per poll. A token not seen for
/// `CONCERT_ABANDON_SECONDS` is abandoned by the admitter.
///
/// Nor does every poll reach the batch: a client polls every few seconds, while the admitter only
/// needs a token's time to within the abandon window. A poll less than a third of that window
/// after the time this process last wrote for the token is held back (the latest such poll per
/// token), and written only when the written time is about to make the token look abandoned —
/// so a token is abandoned exactly as before: `CONCERT_ABANDON_SECONDS` after its last poll, to
/// within a flush. A steady poller costs one row write per third of the window instead of one
/// per flush. Held-back times are written on shutdown.
public final class LastSeenRecorder: Service, Sendable {
    private struct Key: Hashable {
        let concert: ConcertID
        let seq: Int64
    }

    /// Every step is proportional to the polls and tokens it touches, never to all tokens: the
    /// lock is taken by every poll.
    private struct Times {
        /// To write at the next flush.
        var pending: [Key: Date] = [:]
        /// Polls held back: the database has a time of the token less than `refresh` older.
        var heldBack: [Key: Date] = [:]
        /// The latest time this process wrote for each token (forgotten a window later).
        var written: [Key: Date] = [:]
        /// Held-back tokens by the second their written time comes within `margin` of the
        /// window's end (a token may be listed more than once; `heldBack` decides).
        var dueBySecond: [Int64: [Key]] = [:]
        /// Written tokens by the second of their time, to forget them a window later.
        var writtenBySecond: [Int64: [Key]] = [:]
    }

    private let store: WaitingRoomStore
    private let logger: Logger
    private let interval: Duration
    private let abandonAfter: TimeInterval
    /// A poll this soon after the token's written time is held back: a third of the window.
    private let refresh: TimeInterval
    /// A held-back time is written once the written one is this close to the abandon window's
    /// end: two flushes and a second to spare.
    private let margin: TimeInterval
    private let times = Mutex(Times())

    public init(store: WaitingRoomStore, logger: Logger, abandonAfter: TimeInterval = 30, interval: Duration = .seconds(2)) {
        self.store = store
        self.logger = logger
        self.abandonAfter = abandonAfter
        self.interval = interval
        refresh = abandonAfter / 3
        margin = 2 * (Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18) + 1
    }

    /// Notes a poll of token `seq`.
    public func saw(concert: ConcertID, seq: Int64, at time: Date) {
        let key = Key(concert: concert, seq: seq)
        times.withLock { times in
            if times.pending[key] == nil, let written = times.written[key], time.timeIntervalSince(written) < refresh {
                if times.heldBack[key] == nil {
                    let due = (written.timeIntervalSince1970 + abandonAfter - margin).rounded(.up)
                    times.dueBySecond[Int64(due), default: []].append(key)
                }
                times.heldBack[key] = max(times.heldBack[key] ?? time, time)
            } else {
                times.pending[key] = max(times.pending[key] ?? time, time)
                times.heldBack[key] = nil
            }
        }
    }

    /// Writes what was noted since the last flush, and the held-back times whose written time is
    /// near the end of the abandon window at `now` (`everything`: all of them).
    public func flush(now: Date = Date(), everything: Bool = false) async throws {
        let batch = times.withLock { times in
            var batch = times.pending
            times.pending.removeAll(keepingCapacity: true)
            let dueSeconds = everything ? Array(times.dueBySecond.keys) : times.dueBySecond.keys.filter { Double($0) <= now.timeIntervalSince1970 }
            for second in dueSeconds {
                for key in times.dueBySecond.removeValue(forKey: second) ?? [] {
                    guard let time = times.heldBack.removeValue(forKey: key) else { continue }
                    batch[key] = max(batch[key] ?? time, time)
                }
            }
            return batch
        }
        guard !batch.isEmpty else { return forget(before: now) }
        do {
            try await store.recordLastSeen(batch.map { (concert: $0.key.concert, seq: $0.key.seq, at: $0.value) })
        } catch {
            // Keep the times for the next flush (newer polls win).
            times.withLock { times in times.pending.merge(batch) { newer, older in max(newer, older) } }
            throw error
        }
        times.withLock { times in
            for (key, time) in batch where time > times.written[key] ?? .distantPast {
                times.written[key] = time
                times.writtenBySecond[Int64(time.timeIntervalSince1970.rounded(.down)), default: []].append(key)
            }
        }
        forget(before: now)
    }

    /// Forgets tokens written a whole window before `now` and not since: they poll no more
    /// (admitted, or gone), and a later poll is written at once.
    private func forget(before now: Date) {
        let horizon = now.timeIntervalSince1970 - abandonAfter
        times.withLock { times in
            for second in times.writtenBySecond.keys.filter({ Double($0) < horizon }) {
                for key in times.writtenBySecond.removeValue(forKey: second) ?? [] {
                    guard let written = times.written[key], written.timeIntervalSince1970 < horizon else { continue }
                    if times.heldBack[key] != nil {
                        // Still holding a poll back (written at its due time, before this): look again later.
                        times.writtenBySecond[Int64(horizon.rounded(.up)), default: []].append(key)
                    } else {
                        times.written[key] = nil
                    }
                }
            }
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
        // Final flush on shutdown, held-back polls included, so a restart does not abandon everybody who just polled.
        try? await flush(everything: true)
    }
}
