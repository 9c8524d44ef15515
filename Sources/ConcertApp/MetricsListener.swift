import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// `concert worker`'s HTTP side when `CONCERT_METRICS_PORT` is set: `GET /metrics` (the process's
/// registry, as the API serves it) and `GET /health/live`, so Prometheus can scrape a process
/// that has no API. Nothing else answers there.
enum MetricsListener {
    static func make(host: String, port: Int, registry: PrometheusCollectorRegistry, logger: Logger) -> some Service {
        let router = Router()
        router.get("/health/live") { _, _ -> HTTPResponse.Status in .ok }
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "concert-worker"),
            logger: logger
        )
    }
}
