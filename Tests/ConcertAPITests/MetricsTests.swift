import ConcertAPI
import ConcertPipeline
import ConcertWorkers
import CoreMetrics
import Foundation
import Hummingbird
import HummingbirdTesting
import Prometheus
import TestSupport
import Testing

@Suite(.enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct MetricsTests {
    /// `MetricsSystem.bootstrap` may run once per process: only this suite does it.
    static let bootstrapped: Void = MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: APIHarness.metricsRegistry))

    @Test func metricsShowRequestsCommandsAndAdmission() async throws {
        // The process-wide metrics system records into the registry the harness's /metrics serves.
        _ = Self.bootstrapped
        try await APIHarness.withAPI(pipeline: .init()) { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.queue()
            try await harness.admit()
            let dates = try await alice.send(.get, "/v1/concerts/1/dates").json()
            guard case .array(let days)? = dates["dates"], let date = days.first?["date"]?.string else { throw TestFailure("no dates") }
            #expect(try await alice.reserve(seat: 9, date: date).status == .created)
            #expect(try await alice.reserve(seat: 9, date: date).status == .conflict)

            await QueueDepthMonitor(connection: harness.broker, topology: PipelineTopology(partitions: 2), logger: DatabaseEnvironment.logger)
                .sample()
            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            let text = String(buffer: response.body)
            #expect(text.contains(#"concert_commands_published_total{type="ReserveSeat"}"#))
            #expect(text.contains(#"concert_commands_applied_total{type="ReserveSeat",outcome="succeeded"}"#))
            #expect(text.contains(#"concert_commands_failed_total{type="ReserveSeat",code="SEAT_UNAVAILABLE"}"#))
            #expect(text.contains("concert_command_latency_seconds"))
            #expect(text.contains("concert_worker_batch_size"))
            #expect(text.contains("hb_requests"))
            #expect(text.contains(#"concert_queue_ready_messages{queue="concert.commands.p0"}"#))
        }
    }
}
