import ConcertDomain
import ConcertPipeline
import Foundation
import Testing

@testable import ConcertAPI
@testable import ConcertStorage

/// What the console's pages show, computed from the stores' figures without a server.
@Suite struct ConsoleViewTests {
    let now = Date(timeIntervalSince1970: 1_796_292_900)

    @Test func aRoomsWaitIsTheOneItsTokensAreTold() {
        let room = RoomRow(.init(concertID: 1, admittedThrough: 500, active: 40, waiting: 1_000, admittedLastMinute: 120))
        // 1 000 waiting at 2 admissions/s.
        #expect(WaitingRoom.estimatedWaitSeconds(position: 1_000, admissionsPerSecond: 2) == 500)
        #expect(room.estimatedWait == "about 8 min")
        #expect(RoomRow(.init(concertID: 1, admittedThrough: 5, active: 1, waiting: 7, admittedLastMinute: 60)).estimatedWait == "about 7 s")
        #expect(RoomRow(.init(concertID: 1, admittedThrough: 5, active: 1, waiting: 0, admittedLastMinute: 0)).estimatedWait == "nobody waits")
        #expect(RoomRow(.init(concertID: 1, admittedThrough: 5, active: 1, waiting: 3, admittedLastMinute: 0)).estimatedWait.hasPrefix("unknown"))
    }

    @Test func theGraphScalesToItsPeak() {
        let graph = Graph(counts: [0, 5, 10])
        #expect(graph.points == "0.0,78.0 300.0,41.0 600.0,4.0")
        #expect((graph.last, graph.peak, graph.total) == (10, 10, 15))
        let empty = Graph(counts: [])
        #expect(empty.points.isEmpty)
        #expect((empty.last, empty.peak, empty.total) == (0, 0, 0))
    }

    @Test func aPartitionsRowSumsItsSchedulesAndItsLastBatch() throws {
        let first = ScheduleKey(concertID: try ConcertID.parse(1), date: try ScheduleDate.parse("2026-12-24"))
        let partitions = 4
        // Another schedule of the first one's partition, and one of another partition.
        let dates = (1...12).flatMap { month in (1...28).map { day in String(format: "2027-%02d-%02d", month, day) } }
        let keys = try dates.map { ScheduleKey(concertID: first.concertID, date: try ScheduleDate.parse($0)) }
        let sibling = try #require(keys.first { $0.partition(of: partitions) == first.partition(of: partitions) })
        let second = try #require(keys.first { $0.partition(of: partitions) != first.partition(of: partitions) })
        let latest = now.addingTimeInterval(-30)
        let activity: [ConsoleStore.ScheduleActivity] = [
            .init(partitionKey: first.partitionKey, committedLastMinute: 90, lastCommitAt: latest, lastBatchSize: 3),
            .init(partitionKey: sibling.partitionKey, committedLastMinute: 30, lastCommitAt: latest, lastBatchSize: 2),
            .init(partitionKey: second.partitionKey, committedLastMinute: 6, lastCommitAt: now.addingTimeInterval(-600), lastBatchSize: 1),
        ]
        let queue = PipelineTopology.partitionQueue(first.partition(of: partitions))
        let rows = PartitionRow.rows(partitions: partitions, facts: [queue: .init(ready: 7, consumers: 2)], activity: activity, now: now)
        #expect(rows.count == partitions)
        let row = rows[first.partition(of: partitions)]
        #expect((row.ready, row.unacked, row.consumers) == ("7", "-", "2"))
        #expect(row.rate == "2.0", "120 commits in the last minute")
        #expect(row.lastCommit == "30 s ago")
        #expect(row.lastBatch == "5", "one batch wrote both schedules' last outcomes")
        let idle = try #require(rows.first { $0.number != first.partition(of: partitions) && $0.number != second.partition(of: partitions) })
        #expect((idle.ready, idle.lastCommit, idle.lastBatch) == ("?", "none in the last hour", "-"))
    }

