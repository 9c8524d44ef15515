import ConcertStorage
import Hummingbird
import Metrics
import Prometheus

extension Router {
    /// `GET /metrics`: every swift-metrics figure of the process in Prometheus text format
    /// (requests and their latency from Hummingbird's `MetricsMiddleware`, commands, batches,
    /// admission), from the registry the process bootstrapped the metrics system with.
    /// With `readiness`, each scrape first asks what `/health/ready` asks and records it as
    /// `concert_dependency_up{dependency="database"|"broker"}` (1 up, 0 down; not while starting).
    func addMetricsRoute(_ registry: PrometheusCollectorRegistry, readiness: ReadinessChecks? = nil) {
        get("/metrics") { _, _ -> Response in
            if let readiness { await readiness.recordDependencies() }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
    }
}

extension ReadinessChecks {
    /// Records whether the database and the broker answer now, as `/health/ready` sees them.
    func recordDependencies() async {
        guard startup() == nil else { return }
        async let databaseState = databaseState()
        async let brokerUp = broker()
        let (database, broker) = await (databaseState, brokerUp)
        Gauge(label: "concert_dependency_up", dimensions: [("dependency", "database")]).record(database == .up ? 1 : 0)
        Gauge(label: "concert_dependency_up", dimensions: [("dependency", "broker")]).record(broker ? 1 : 0)
    }
}
