import ConcertStorage
import Foundation
import PostgresNIO
import TestSupport
import Testing

/// `concert dead-letters` over the executable: a letter in the archive is listed, shown with its
/// body, replayed to where it was sent, and discarded; a letter that is not there is said so.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CONCERT_REQUIRE_SERVICES"] == "1"))
struct DeadLetterToolTests {
    @Test func aLetterIsListedShownReplayedAndDiscarded() async throws {
        try await DoctorTests.withStack { changes, _ in
            let url = try #require(changes["CONCERT_DATABASE_URL"])
            var configuration = try PostgresClient.Configuration(url: url)
            configuration.options.connectTimeout = .seconds(5)
            let database = PostgresClient(configuration: configuration, backgroundLogger: DatabaseEnvironment.logger)
            let id = try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await database.run() }
                defer { group.cancelAll() }
                let store = DeadLetterStore(client: database, logger: DatabaseEnvironment.logger)
                try await store.archive(
                    .init(
                        messageId: "tool-test-1",
                        type: "ReserveSeat",
                        reason: "malformed envelope: not JSON",
                        exchange: "concert.commands",
                        routingKey: "p.0",
                        body: Array("not json at all".utf8),
                        headersJSON: "{}",
                        at: Date()
                    )
                )
                return try #require(try await store.list(limit: 1).first?.id)
            }

            let listed = try await StartupTests.run(["dead-letters", "list"], changes)
            #expect(listed.status == 0, "\(listed.lines)")
            #expect(listed.lines.contains { $0.hasPrefix(String(id)) && $0.hasSuffix("malformed envelope: not JSON") }, "\(listed.lines)")

            let shown = try await StartupTests.run(["dead-letters", "show", String(id)], changes)
            #expect(shown.status == 0, "\(shown.lines)")
            #expect(shown.lines.contains("not json at all"), "\(shown.lines)")
            #expect(shown.lines.contains { $0.hasPrefix("message id:  tool-test-1") }, "\(shown.lines)")

            let replayed = try await StartupTests.run(["dead-letters", "replay", String(id)], changes)
            #expect(replayed.status == 0, "\(replayed.lines)")
            #expect(replayed.lines.contains("replayed \(id) to concert.commands p.0 (replay #1)"), "\(replayed.lines)")

            let discarded = try await StartupTests.run(["dead-letters", "discard", String(id)], changes)
            #expect(discarded.lines.contains("discarded \(id)"), "\(discarded.lines)")
            let gone = try await StartupTests.run(["dead-letters", "show", String(id)], changes)
            #expect(gone.status != 0)
            #expect(gone.lines.contains { $0.contains("no dead letter \(id)") }, "\(gone.lines)")
        }
    }
}