    @Test func aGroupsLinkAndHiddenFieldsCarryItsIdentityAndFilterEscaped() {
        let group = ConsoleStore.DeadLetterGroup(reason: #"bad "body" & <more>"#, type: "ReserveSeat", count: 3, waiting: 1, lastSeenAt: now)
        let row = GroupRow(group: group, filter: FilterForm(reason: "", type: "", partition: "2", since: ""), csrf: "token")
        #expect(row.link == "/admin/console/dead-letters/group?reason=bad%20%22body%22%20%26%20%3Cmore%3E&type=ReserveSeat&partition=2")
        #expect(row.hiddenFields.contains(#"name="reason" value="bad &quot;body&quot; &amp; &lt;more&gt;""#))
        #expect(row.hiddenFields.contains(#"name="partition" value="2""#))
        #expect(!row.hiddenFields.contains("since"))
        #expect(row.lastSeen == "2026-12-03T10:15:00Z")
    }

    @Test func aLettersBodyAndHeadersArePrettyPrintedAndItsXDeathShown() {
        let record = DeadLetterStore.Record(
            id: 9,
            messageId: "m",
            type: nil,
            reason: "delivery limit",
            exchange: "",
            routingKey: "p.1",
            count: 2,
            firstSeenAt: now,
            lastSeenAt: now,
            replayedAt: now,
            replayCount: 2,
            body: Array(#"{"b":1,"a":2}"#.utf8),
            headers: #"{"x-death":[{"count":5}]}"#
        )
        let page = LetterPage(record)
        #expect(page.body == "{\n  \"a\" : 2,\n  \"b\" : 1\n}")
        #expect(page.exchange == "(default exchange)")
        #expect(page.type == "(none)")
        #expect(page.xDeath.contains("\"count\" : 5"))
        #expect(page.replayed == "2×, last 2026-12-03T10:15:00Z")
        let binary = DeadLetterStore.Record(
            id: 10,
            messageId: "m",
            type: "Pay",
            reason: "r",
            exchange: "concert.commands",
            routingKey: "p.1",
            count: 1,
            firstSeenAt: now,
            lastSeenAt: now,
            replayedAt: nil,
            replayCount: 0,
            body: [0xFF, 0xFE],
            headers: "{}"
        )
        #expect(LetterPage(binary).body == "(2 bytes, not UTF-8)")
        #expect(LetterPage(binary).xDeath.hasPrefix("none"))
        #expect(LetterPage(binary).replayed == "no")
    }

    @Test func aGroupActionIsConfirmedWithItsCount() {
        let filter = FilterForm(reason: "", type: "", partition: "", since: "2026-12-03T10:00")
        let replay = ConfirmPage(.replay, count: 4, reason: "r", type: nil, filter: filter, csrf: "c")
        #expect(replay.question == "Replay 4 dead letter(s)?")
        #expect(replay.action == "/admin/console/dead-letters/group/replay")
        #expect(replay.detail.hasPrefix("Reason r, type (none): each is published again"))
        #expect(replay.hiddenFields.contains(#"name="since" value="2026-12-03T10:00""#))
        #expect(ConfirmPage(.discard, count: 1, reason: "r", type: "Pay", filter: filter, csrf: "c").verb == "Discard")
    }

    @Test func notesAndAges() {
        #expect(ConsoleFormat.notice("replayed-3") == "Replayed 3 letter(s).")
        #expect(ConsoleFormat.notice("discarded-1") == "Discarded 1 letter(s).")
        #expect(ConsoleFormat.notice("<script>") == "Done.")
        #expect(ConsoleFormat.ago(now.addingTimeInterval(-119), now: now) == "119 s ago")
        #expect(ConsoleFormat.ago(now.addingTimeInterval(-600), now: now) == "10 min ago")
        #expect(ConsoleFormat.ago(now.addingTimeInterval(5), now: now) == "0 s ago")
    }

    @Test func aCommandRowSaysItsPartitionAndOutcome() throws {
        let key = ScheduleKey(concertID: try ConcertID.parse(3), date: try ScheduleDate.parse("2026-12-24"))
        let id = UUID()
        let row = CommandRow(
            .init(
                id: id,
                type: "ReserveSeat",
                userID: "u",
                partitionKey: key.partitionKey,
                status: "failed",
                result: nil,
                errorCode: "SEAT_TAKEN",
                submittedAt: now,
                completedAt: nil
            ),
            partitions: 8
        )
        #expect(row.id == id.uuidString.lowercased())
        #expect(row.partition == key.partition(of: 8))
        #expect((row.outcome, row.committed) == ("SEAT_TAKEN", "-"))
    }
}
