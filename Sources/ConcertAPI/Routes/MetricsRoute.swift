import Hummingbird
import Prometheus

extension Router {
    /// `GET /metrics`: every swift-metrics figure of the process in Prometheus text format
    /// (requests and their latency from Hummingbird's `MetricsMiddleware`, commands, batches,
    /// admission), from the registry the process bootstrapped the metrics system with.
    func addMetricsRoute(_ registry: PrometheusCollectorRegistry) {
        get("/metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
    }
}
