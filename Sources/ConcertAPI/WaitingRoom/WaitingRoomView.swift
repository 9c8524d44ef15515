public import ConcertDomain
public import ConcertStorage
import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

/// Each concert's `admittedThrough` and sale times, kept in memory and refreshed about once a second, so that
/// polling a waiting token needs no database round trip; and the recent admission rate for the
/// wait estimate. Each advance of a mark is passed on (`admitted`) before it is published: the API
/// reads the newly admitted tokens' rows ahead of their holders' first requests.
public final class WaitingRoomView: Service, Sendable {
    private struct Snapshot {
        var marks: [ConcertID: Int64] = [:]
        /// Each concert's sale times.
        var windows: [ConcertID: SaleWindow] = [:]
        /// The pre-queue draws: each provisional number's place, by concert.
        var places: [ConcertID: [Int64: Int64]] = [:]
        /// The last placement read.
        var lastPlacement: Int64 = 0
        /// Abandoned tokens ahead of each mark: their next poll is told.
        var abandoned: [ConcertID: Set<Int64>] = [:]
        /// Marks over the last ~10 s, oldest first, for the admission rate.
        var history: [(at: ContinuousClock.Instant, marks: [ConcertID: Int64])] = []
    }

    /// Told, before the new marks are published, of each concert whose mark advanced since the
    /// last refresh: `after < seq ≤ through` were admitted.
    public typealias Admitted = @Sendable (_ concert: ConcertID, _ after: Int64, _ through: Int64) async -> Void

    private let store: WaitingRoomStore
    private let logger: Logger
    private let interval: Duration
    private let admitted: Admitted?
    private let snapshot = Mutex(Snapshot())

    public init(store: WaitingRoomStore, logger: Logger, interval: Duration = .seconds(1), admitted: Admitted? = nil) {
        self.store = store
        self.logger = logger
        self.interval = interval
        self.admitted = admitted
    }

    /// The highest admitted sequence number of the concert, as of the last refresh.
    public func admittedThrough(_ concert: ConcertID) -> Int64 {
        snapshot.withLock { $0.marks[concert] ?? 0 }
    }

    /// True when the token `seq` of the concert, still ahead of the mark, was abandoned (as of the last refresh).
    public func isAbandoned(_ concert: ConcertID, seq: Int64) -> Bool {
        snapshot.withLock { $0.abandoned[concert]?.contains(seq) ?? false }
    }

    /// The concert's sale times as of the last refresh (`nil`: not known yet).
    public func window(_ concert: ConcertID) -> SaleWindow? {
        snapshot.withLock { $0.windows[concert] }
    }

    /// The place the pre-queue's draw gave the token of provisional number `provisional`, once
    /// this process has read it (`nil` before).
    public func place(_ concert: ConcertID, provisional: Int64) -> Int64? {
        snapshot.withLock { $0.places[concert]?[provisional] }
    }

    /// True when the concert had a waiting room at the last refresh (every concert has one).
    public func knows(_ concert: ConcertID) -> Bool {
        snapshot.withLock { $0.marks[concert] != nil }
    }

    /// Admissions per second over the last few seconds.
    public func admissionRate(_ concert: ConcertID) -> Double {
        snapshot.withLock { snapshot in
            guard let oldest = snapshot.history.first, let newest = snapshot.history.last else { return 0 }
            let seconds = Double((newest.at - oldest.at).components.seconds)
            guard seconds > 0 else { return 0 }
            return Double((newest.marks[concert] ?? 0) - (oldest.marks[concert] ?? 0)) / seconds
        }
    }

    /// Reads the marks now.
    public func refresh() async throws {
        let rooms = try await store.rooms()
        let marks = rooms.mapValues(\.admittedThrough)
        let abandoned = try await store.abandonedAhead()
        // Placements only grow, and each is read once: a draw of a whole stadium's pre-queue
        // arrives over a few refreshes, after which a refresh reads nothing new.
        let placements = try await store.placements(after: snapshot.withLock { $0.lastPlacement })
        if let admitted {
            // Before the marks are published: whoever learns of an admission from this view finds
            // what `admitted` prepared. Not on the first refresh, which would be the whole history.
            let previous = snapshot.withLock(\.marks)
            for (concert, mark) in marks {
                if let before = previous[concert], mark > before { await admitted(concert, before, mark) }
            }
        }
        let now = ContinuousClock.now
        snapshot.withLock { snapshot in
            snapshot.marks = marks
            snapshot.windows = rooms.mapValues(\.window)
            for placement in placements {
                snapshot.places[placement.concertID, default: [:]][placement.provisional] = placement.seq
                snapshot.lastPlacement = max(snapshot.lastPlacement, placement.id)
            }
            snapshot.abandoned = abandoned
            snapshot.history.append((now, marks))
            snapshot.history.removeAll { now - $0.at > .seconds(10) }
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.refresh()
                } catch {
                    self.logger.warning("waiting room: refreshing admission marks failed", metadata: ["error": "\(String(reflecting: error))"])
                }
                try? await Task.sleep(for: self.interval)
            }
        }
    }
}
