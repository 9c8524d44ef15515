import ConcertDomain
import ConcertPipeline
import ConcertStorage
import Foundation

/// The overview: commits over time, each partition's queue and last commit, the waiting rooms,
/// outcomes by type, and how many dead letters wait.
struct OverviewPage {
    var page: Page
    let generatedAt: String
    let graph: Graph
    let partitions: [PartitionRow]
    let rooms: [RoomRow]
    let outcomes: [OutcomeRow]
    let deadLettersWaiting: Int
}

struct PartitionRow {
    let number: Int
    let ready: String
    let unacked: String
    let consumers: String
    let activeConsumer: String
    let rate: String
    let lastCommit: String
    let lastBatch: String

    /// One row per partition, from the broker's facts by queue name and each schedule's recent commits.
    static func rows(
        partitions: Int,
        facts: [String: ConsoleServices.QueueFacts],
        activity: [ConsoleStore.ScheduleActivity],
        now: Date
    ) -> [PartitionRow] {
        let byPartition = Dictionary(grouping: activity) { entry in
            ScheduleKey(partitionKey: entry.partitionKey)?.partition(of: partitions) ?? -1
        }
        return (0..<partitions).map { number in
            let fact = facts[PipelineTopology.partitionQueue(number)]
            let entries = byPartition[number] ?? []
            let latest = entries.compactMap(\.lastCommitAt).max()
            // One batch writes all its outcomes in one statement, so they share `completed_at`,
            // whichever schedules of the partition they belong to.
            let lastBatch = entries.filter { $0.lastCommitAt == latest }.reduce(0) { $0 + $1.lastBatchSize }
            return PartitionRow(
                number: number,
                ready: fact?.ready.map(String.init) ?? "?",
                unacked: fact?.unacknowledged.map(String.init) ?? "-",
                consumers: fact?.consumers.map(String.init) ?? "?",
                activeConsumer: fact?.activeConsumer ?? "-",
                rate: String(format: "%.1f", Double(entries.reduce(0) { $0 + $1.committedLastMinute }) / 60),
                lastCommit: latest.map { ConsoleFormat.ago($0, now: now) } ?? "none in the last hour",
                lastBatch: latest == nil ? "-" : String(lastBatch)
            )
        }
    }
}

struct RoomRow {
    let concert: Int64
    let admittedThrough: Int64
    let active: Int
    let waiting: Int
    let admittedPerMinute: Int
    let estimatedWait: String

    /// The estimate is the one a waiting token is told (`WaitingRoom.estimatedWaitSeconds`), for
    /// the last in line, at the last minute's admission rate.
    init(_ room: ConsoleStore.WaitingRoomFigures) {
        concert = room.concertID
        admittedThrough = room.admittedThrough
        active = room.active
        waiting = room.waiting
        admittedPerMinute = room.admittedLastMinute
        if room.waiting == 0 {
            estimatedWait = "nobody waits"
        } else if room.admittedLastMinute == 0 {
            estimatedWait = "unknown: nobody was admitted in the last minute"
        } else {
            let seconds = WaitingRoom.estimatedWaitSeconds(position: Int64(room.waiting), admissionsPerSecond: Double(room.admittedLastMinute) / 60)
            estimatedWait = seconds < 120 ? "about \(seconds) s" : "about \(seconds / 60) min"
        }
    }
}

struct OutcomeRow {
    let type: String
    let outcome: String
    let lastFiveMinutes: Int
    let lastHour: Int

    init(_ count: ConsoleStore.OutcomeCount) {
        type = count.type
        outcome = count.outcome
        lastFiveMinutes = count.lastFiveMinutes
        lastHour = count.lastHour
    }
}

/// Commits per 10 s as an SVG polyline, 600 × 80, the peak 4 px below the top.
struct Graph {
    let width = 600
    let height = 80
    let points: String
    let last: Int
    let peak: Int
    let total: Int

    init(counts: [Int]) {
        let peak = max(counts.max() ?? 0, 1)
        let step = counts.count > 1 ? Double(width) / Double(counts.count - 1) : 0
        points = counts.enumerated().map { index, count in
            String(format: "%.1f,%.1f", Double(index) * step, 78 - Double(count) / Double(peak) * 74)
        }.joined(separator: " ")
        last = counts.last ?? 0
        self.peak = counts.max() ?? 0
        total = counts.reduce(0, +)
    }
}
