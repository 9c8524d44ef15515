import ConcertDomain
import ConcertPipeline
import Foundation
import Metrics

/// A partition worker's figures, through swift-metrics (Prometheus in `concert serve`, `/metrics`).
///
/// The handles are made once, when the worker is built (after the process bootstrapped its
/// metrics system): looking a metric up by label and dimensions on every command costs a lock
/// and a dictionary probe in the registry.
struct WorkerMetrics: Sendable {
    private let succeeded: [CommandType: Counter]
    private let failed: [CommandType: Counter]
    private let failures: [CommandType: [FailureCode: Counter]]
    private let latency: [CommandType: Metrics.Timer]
    private let batchSize: Recorder
    private let deadLetters: [String: Counter]
    private let abandonedDeliveries: Counter
    private let staleWrites: Counter
    private let unavailableAttempts: Counter
    private let partition: Int

    init(partition: Int) {
        self.partition = partition
        func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter { Counter(label: label, dimensions: dimensions) }
        var succeeded: [CommandType: Counter] = [:]
        var failed: [CommandType: Counter] = [:]
        var failures: [CommandType: [FailureCode: Counter]] = [:]
        var latency: [CommandType: Metrics.Timer] = [:]
        var deadLetters: [String: Counter] = [:]
        for type in CommandType.allCases {
            succeeded[type] = counter("concert_commands_applied_total", [("type", type.rawValue), ("outcome", "succeeded")])
            failed[type] = counter("concert_commands_applied_total", [("type", type.rawValue), ("outcome", "failed")])
            failures[type] = Dictionary(
                uniqueKeysWithValues: FailureCode.allCases.map {
                    ($0, counter("concert_commands_failed_total", [("type", type.rawValue), ("code", $0.rawValue)]))
                }
            )
            latency[type] = Metrics.Timer(
                label: "concert_command_latency_seconds",
                dimensions: [("type", type.rawValue)],
                preferredDisplayUnit: .seconds
            )
            deadLetters[type.rawValue] = counter("concert_commands_dead_lettered_total", [("type", type.rawValue), ("partition", String(partition))])
        }
        self.succeeded = succeeded
        self.failed = failed
        self.failures = failures
        self.latency = latency
        self.deadLetters = deadLetters
        batchSize = Recorder(label: "concert_worker_batch_size", dimensions: [("partition", String(partition))], aggregate: true)
        abandonedDeliveries = counter("concert_worker_abandoned_deliveries_total", [("partition", String(partition))])
        staleWrites = counter("concert_worker_stale_writes_total", [("partition", String(partition))])
        unavailableAttempts = counter("concert_worker_database_unavailable_total", [("partition", String(partition))])
    }

    /// Deliveries dropped unapplied because their channel closed (the broker delivers them again).
    func abandoned(_ count: Int) { abandonedDeliveries.increment(by: count) }

    /// Storage refused a batch's write as stale: another writer had changed the partition.
    func staleWriteRefused() { staleWrites.increment() }

    /// A batch attempt failed because the database did not answer (or gave no connection) in time.
    func databaseUnavailable() { unavailableAttempts.increment() }

    /// A batch committed: its outcomes and their latency from submission (to the second: the envelope's time).
    func committed(_ outcomes: [Outcome], elapsed: Duration) {
        let now = Date()
        for outcome in outcomes {
            let type = outcome.envelope.command.type
            if let failure = outcome.failure {
                failed[type]?.increment()
                failures[type]?[failure]?.increment()
            } else {
                succeeded[type]?.increment()
            }
            latency[type]?.recordNanoseconds(Int64(max(0, now.timeIntervalSince(outcome.envelope.submittedAt)) * 1e9))
        }
        batchSize.record(outcomes.count)
    }

    /// A message went to the dead letters.
    func deadLettered(type: String?) {
        if let counter = deadLetters[type ?? ""] {
            counter.increment()
        } else {
            Counter(label: "concert_commands_dead_lettered_total", dimensions: [("type", type ?? "unknown"), ("partition", String(partition))])
                .increment()
        }
    }
}

/// The admitter's figures (once a tick per concert: looked up each time).
enum AdmissionMetrics {
    static func admission(concert: ConcertID, admitted: Int, active: Int, waiting: Int) {
        let dimensions = [("concert", concert.description)]
        Counter(label: "concert_admitted_total", dimensions: dimensions).increment(by: admitted)
        Gauge(label: "concert_waiting_room_active", dimensions: dimensions).record(active)
        Gauge(label: "concert_waiting_room_waiting", dimensions: dimensions).record(waiting)
    }
}
