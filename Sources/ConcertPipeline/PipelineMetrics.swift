import ConcertDomain
import Foundation
import Metrics

/// The pipeline's figures, through swift-metrics (Prometheus in `concert serve`, `/metrics`).
enum PipelineMetrics {
    /// A command took effect or was refused; its latency from submission to commit.
    static func applied(_ type: CommandType, failure: FailureCode?, submittedAt: Date, committedAt: Date) {
        let outcome = failure == nil ? "succeeded" : "failed"
        Counter(label: "concert_commands_applied_total", dimensions: [("type", type.rawValue), ("outcome", outcome)]).increment()
        if let failure {
            Counter(label: "concert_commands_failed_total", dimensions: [("type", type.rawValue), ("code", failure.rawValue)]).increment()
        }
        let latency = max(0, committedAt.timeIntervalSince(submittedAt))
        Metrics.Timer(label: "concert_command_latency_seconds", dimensions: [("type", type.rawValue)], preferredDisplayUnit: .seconds)
            .recordNanoseconds(Int64(latency * 1e9))
    }

    /// A message went to the dead letters.
    static func deadLettered(type: String?, partition: Int) {
        Counter(
            label: "concert_commands_dead_lettered_total",
            dimensions: [("type", type ?? "unknown"), ("partition", String(partition))]
        ).increment()
    }

    /// A batch was committed.
    static func batch(size: Int, partition: Int) {
        Recorder(label: "concert_worker_batch_size", dimensions: [("partition", String(partition))], aggregate: true).record(size)
    }

    /// A command was accepted and published.
    static func published(_ type: CommandType) {
        Counter(label: "concert_commands_published_total", dimensions: [("type", type.rawValue)]).increment()
    }

    /// One admission pass for one concert.
    static func admission(concert: ConcertID, admitted: Int, active: Int, waiting: Int) {
        let dimensions = [("concert", concert.description)]
        Counter(label: "concert_admitted_total", dimensions: dimensions).increment(by: admitted)
        Gauge(label: "concert_waiting_room_active", dimensions: dimensions).record(active)
        Gauge(label: "concert_waiting_room_waiting", dimensions: dimensions).record(waiting)
    }
}
