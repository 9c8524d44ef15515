import ConcertAPI
import ConcertDomain
import ConcertPipeline
import Foundation
import Synchronization
import Testing

@testable import ConcertStorage

/// The API's memory of admitted tokens, over a counted stand-in for the database.
@Suite struct ActiveTokensTests {
    /// A table of token rows; counts the statements and the keys each one asked for.
    final class Rows: Sendable {
        let rows: [Int64: WaitingRoomStore.Token]
        let reads = Mutex<[Int]>([])
        /// Held until `release()`: lets a test act while a read is in flight.
        let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let gated: Bool

        init(_ states: [Int64: WaitingRoomStore.Token.State], gated: Bool = false) {
            rows = Dictionary(
                uniqueKeysWithValues: states.map { seq, state in
                    (
                        seq,
                        WaitingRoomStore.Token(
                            concertID: ConcertID(1)!,
                            seq: seq,
                            userID: UserID("user-\(seq)")!,
                            state: state,
                            issuedAt: Date(timeIntervalSince1970: 0),
                            expiresAt: Date().addingTimeInterval(600)
                        )
                    )
                }
            )
            self.gated = gated
        }

        func read(_ keys: [(concert: ConcertID, seq: Int64)]) async throws -> [WaitingRoomStore.Token] {
            reads.withLock { $0.append(keys.count) }
            try await Task.sleep(for: .milliseconds(5))
            if gated { await withCheckedContinuation { continuation in gate.withLock { $0 = continuation } } }
            return keys.compactMap { rows[$0.seq] }
        }

        func release() async throws {
            while true {
                if let continuation = gate.withLock({ state -> CheckedContinuation<Void, Never>? in
                    defer { state = nil }
                    return state
                }) {
                    continuation.resume()
                    return
                }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
    }

    static let concert = ConcertID(1)!

    @Test func concurrentMissesShareStatementsAndEachGetsItsOwnRow() async throws {
        let table = Rows(Dictionary(uniqueKeysWithValues: (1...50).map { (Int64($0), $0 % 5 == 0 ? .waiting : .active) }))
        let tokens = ActiveTokens { keys in try await table.read(keys) }
        // 300 lookups of 60 tokens (10 of them without a row), all at once.
        let answers = try await withThrowingTaskGroup(of: (Int64, WaitingRoomStore.Token?).self) { group in
            for index in 0..<300 {
                let seq = Int64(index % 60 + 1)
                group.addTask { (seq, try await tokens.token(concert: Self.concert, seq: seq)) }
            }
            return try await group.reduce(into: [(Int64, WaitingRoomStore.Token?)]()) { $0.append($1) }
        }
        #expect(answers.count == 300)
        for (seq, token) in answers {
            #expect(token == table.rows[seq], "token \(seq)")
        }
        let reads = table.reads.withLock { $0 }
        #expect(reads.count < 300 / 4, "one statement per lookup or close to it: \(reads.count)")
        #expect(reads.allSatisfy { $0 <= 60 }, "a key asked for twice in one statement: \(reads)")

        // Active rows are kept now; waiting ones and missing ones are read again.
        table.reads.withLock { $0.removeAll() }
        #expect(try await tokens.token(concert: Self.concert, seq: 1)?.state == .active)
        #expect(table.reads.withLock { $0 }.isEmpty)
        #expect(try await tokens.token(concert: Self.concert, seq: 5)?.state == .waiting)
        #expect(try await tokens.token(concert: Self.concert, seq: 55) == nil)
        #expect(table.reads.withLock { $0 }.count == 2)
    }

    @Test func aRowReadWhileAPaymentEndedATokenIsNotKept() async throws {
        let table = Rows([7: .active], gated: true)
        let tokens = ActiveTokens { keys in try await table.read(keys) }
        async let first = tokens.token(concert: Self.concert, seq: 7)
        try await Task.sleep(for: .milliseconds(20))
        // The announcement of a payment arrives while the row is being read.
        tokens.ended([EndedToken(concert: Self.concert, user: UserID("user-7")!)])
        try await table.release()
        #expect(try await first?.state == .active)
        #expect(tokens.count == 0, "a row that may predate the payment was kept")

        // Read again without an ending in between: kept.
        async let second = tokens.token(concert: Self.concert, seq: 7)
        try await table.release()
        #expect(try await second?.state == .active)
        #expect(tokens.count == 1)
    }

    @Test func rowsReadAheadAreKeptUnlessWaitingOrReadWhileAPaymentEndedAToken() async throws {
        let table = Rows([1: .active, 2: .expired, 3: .waiting, 4: .active])
        let tokens = ActiveTokens { keys in try await table.read(keys) }
        try await tokens.readAhead { Array(table.rows.values) }
        #expect(tokens.count == 3, "the waiting row was kept, or an admitted one was not")
        #expect(try await tokens.token(concert: Self.concert, seq: 2)?.state == .expired)
        #expect(table.reads.withLock { $0 }.isEmpty, "a row read ahead was read again")

        let later = ActiveTokens { keys in try await table.read(keys) }
        try await later.readAhead {
            later.ended([EndedToken(concert: Self.concert, user: UserID("user-4")!)])
            return Array(table.rows.values)
        }
        #expect(later.count == 0, "rows that may predate a payment were kept")

        // A full memory is not emptied for rows read ahead: they take only the room there is.
        let small = ActiveTokens(capacity: 2) { keys in try await table.read(keys) }
        #expect(try await small.token(concert: Self.concert, seq: 1)?.state == .active)
        try await small.readAhead { [table.rows[2]!, table.rows[4]!] }
        #expect(small.count == 2)
        table.reads.withLock { $0.removeAll() }
        #expect(try await small.token(concert: Self.concert, seq: 1)?.state == .active)
        #expect(table.reads.withLock { $0 }.isEmpty, "a row in use was pushed out by rows read ahead")
    }
}
