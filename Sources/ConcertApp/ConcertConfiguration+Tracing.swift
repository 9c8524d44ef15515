import ConcertPipeline
import Foundation
public import Logging
import OTel
public import ServiceLifecycle
import Tracing

extension ConcertConfiguration {
    /// `CONCERT_OTEL_ENDPOINT`: an `http(s)://host[:port]` URL, the OTLP/HTTP receiver's base
    /// (spans go to its `/v1/traces`); nil when unset, a problem when malformed.
    static func otelEndpoint(in environment: [String: String], problem: (String, String) -> Void) -> String? {
        guard let text = environment["CONCERT_OTEL_ENDPOINT"], !text.isEmpty else { return nil }
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false else {
            problem("CONCERT_OTEL_ENDPOINT", "must be the http(s) URL of an OTLP/HTTP receiver, e.g. http://127.0.0.1:4318, got '\(text)'")
            return nil
        }
        return text
    }

    /// Whether this process exports spans: `CONCERT_OTEL_ENDPOINT`, or OpenTelemetry's own
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_TRACES_EXPORTER`
    /// (not `none`), unless `OTEL_SDK_DISABLED=true`.
    public static func tracingRequested(_ environment: [String: String]) -> Bool {
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return false }
        if let exporter = environment["OTEL_TRACES_EXPORTER"], !exporter.isEmpty { return exporter.lowercased() != "none" }
        return ["CONCERT_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].contains {
            environment[$0].map { !$0.isEmpty } ?? false
        }
    }

    /// Starts exporting spans when `environment` asks for it (`tracingRequested`): bootstraps the
    /// tracer (OTLP/HTTP with protobuf, batched; sampler, batch sizes and headers from the standard
    /// `OTEL_*` variables; service name `concert-<kind>` unless `OTEL_SERVICE_NAME` says otherwise)
    /// and switches the command tracing on. Returns the exporter's service, to run in the
    /// process's group (it sends what is left at shutdown); nil when tracing is off — then no
    /// tracer, middleware or header costs anything. Call once per process, before building its services.
    public func startTracing(processKind: String, environment: [String: String]) throws -> (any Service)? {
        guard Self.tracingRequested(environment) else { return nil }
        var otel = OTel.Configuration.default
        otel.serviceName = "concert-\(processKind)"
        otel.logs.enabled = false
        otel.metrics.enabled = false
        otel.diagnosticLogLevel = .warning
        var environment = environment
        if let otelEndpoint, environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == nil {
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = otelEndpoint
        }
        let service = try OTel.bootstrap(configuration: otel, environment: environment)
        CommandTracing.enable()
        return service
    }
}

extension ConcertConfiguration {
    /// When tracing is requested: adds the current span's `trace_id` and `span_id` to every log line.
    public static func traceLogMetadata(_ environment: [String: String]) -> Logger.MetadataProvider? {
        tracingRequested(environment) ? OTel.makeLoggingMetadataProvider() : nil
    }
}

extension ConcertConfiguration {
    /// A one-shot command (`concert catalogue import`) as one trace when tracing is requested:
    /// `body` runs in a root span named `operation`, so the commands it publishes carry it to the
    /// workers, and its spans are exported before this returns.
    public func traced<Result: Sendable>(
        processKind: String,
        operation: String,
        environment: [String: String],
        logger: Logger,
        _ body: () async throws -> Result
    ) async throws -> Result {
        guard let exporter = try startTracing(processKind: processKind, environment: environment) else { return try await body() }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [.init(service: exporter)], logger: logger))
        async let exporting: Void = group.run()
        let outcome: Swift.Result<Result, any Error>
        do {
            outcome = .success(try await withSpan(operation) { _ in try await body() })
        } catch {
            outcome = .failure(error)
        }
        await group.triggerGracefulShutdown()
        try await exporting
        return try outcome.get()
    }
}
