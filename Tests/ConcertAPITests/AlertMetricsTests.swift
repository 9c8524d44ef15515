import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWorkers
import CoreMetrics
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Prometheus
import TestSupport
import Testing

/// The figures the alert rules (`topology/alerts`) need beyond the pipeline's counters. In
/// `MetricsTests`, the one suite that bootstraps the metrics system.
extension MetricsTests {
    static func metricsText(_ client: any TestClientProtocol) async throws -> String {
        let response = try await client.execute(uri: "/metrics", method: .get)
        #expect(response.status == .ok)
        return String(buffer: response.body)
    }

    /// The value of the sample `series` (name and labels as printed) in `text`.
    static func value(of series: String, in text: String) -> Double? {
        text.split(separator: "\n").lazy.compactMap { line -> Double? in
            guard line.hasPrefix(series + " ") else { return nil }
            return Double(line.dropFirst(series.count + 1))
        }.first
    }

    @Test func eachScrapeRecordsWhatHealthReadySeesOfTheDependencies() async throws {
        _ = Self.bootstrapped
        let databaseDown: @Sendable (inout APIServices) -> Void = { $0.readiness = ReadinessChecks(database: { false }, broker: { true }) }
        try await APIHarness.withAPI(customize: databaseDown) { client, _ in
            let text = try await Self.metricsText(client)
            #expect(Self.value(of: #"concert_dependency_up{dependency="database"}"#, in: text) == 0)
            #expect(Self.value(of: #"concert_dependency_up{dependency="broker"}"#, in: text) == 1)
            let ready = try await client.execute(uri: "/health/ready", method: .get)
            #expect(ready.status == .serviceUnavailable)
        }
        try await APIHarness.withAPI { client, _ in
            let text = try await Self.metricsText(client)
            #expect(Self.value(of: #"concert_dependency_up{dependency="database"}"#, in: text) == 1)
        }
    }

    @Test func anOutcomeUnknownAnswerIsCountedByType() async throws {
        _ = Self.bootstrapped
        try await APIHarness.withAPI { client, _ in
            let series = #"concert_commands_outcome_unknown_total{type="Pay"}"#
            let before = try #require(Self.value(of: series, in: try await Self.metricsText(client)), "made at 0 before the first answer")
            let recorder = UnknownOutcomeRecorder(write: { _, _ in }, logger: DatabaseEnvironment.logger)
            let schedule = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate("2030-01-01")!)
            let envelope = CommandEnvelope(
                id: UUID(),
                userId: UserID("unsure")!,
                partitionKey: schedule.partitionKey,
                command: .pay(.init(reservationId: UUID())),
                submittedAt: Date()
            )
            await recorder.record(envelope, bound: 30)
            let after = try #require(Self.value(of: series, in: try await Self.metricsText(client)))
            #expect(after >= before + 1)
        }
    }

    @Test func theHoldSweeperReportsHoldsPastTheirDeadline() async throws {
        _ = Self.bootstrapped
        try await APIHarness.withAPI(pipeline: .init(holdSeconds: 1)) { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.queue()
            try await harness.admit()
            let date = try await PurchaseFlowTests.firstDate(alice)
            #expect(try await alice.reserve(seat: 5, date: date).status == .created)
            // Its expiry message lost, the hold outlives its deadline.
            try await eventually("the expiry is scheduled") {
                try await harness.broker.inspectQueue(PipelineTopology.holdDelayQueue).messageCount == 1
            }
            #expect(try await harness.broker.purgeQueue(PipelineTopology.holdDelayQueue) == 1)
            try await Task.sleep(for: .seconds(2.5))
            // A registry of its own: tests running meanwhile sweep too, into the process's gauge.
            let registry = PrometheusCollectorRegistry()
            let sweeper = HoldSweeper(
                reservations: ReservationStore(client: harness.client, logger: DatabaseEnvironment.logger),
                publisher: CommandPublisher(connection: harness.broker, partitions: 2),
                overdueHolds: Gauge(label: HoldSweeper.overdueHoldsMetric, factory: PrometheusMetricsFactory(registry: registry)),
                logger: DatabaseEnvironment.logger
            )
            #expect(try await sweeper.sweep() == 1)
            #expect(HoldSweeper.overdueHoldsMetric == "concert_holds_overdue", "the name the alert rules read")
            #expect(Self.value(of: "concert_holds_overdue", in: registry.emitToString()) == 1)
        }
    }
}
