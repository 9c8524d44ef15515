public import Foundation

/// What one load run observed, request by request (indices are those of `LoadPlan.requests`).
public struct LoadRun: Sendable {
    /// The answer's status per request; `0` never sent, `-1` failed (timeout or connection lost).
    public let statuses: [Int16]
    /// When each request fell due, in nanoseconds from the start.
    public let dueNanos: [UInt64]
    /// When each answer was complete, in nanoseconds from the start.
    public let doneNanos: [UInt64]
    /// Bodies kept by `LoadPlan.captureBody`.
    public let bodies: [Int: [UInt8]]
    /// The wall-clock time of the start (to compare with timestamps the database wrote).
    public let startedAt: Date
    /// Start to last answer.
    public let elapsed: Duration
    /// CPU the generator's process used during the run.
    public let generatorCPU: Duration

    public init(
        statuses: [Int16],
        dueNanos: [UInt64],
        doneNanos: [UInt64],
        bodies: [Int: [UInt8]],
        startedAt: Date,
        elapsed: Duration,
        generatorCPU: Duration
    ) {
        self.statuses = statuses
        self.dueNanos = dueNanos
        self.doneNanos = doneNanos
        self.bodies = bodies
        self.startedAt = startedAt
        self.elapsed = elapsed
        self.generatorCPU = generatorCPU
    }

    /// Indices of the requests that were sent.
    public var sentIndices: [Int] { statuses.indices.filter { statuses[$0] != 0 } }

    /// How many were sent.
    public var sent: Int { statuses.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }

    /// How many answers had each status (`-1` = failed).
    public var statusCounts: [Int: Int] {
        var counts: [Int: Int] = [:]
        for status in statuses where status != 0 { counts[Int(status), default: 0] += 1 }
        return counts
    }

    /// How many answers were 2xx.
    public var successes: Int { statuses.reduce(0) { $0 + ((200..<300).contains($1) ? 1 : 0) } }

    /// Answers per second, first due to last answer.
    public var answeredPerSecond: Double { Double(sent) / elapsed.seconds }

    /// Latency of every answered request (due → answer).
    public var latencies: LatencySummary {
        var summary = LatencySummary()
        for index in statuses.indices where statuses[index] > 0 {
            summary.record(nanoseconds: doneNanos[index] &- dueNanos[index])
        }
        return summary
    }

    /// The wall-clock time request `index` fell due.
    public func dueDate(_ index: Int) -> Date {
        startedAt.addingTimeInterval(Double(dueNanos[index]) / 1e9)
    }

    /// Answers per time bucket, for the throughput picture.
    public func timeline(bucket: Duration = .milliseconds(250)) -> Timeline {
        var timeline = Timeline(bucket: bucket)
        for index in statuses.indices where statuses[index] != 0 { timeline.add(atNanos: doneNanos[index]) }
        return timeline
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// The duration in milliseconds, as a `Double`.
    public var milliseconds: Double { seconds * 1000 }
}
