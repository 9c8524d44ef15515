import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertPipeline
import ConcertWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import TestSupport
import Testing

@Suite(.enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct DeadLetterTests {
    static func admin(
        _ client: any TestClientProtocol,
        _ method: HTTPRequest.Method,
        _ uri: String,
        token: String? = APIHarness.adminToken
    ) async throws
        -> TestResponse
    {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: uri, method: method, headers: headers)
    }

    struct Listed: Decodable {
        struct Letter: Decodable {
            let id: Int64
            let messageId: String
            let type: String?
            let reason: String
            let routingKey: String
            let count: Int
        }
        let deadLetters: [Letter]
    }

    /// A command replayed into a partition queue its schedule does not belong to (the partition
    /// count changed since it was dead-lettered) would make a second writer of that schedule:
    /// it is dead-lettered with that reason, and nothing of it is applied.
    @Test func aCommandInTheWrongPartitionIsDeadLetteredUnapplied() async throws {
        let partitions = 2
        try await APIHarness.withAPI(pipeline: .init(partitions: partitions)) { client, harness in
            let schedule = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate("2026-12-24")!)
            let home = schedule.partition(of: partitions)
            let envelope = CommandEnvelope(
                id: UUID(),
                userId: UserID("mallory")!,
                partitionKey: schedule.partitionKey,
                command: .reserveSeat(.init(concertId: schedule.concertID, date: schedule.date, seatNumber: SeatNumber(3)!)),
                submittedAt: Date()
            )
            try await harness.broker.publish(
                exchange: PipelineTopology.commandsExchange,
                routingKey: PipelineTopology.partitionRoutingKey(1 - home),
                body: envelope.encoded(),
                properties: AMQPMessageProperties(messageId: envelope.id.lowercasedString, type: "ReserveSeat"),
                mandatory: true
            )
            var listed = Listed(deadLetters: [])
            try await eventually("the command is archived") {
                listed = try await Self.admin(client, .get, "/admin/dead-letters").json(Listed.self)
                return listed.deadLetters.count == 1
            }
            #expect(listed.deadLetters.first?.reason.hasPrefix("wrong partition") == true)
            #expect(listed.deadLetters.first?.routingKey == PipelineTopology.partitionRoutingKey(1 - home))
            let applied = try await harness.client.query(
                "SELECT count(*) FROM commands WHERE id = \(envelope.id)",
                logger: DatabaseEnvironment.logger
            )
            #expect(try await applied.decode(Int.self).reduce(0, +) == 0)
        }
    }

    @Test func poisonInEveryPartitionIsArchivedAndThePartitionsKeepFlowing() async throws {
        let partitions = 3
        try await APIHarness.withAPI(pipeline: .init(partitions: partitions)) { client, harness in
            // One undecodable message and one of an unknown type per partition.
            for partition in 0..<partitions {
                try await harness.broker.publish(
                    exchange: PipelineTopology.commandsExchange,
                    routingKey: PipelineTopology.partitionRoutingKey(partition),
                    body: Array("not json \(partition)".utf8),
                    properties: AMQPMessageProperties(messageId: "garbage-\(partition)"),
                    mandatory: true
                )
                let unknown =
                    #"{"id":"\#(UUID())","type":"Teleport","version":1,"userId":"eve","partitionKey":"x","payload":{},"submittedAt":"2026-11-25T00:00:00Z"}"#
                try await harness.broker.publish(
                    exchange: PipelineTopology.commandsExchange,
                    routingKey: PipelineTopology.partitionRoutingKey(partition),
                    body: Array(unknown.utf8),
                    properties: AMQPMessageProperties(messageId: "teleport-\(partition)", type: "Teleport"),
                    mandatory: true
                )
            }
            var listed = Listed(deadLetters: [])
            try await eventually("all poison is archived") {
                listed = try await Self.admin(client, .get, "/admin/dead-letters").json(Listed.self)
                return listed.deadLetters.count == partitions * 2
            }
            #expect(listed.deadLetters.filter { $0.reason.hasPrefix("malformed envelope") }.count == partitions)
            #expect(listed.deadLetters.filter { $0.reason == "unknown command type Teleport" }.count == partitions)
            #expect(Set(listed.deadLetters.map(\.routingKey)) == Set((0..<partitions).map { "p.\($0)" }))

            // Later commands in those partitions still succeed (the buyer's schedule is in one of them).
            var alice = Buyer(client, "alice")
            try await alice.queue()
            try await harness.admit()
            let dates = try await alice.send(.get, "/v1/concerts/1/dates").json()
            guard case .array(let days)? = dates["dates"] else { throw TestFailure("no dates") }
            for day in days {
                let response = try await alice.reserve(seat: 5, date: day["date"]?.string ?? "")
                #expect(response.status == .created)
            }

            // Filter by reason, show one, replay it (it fails again and counts up), discard it.
            let filtered = try await Self.admin(client, .get, "/admin/dead-letters?reason=unknown&limit=2").json(Listed.self)
            #expect(filtered.deadLetters.count == 2)
            #expect(filtered.deadLetters.allSatisfy { $0.reason.hasPrefix("unknown") })
            let letter = try #require(filtered.deadLetters.first)
            let shown = try await Self.admin(client, .get, "/admin/dead-letters/\(letter.id)").json()
            #expect(shown["body"]?.string?.contains("Teleport") == true)
            #expect(shown["headers"]?["x-concert-reason"] == "unknown command type Teleport")
            #expect(shown["exchange"] == "concert.commands")

            let replay = try await Self.admin(client, .post, "/admin/dead-letters/\(letter.id)/replay")
            #expect(replay.status == .accepted)
            // Nothing stops the worker here, so the letter comes back once; a second arrival (its
            // delivery returned after the letter was sent) fails with the count, not a time-out.
            var count = 1.0
            try await eventually(timeout: .seconds(30), "the replayed letter comes back") {
                if case .number(let now)? = try await Self.admin(client, .get, "/admin/dead-letters/\(letter.id)").json()["count"] { count = now }
                return count >= 2
            }
            #expect(count == 2, "the replayed letter arrived \(count - 1) times")
            #expect(try await Self.admin(client, .delete, "/admin/dead-letters/\(letter.id)").status == .noContent)
            #expect(try await Self.admin(client, .get, "/admin/dead-letters/\(letter.id)").status == .notFound)
            #expect(try await Self.admin(client, .delete, "/admin/dead-letters/\(letter.id)").status == .notFound)
        }
    }

    @Test func theAdminAPINeedsTheAdminToken() async throws {
        try await APIHarness.withAPI { client, _ in
            for token in [nil, "wrong-token-0123456789", ""] as [String?] {
                let response = try await Self.admin(client, .get, "/admin/dead-letters", token: token)
                #expect(response.status == .unauthorized)
                #expect(try response.json()["code"] == "ADMIN_UNAUTHORIZED")
            }
            #expect(try await Self.admin(client, .delete, "/admin/dead-letters/1", token: nil).status == .unauthorized)
            #expect(try await Self.admin(client, .get, "/admin/dead-letters").status == .ok)
        }
    }

    /// Runs the `concert` executable against the test's schema and virtual host and returns its output.
    static func concert(_ harness: APIHarness, _ arguments: String...) async throws -> (status: Int32, output: String) {
        try await runCapturingOutput(
            APIHarness.root.appendingPathComponent(".build/debug/concert").path,
            arguments,
            environment: harness.childEnvironment(partitions: 2)
        )
    }

    @Test func theCLIListsShowsReplaysAndDiscards() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            try await harness.broker.publish(
                exchange: PipelineTopology.commandsExchange,
                routingKey: PipelineTopology.partitionRoutingKey(1),
                body: Array("cli poison".utf8),
                properties: AMQPMessageProperties(messageId: "cli-poison"),
                mandatory: true
            )
            var listed = Listed(deadLetters: [])
            try await eventually("the poison is archived") {
                listed = try await Self.admin(client, .get, "/admin/dead-letters").json(Listed.self)
                return listed.deadLetters.count == 1
            }
            let id = try #require(listed.deadLetters.first?.id)

            let list = try await Self.concert(harness, "dead-letters", "list")
            #expect(list.status == 0)
            #expect(list.output.contains("malformed envelope: not JSON"))
            #expect(list.output.contains("p.1"))
            let show = try await Self.concert(harness, "dead-letters", "show", String(id))
            #expect(show.output.contains("message id:  cli-poison"))
            #expect(show.output.contains("cli poison"))
            let replay = try await Self.concert(harness, "dead-letters", "replay", String(id))
            #expect(replay.status == 0)
            #expect(replay.output.contains("replayed \(id) to concert.commands p.1"))
            try await eventually("the replayed letter comes back") {
                try await Self.admin(client, .get, "/admin/dead-letters/\(id)").json()["count"] == 2
            }
            let discard = try await Self.concert(harness, "dead-letters", "discard", String(id))
            #expect(discard.output.contains("discarded \(id)"))
            #expect(try await Self.admin(client, .get, "/admin/dead-letters/\(id)").status == .notFound)
            #expect(try await Self.concert(harness, "dead-letters", "discard", String(id)).status != 0)
        }
    }
}
