import AMQPClient
import ConcertPipeline
import Foundation
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

/// The alert rules and the dashboard of `topology/` in a real Prometheus, scraping the API (live
/// on a port), a `concert worker` process (`CONCERT_METRICS_PORT`) and RabbitMQ's Prometheus
/// endpoint for this test's virtual host, every second. `scripts/test` runs it on its own, after
/// the parallel suites: it stops the workers.
@Suite(.serialized, .enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured && PrometheusServer.isAvailableOrRequired))
struct DisruptiveAlertTests {
    static let partitions = 2
    /// The `for:` every rule gets in the test's copy (the real ones are minutes).
    static let testFor = Duration.seconds(5)
    /// ConcertPartitionStalled's window: a worker's last commits count for this long after it stopped.
    static let stalledWindow = Duration.seconds(60)

    /// The real rule files, with only their `for:` durations shortened to `testFor`.
    static func rulesWithShortFor() throws -> String {
        let rules = try String(contentsOf: APIHarness.root.appendingPathComponent("topology/alerts/concert.rules.yml"), encoding: .utf8)
        let shortened = rules.replacingOccurrences(of: #"(?m)^(\s+for: )\S+$"#, with: "$1\(testFor.components.seconds)s", options: .regularExpression)
        #expect(shortened != rules, "the rules have `for:` durations to shorten")
        return shortened
    }

    /// Every PromQL expression of the Grafana dashboard, by panel title.
    static func dashboardExpressions() throws -> [(panel: String, expression: String)] {
        let data = try Data(contentsOf: APIHarness.root.appendingPathComponent("topology/dashboards/concert.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        return panels.flatMap { panel in
            ((panel["targets"] as? [[String: Any]]) ?? []).compactMap { target in
                (target["expr"] as? String).map { (panel["title"] as? String ?? "?", $0) }
            }
        }
    }

    static func configuration(apiPort: Int, workerPort: Int, virtualHost: String) -> String {
        let rabbit = URL(string: ProcessInfo.processInfo.environment["CONCERT_RABBITMQ_PROMETHEUS_URL"] ?? "http://127.0.0.1:15692")
        let rabbitTarget = "\(rabbit?.host ?? "127.0.0.1"):\(rabbit?.port ?? 15692)"
        return """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files:
            RULES
            scrape_configs:
              - job_name: concert-api
                static_configs: [{ targets: ["localhost:\(apiPort)"] }]
              - job_name: concert-worker
                static_configs: [{ targets: ["127.0.0.1:\(workerPort)"] }]
              - job_name: rabbitmq
                metrics_path: /metrics/detailed
                params:
                  vhost: ["\(virtualHost)"]
                  family: [queue_coarse_metrics, queue_consumer_count]
                static_configs: [{ targets: ["\(rabbitTarget)"] }]
            """
    }

    static func startWorker(_ harness: APIHarness, metricsPort: Int, name: String) async throws -> SpawnedProcess {
        var environment = harness.childEnvironment(partitions: partitions)
        environment["CONCERT_METRICS_PORT"] = String(metricsPort)
        environment["CONCERT_HTTP_HOST"] = "127.0.0.1"
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("concert-\(name)-\(UUID().uuidString.prefix(6)).log")
        return try await SpawnedProcess(
            APIHarness.root.appendingPathComponent(".build/debug/concert").path,
            ["worker"],
            environment: environment,
            log: log
        )
    }

    /// Polls the firing alerts every half second until `condition` holds of them; how long that took.
    static func untilAlerts(
        _ prometheus: PrometheusServer,
        within timeout: Duration,
        _ what: String,
        _ condition: ([[String: String]]) -> Bool
    ) async throws -> Duration {
        let start = ContinuousClock.now
        try await eventually(timeout: timeout, what) {
            let holds = condition(try await prometheus.firingAlerts())
            if !holds { try await Task.sleep(for: .milliseconds(450)) }
            return holds
        }
        return ContinuousClock.now - start
    }

    static func firing(_ name: String) -> ([[String: String]]) -> Bool {
        { alerts in alerts.contains { $0["alertname"] == name } }
    }

    @Test func stoppingTheWorkersUnderLoadFiresTheBacklogAlertAndStartingThemResolvesIt() async throws {
        _ = MetricsTests.bootstrapped
        let rules = try Self.rulesWithShortFor()
        let expressions = try Self.dashboardExpressions()
        try await APIHarness.withAPI(pipeline: .init(partitions: Self.partitions, inProcessWorkers: false), testing: .live) { client, harness in
            let apiPort = try #require(client.port)
            let workerPort = try freeLocalPort()
            let workers = Locked([try await Self.startWorker(harness, metricsPort: workerPort, name: "alerts-first")])
            let stopLoad = Locked(false)
            var prometheus: PrometheusServer?
            var load: Task<Int, Never>?
            do {
                prometheus = try await PrometheusServer.start(
                    configuration: Self.configuration(apiPort: apiPort, workerPort: workerPort, virtualHost: harness.amqp.virtualHost),
                    rules: ["concert.rules.yml": rules]
                )
                let (buyers, dates) = try await DisruptivePipelineTests.buyers(client, harness, count: 8)
                // Reservations at about 20/s (seats collide, so many fail: each is a command all
                // the same) until stopped, for at most five minutes.
                load = Task { () -> Int in
                    var sent = 0
                    let deadline = ContinuousClock.now + .seconds(300)
                    while !stopLoad.withLock({ $0 }), ContinuousClock.now < deadline {
                        let body = #"{"concertId":1,"date":"\#(dates[sent % dates.count])","seatNumber":\#(sent % 50 + 1)}"#
                        _ = try? await buyers[sent % buyers.count].send(.post, "/v1/reservations", body)
                        sent += 1
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                    return sent
                }
                try await Self.scenario(
                    try #require(prometheus),
                    harness: harness,
                    workers: workers,
                    workerPort: workerPort,
                    expressions: expressions
                )
            } catch {
                stopLoad.withLock { $0 = true }
                _ = await load?.value
                await prometheus?.stop()
                for worker in workers.withLock({ $0 }) { _ = await worker.stop() }
                throw error
            }
            stopLoad.withLock { $0 = true }
            let sent = await load?.value ?? 0
            #expect(sent > 0)
            await prometheus?.stop()
            for worker in workers.withLock({ $0 }) where worker.isRunning { #expect(await worker.stop() == 0) }
        }
    }

    /// Under load: every target up, every dashboard expression answered; the worker stops → the
    /// backlog alert fires; a worker starts → it resolves.
    static func scenario(
        _ prometheus: PrometheusServer,
        harness: APIHarness,
        workers: Locked<[SpawnedProcess]>,
        workerPort: Int,
        expressions: [(panel: String, expression: String)]
    ) async throws {
        try await eventually(timeout: .seconds(60), "Prometheus scrapes every target") {
            let targets = try await prometheus.targets()
            return targets.count == 3 && targets.allSatisfy { $0.health == "up" }
        }
        // While the system runs under load, every panel's expression returns a series.
        var empty = expressions
        do {
            try await eventually(timeout: .seconds(90), "every dashboard expression returns a series") {
                var still: [(panel: String, expression: String)] = []
                for item in empty where try await prometheus.query(item.expression).isEmpty { still.append(item) }
                empty = still
                if !empty.isEmpty { try await Task.sleep(for: .milliseconds(950)) }
                return empty.isEmpty
            }
        } catch is TimedOut {
            for item in empty { Issue.record("dashboard panel '\(item.panel)': no series for \(item.expression)") }
        }
        #expect(!firing("ConcertPartitionStalled")(try await prometheus.firingAlerts()))

        // The worker stops; commands keep coming.
        let first = try #require(workers.withLock { $0.first })
        #expect(await first.stop() == 0)
        let fired = try await untilAlerts(
            prometheus,
            within: stalledWindow + testFor + .seconds(40),
            "ConcertPartitionStalled fires",
            firing("ConcertPartitionStalled")
        )
        let alerts = try await prometheus.firingAlerts()
        let stalled = alerts.filter { $0["alertname"] == "ConcertPartitionStalled" }
        #expect(stalled.allSatisfy { $0["vhost"] == harness.amqp.virtualHost && $0["queue"] == "concert.commands.p\($0["partition"] ?? "?")" })
        #expect(firing("ConcertPartitionWithoutConsumer")(alerts))

        // A worker starts again: the backlog drains and the alerts resolve.
        let second = try await startWorker(harness, metricsPort: workerPort, name: "alerts-second")
        workers.withLock { $0.append(second) }
        let resolved = try await untilAlerts(prometheus, within: .seconds(60), "ConcertPartitionStalled resolves") { alerts in
            !alerts.contains { ["ConcertPartitionStalled", "ConcertPartitionWithoutConsumer"].contains($0["alertname"]) }
        }
        print(
            "DisruptiveAlertTests: ConcertPartitionStalled fired \(fired) after the worker stopped (for: \(testFor) in the test's rules), resolved \(resolved) after one started"
        )
    }
}
