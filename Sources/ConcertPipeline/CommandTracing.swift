public import AMQPClient
public import Foundation
import Synchronization
public import Tracing

/// One command followed across the broker: the W3C trace context (`traceparent`, `tracestate`)
/// travels in a command message's headers, with the time it was sent (`x-concert-sent-at`, Unix
/// milliseconds) so the worker can tell how long it waited in its queue.
///
/// Off until the process bootstraps an exporter (`CONCERT_OTEL_ENDPOINT`): every call site asks
/// `isEnabled` first — one relaxed atomic load — and does nothing more when it is off. When on,
/// only a sampled (recording) span puts its context on a message, so a command the sampler left
/// out costs the worker one header lookup.
public enum CommandTracing {
    private static let switchedOn = Atomic<Bool>(false)

    /// Whether this process exports spans.
    @inline(__always)
    public static var isEnabled: Bool { switchedOn.load(ordering: .relaxed) }

    /// Called once, after the tracer was bootstrapped.
    public static func enable() { switchedOn.store(true, ordering: .relaxed) }

    /// The header that says when a traced command was sent.
    public static let sentAtHeader = "x-concert-sent-at"

    /// The `messaging.system` of every messaging span.
    public static let messagingSystem = "rabbitmq"

    /// Puts `span`'s context on a message's headers when the span records.
    static func inject(_ span: any Span, into headers: inout AMQPTable, now: Date = Date()) {
        guard span.isRecording else { return }
        InstrumentationSystem.instrument.inject(span.context, into: &headers, using: AMQPHeaders())
        headers[sentAtHeader] = .int(Int64(now.timeIntervalSince1970 * 1000))
    }

    /// The trace context a delivery carries, with the milliseconds it waited since it was sent;
    /// nil when it carries none.
    public static func origin(of delivery: AMQPDelivery, now: Date = Date()) -> (context: InstrumentationContext, queueWaitMilliseconds: Int64?)? {
        guard delivery.properties.headers["traceparent"] != nil else { return nil }
        var context = InstrumentationContext.topLevel
        InstrumentationSystem.instrument.extract(delivery.properties.headers, into: &context, using: AMQPHeaders())
        let wait = delivery.properties.headers[sentAtHeader]?.intValue.map { max(0, Int64(now.timeIntervalSince1970 * 1000) - $0) }
        return (context, wait)
    }

    /// The messaging attributes of a span about one message (OpenTelemetry's messaging conventions).
    public static func describe(
        _ span: any Span,
        operation: String,
        type: String,
        destination: String,
        routingKey: String? = nil,
        messageID: String? = nil
    ) {
        span.updateAttributes { attributes in
            attributes["messaging.system"] = messagingSystem
            attributes["messaging.operation.type"] = type
            attributes["messaging.operation.name"] = operation
            attributes["messaging.destination.name"] = destination
            if let routingKey { attributes["messaging.rabbitmq.destination.routing_key"] = routingKey }
            if let messageID { attributes["messaging.message.id"] = messageID }
        }
    }
}

/// Reads and writes trace context in AMQP message headers (string values).
struct AMQPHeaders: Injector, Extractor {
    func inject(_ value: String, forKey key: String, into carrier: inout AMQPTable) {
        carrier[key] = .string(value)
    }

    func extract(key: String, from carrier: AMQPTable) -> String? {
        carrier[key]?.stringValue
    }
}
