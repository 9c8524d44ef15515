public import ConcertDomain
public import ConcertPipeline
public import ConcertStorage
import Foundation
import Synchronization

/// The rows of admitted queue tokens, kept in memory, so that checking an active token — on
/// every read and every command — costs no database round trip.
///
/// A token's row changes after admission in only two ways: its lifetime ends (`expires_at`,
/// known here), or a payment ends it. Payments are announced by the partition workers
/// (`ReplyInbox` → `ended(_:)`), which drops the row at once. An announcement can be lost
/// (this process's broker connection was down); rows are therefore read again when they are
/// older than `refreshAfter`. Worst case: for `refreshAfter` after a payment whose announcement
/// this process missed, the paying user's token still reads and submits here. Waiting rows are
/// never kept (admission changes them); only active, expired and abandoned ones.
public final class ActiveTokens: Sendable {
    private struct Key: Hashable {
        let concert: ConcertID
        let seq: Int64
    }

    private struct UserKey: Hashable {
        let concert: ConcertID
        let user: UserID
    }

    private struct Entry {
        let token: WaitingRoomStore.Token
        let readAt: ContinuousClock.Instant
    }

    private struct Cache {
        var rows: [Key: Entry] = [:]
        var byUser: [UserKey: Set<Int64>] = [:]
    }

    private let store: WaitingRoomStore
    private let refreshAfter: Duration
    private let capacity: Int
    private let cache = Mutex(Cache())

    public init(store: WaitingRoomStore, refreshAfter: Duration = .seconds(30), capacity: Int = 200_000) {
        self.store = store
        self.refreshAfter = refreshAfter
        self.capacity = capacity
    }

    /// The token's row: from memory while it is fresh, else read (and kept unless it is waiting).
    public func token(concert: ConcertID, seq: Int64) async throws -> WaitingRoomStore.Token? {
        let key = Key(concert: concert, seq: seq)
        let now = ContinuousClock.now
        if let entry = cache.withLock({ $0.rows[key] }), now - entry.readAt < refreshAfter { return entry.token }
        guard let token = try await store.token(concert: concert, seq: seq) else { return nil }
        if token.state != .waiting {
            cache.withLock { cache in
                if cache.rows.count >= capacity { cache = Cache() }
                cache.rows[key] = Entry(token: token, readAt: now)
                cache.byUser[UserKey(concert: concert, user: token.userID), default: []].insert(seq)
            }
        }
        return token
    }

    /// Payments ended these users' tokens: forget their rows, so the next check reads them.
    public func ended(_ tokens: [EndedToken]) {
        cache.withLock { cache in
            for token in tokens {
                guard let seqs = cache.byUser.removeValue(forKey: UserKey(concert: token.concert, user: token.user)) else { continue }
                for seq in seqs { cache.rows[Key(concert: token.concert, seq: seq)] = nil }
            }
        }
    }

    /// How many rows are kept.
    public var count: Int { cache.withLock(\.rows.count) }
}
