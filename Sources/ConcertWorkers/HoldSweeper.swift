import ConcertDomain
public import ConcertPipeline
public import ConcertStorage
import Foundation
public import Logging
public import Metrics
public import ServiceLifecycle

/// The safety net under hold expiry. Normally each hold ends through its expiry message (hold
/// delay queue → partition). That message can be lost: a worker that committed holds but could
/// not publish their expiry and still had its batch acknowledged, or a broker restart during which
/// the delay queue dead-letters expired messages before the partition queues are back (classic
/// queues dead-letter at most once). Every `interval` the sweeper looks for holds still live more
/// than `grace` past their deadline and sends their partitions an `ExpireHold` for them, straight
/// to the partition (no delay). It goes through the partition's worker like any command, so the
/// single-writer order holds; expiring a hold that was paid or expired meanwhile changes nothing,
/// and its id is derived from the holds, so a sweep repeated before the first one was applied is
/// recognised as the same command. Readers already count an overdue hold as free; the sweep makes
/// storage and the workers' seat maps agree with them.
public struct HoldSweeper: Service {
    let reservations: ReservationStore
    let publisher: CommandPublisher
    let interval: Duration
    let grace: Duration
    /// `concert_holds_overdue`: the overdue holds of the last pass.
    let overdueHolds: Gauge
    let logger: Logger

    /// The gauge the alert `ConcertHoldsOverdue` reads.
    public static let overdueHoldsMetric = "concert_holds_overdue"

    /// `overdueHolds` is where each pass reports what it found (the process's
    /// `concert_holds_overdue` unless a test keeps its own).
    public init(
        reservations: ReservationStore,
        publisher: CommandPublisher,
        interval: Duration = .seconds(5),
        grace: Duration = .seconds(1),
        overdueHolds: Gauge = Gauge(label: HoldSweeper.overdueHoldsMetric),
        logger: Logger
    ) {
        self.reservations = reservations
        self.publisher = publisher
        self.interval = interval
        self.grace = grace
        self.overdueHolds = overdueHolds
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled else { return }
                do {
                    let swept = try await sweep()
                    if swept > 0 { logger.warning("expired holds past their deadline whose expiry was lost", metadata: ["holds": "\(swept)"]) }
                } catch {
                    logger.debug("hold sweep failed; trying again later", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
        }
    }

    /// One sweep: returns how many holds it sent to be expired, also the gauge
    /// `concert_holds_overdue` (holds live more than `grace` past their deadline, at most `limit`).
    @discardableResult
    public func sweep(limit: Int = 2000) async throws -> Int {
        let overdue = try await reservations.overdueHolds(grace: grace, limit: limit)
        overdueHolds.record(overdue.count)
        let bySchedule = Dictionary(grouping: overdue, by: \.schedule).mapValues { $0.map(\.reservation) }
        // One command per partition, as the worker's own expiry messages are.
        let byPartition = Dictionary(grouping: bySchedule, by: { publisher.partition(of: $0.key) })
        for (_, schedules) in byPartition {
            guard let envelope = HoldExpiry.command(for: schedules.map { ($0.key, $0.value) }, at: Date()) else { continue }
            try await publisher.publish(envelope, schedule: schedules[0].key)
        }
        return overdue.count
    }
}
