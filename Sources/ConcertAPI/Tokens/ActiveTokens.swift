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
///
/// Rows are read in batches: the lookups of concurrent requests that miss (a token's first use
/// here, or its row due for a refresh) share one statement, so a burst of new users costs a few
/// round trips rather than one per request. A row read while a payment ended some token is
/// answered but not kept: it may predate that payment. Rows of newly admitted tokens are read
/// ahead (`readAhead`), so a crowd let in at once does not all miss at once.
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
        /// Counts `ended` calls: a read during which it changed is not kept.
        var endings = 0
    }

    /// At most this many rows read ahead per concert and refresh, the latest admitted first.
    public static let readAheadLimit = 10_000

    /// Reads the rows of a batch of tokens (those without a row left out).
    public typealias Read = @Sendable ([(concert: ConcertID, seq: Int64)]) async throws -> [WaitingRoomStore.Token]

    private let refreshAfter: Duration
    private let capacity: Int
    private let cache = Mutex(Cache())
    private let reader: Coalescer<Key, WaitingRoomStore.Token?>

    public convenience init(store: WaitingRoomStore, refreshAfter: Duration = .seconds(30), capacity: Int = 200_000) {
        self.init(refreshAfter: refreshAfter, capacity: capacity) { keys in try await store.tokens(keys) }
    }

    /// `read` is how rows are read (`WaitingRoomStore.tokens` but in tests).
    public init(refreshAfter: Duration = .seconds(30), capacity: Int = 200_000, read: @escaping Read) {
        self.refreshAfter = refreshAfter
        self.capacity = capacity
        reader = Coalescer(maximumBatch: 500) { keys in
            let distinct = Array(Set(keys))
            let rows = try await read(distinct.map { (concert: $0.concert, seq: $0.seq) })
            var found: [Key: WaitingRoomStore.Token] = [:]
            for row in rows { found[Key(concert: row.concertID, seq: row.seq)] = row }
            return keys.map { found[$0] }
        }
    }

    /// The token's row: from memory while it is fresh, else read (and kept unless it is waiting).
    public func token(concert: ConcertID, seq: Int64) async throws -> WaitingRoomStore.Token? {
        let key = Key(concert: concert, seq: seq)
        let now = ContinuousClock.now
        let (cached, endings) = cache.withLock { ($0.rows[key], $0.endings) }
        if let cached, now - cached.readAt < refreshAfter { return cached.token }
        guard let token = try await reader.submit(key) else { return nil }
        keep([token], readAt: now, endings: endings)
        return token
    }

    /// Reads rows before anyone asks for them (`WaitingRoomView` passes the tokens each advance of
    /// an admission mark admitted) and keeps those that are not waiting, so that the first
    /// requests of a batch of newly admitted buyers find their rows here.
    public func readAhead(_ read: () async throws -> [WaitingRoomStore.Token]) async throws {
        let now = ContinuousClock.now
        let endings = cache.withLock(\.endings)
        keep(try await read(), readAt: now, endings: endings, makingRoom: false)
    }

    /// Keeps rows read from `readAt` on, unless a payment ended some token meanwhile. A full
    /// memory starts over for a row someone asked for (`makingRoom`); rows read ahead are kept
    /// only while there is room, so they never push out the rows in use.
    private func keep(_ tokens: [WaitingRoomStore.Token], readAt: ContinuousClock.Instant, endings: Int, makingRoom: Bool = true) {
        let kept = tokens.filter { $0.state != .waiting }
        guard !kept.isEmpty else { return }
        cache.withLock { cache in
            guard cache.endings == endings else { return }
            for token in kept {
                if cache.rows.count >= capacity {
                    guard makingRoom else { return }
                    cache = Cache(endings: cache.endings)
                }
                cache.rows[Key(concert: token.concertID, seq: token.seq)] = Entry(token: token, readAt: readAt)
                cache.byUser[UserKey(concert: token.concertID, user: token.userID), default: []].insert(token.seq)
            }
        }
    }

    /// Payments ended these users' tokens: forget their rows, so the next check reads them.
    public func ended(_ tokens: [EndedToken]) {
        cache.withLock { cache in
            cache.endings += 1
            for token in tokens {
                guard let seqs = cache.byUser.removeValue(forKey: UserKey(concert: token.concert, user: token.user)) else { continue }
                for seq in seqs { cache.rows[Key(concert: token.concert, seq: seq)] = nil }
            }
        }
    }

    /// How many rows are kept.
    public var count: Int { cache.withLock(\.rows.count) }
}
