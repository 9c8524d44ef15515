public import AMQPClient
public import ConcertDomain
import ConcertStorage
import ConcertWire
import Foundation
import Metrics
import Tracing

/// Puts command envelopes on the wire: to their partition, persistent, confirmed.
///
/// Commands of one partition (and reply queue) that are published while that partition's last
/// message still waits for its confirm leave together, as one `CommandBundle` message, when it
/// is confirmed (`PublishLanes`): under load the broker stores, delivers and settles one message
/// for many commands. Each caller still returns only once the message carrying its command is
/// confirmed. A command whose trace is sampled goes alone, its context in the message's headers.
public struct CommandPublisher: Sendable {
    public let connection: AMQPConnection
    let partitions: Int
    private let published: [CommandType: Counter]
    private let messages: Counter
    private let lanes: PublishLanes

    /// The most commands one bundle carries.
    public static let maxCommandsPerMessage = 64

    public init(connection: AMQPConnection, partitions: Int, maxCommandsPerMessage: Int = Self.maxCommandsPerMessage) {
        self.connection = connection
        self.partitions = partitions
        lanes = PublishLanes(maxCommands: maxCommandsPerMessage)
        messages = Counter(label: "concert_command_messages_published_total")
        published = Dictionary(
            uniqueKeysWithValues: CommandType.allCases.map {
                ($0, Counter(label: "concert_commands_published_total", dimensions: [("type", $0.rawValue)]))
            }
        )
    }

    /// The partition of a schedule.
    public func partition(of schedule: ScheduleKey) -> Int {
        schedule.partition(of: partitions)
    }

    /// Publishes `envelope` to the partition of `schedule` and returns once the broker confirmed it.
    /// With `replyTo`, the worker sends the outcome to that queue when it committed.
    ///
    /// Throws `DependencyUnavailable`: with `outcomeUnknown` when the connection or channel went
    /// away after the message was written (it may have been enqueued), without when nothing was
    /// sent or the broker refused it.
    public func publish(_ envelope: CommandEnvelope, schedule: ScheduleKey, replyTo: String? = nil) async throws {
        let routingKey = PipelineTopology.partitionRoutingKey(partition(of: schedule))
        let exchange = PipelineTopology.commandsExchange
        if CommandTracing.isEnabled {
            // A sampled command goes alone, inside its producer span; one the sampler left out takes its lane.
            let span = startSpan("publish \(exchange)", ofKind: .producer)
            if span.isRecording {
                defer { span.end() }
                var properties = envelope.messageProperties
                properties.replyTo = replyTo
                do {
                    try await send(traced: envelope, in: span, exchange: exchange, routingKey: routingKey, properties: properties)
                } catch {
                    span.recordError(error)
                    throw error
                }
                published[envelope.command.type]?.increment()
                messages.increment()
                return
            }
            span.end()
        }
        try await lanes.publish(envelope, on: .init(routingKey: routingKey, replyTo: replyTo)) { envelopes in
            try await send(envelopes, exchange: exchange, routingKey: routingKey, replyTo: replyTo)
        }
        published[envelope.command.type]?.increment()
    }

    /// One message for `envelopes`: the envelope itself when alone, a bundle when several.
    private func send(_ envelopes: [CommandEnvelope], exchange: String, routingKey: String, replyTo: String?) async throws {
        var properties: AMQPMessageProperties
        let body: [UInt8]
        if envelopes.count == 1 {
            properties = envelopes[0].messageProperties
            body = envelopes[0].encoded()
        } else {
            properties = AMQPMessageProperties(
                contentType: CommandBundle.contentType,
                persistent: true,
                messageId: UUID().lowercasedString,
                type: CommandBundle.messageType,
                timestamp: UInt64(max(0, envelopes[0].submittedAt.timeIntervalSince1970))
            )
            body = CommandBundle.body(envelopes.lazy.map { $0.encoded() })
        }
        properties.replyTo = replyTo
        try await send(body, exchange: exchange, routingKey: routingKey, properties: properties)
        messages.increment()
    }

    /// Publishes an `ExpireHold` to the hold delay queue; it reaches the partition after the hold length.
    public func publishExpiry(_ envelope: CommandEnvelope, schedule: ScheduleKey) async throws {
        try await send(envelope, exchange: PipelineTopology.delayExchange, schedule: schedule, properties: envelope.messageProperties)
    }

    /// Publishes with confirms, inside a producer span when tracing is on (the span ends with the
    /// confirm and carries its context to the worker).
    ///
    /// Throws `DependencyUnavailable`: with `outcomeUnknown` when the connection or channel went
    /// away after the message was written (it may have been enqueued), without when nothing was
    /// sent or the broker refused it.
    private func send(_ envelope: CommandEnvelope, exchange: String, schedule: ScheduleKey, properties: AMQPMessageProperties) async throws {
        let routingKey = PipelineTopology.partitionRoutingKey(partition(of: schedule))
        guard CommandTracing.isEnabled else {
            return try await send(envelope.encoded(), exchange: exchange, routingKey: routingKey, properties: properties)
        }
        try await withSpan("publish \(exchange)", ofKind: .producer) { span in
            try await send(traced: envelope, in: span, exchange: exchange, routingKey: routingKey, properties: properties)
        }
    }

    /// Sends `envelope` alone with `span`'s context in its headers; the span ends with the confirm.
    private func send(
        traced envelope: CommandEnvelope,
        in span: any Span,
        exchange: String,
        routingKey: String,
        properties: AMQPMessageProperties
    ) async throws {
        CommandTracing.describe(
            span,
            operation: "publish",
            type: "send",
            destination: exchange,
            routingKey: routingKey,
            messageID: properties.messageId
        )
        span.attributes["concert.command.type"] = envelope.command.type.rawValue
        var properties = properties
        CommandTracing.inject(span, into: &properties.headers)
        try await send(envelope.encoded(), exchange: exchange, routingKey: routingKey, properties: properties)
    }

    private func send(_ body: [UInt8], exchange: String, routingKey: String, properties: AMQPMessageProperties) async throws {
        do {
            try await connection.publish(exchange: exchange, routingKey: routingKey, body: body, properties: properties, mandatory: true)
        } catch let error as AMQPError {
            let unknown = error.kind == .connectionLost || error.kind == .channelClosed || error.kind == .confirmTimeout
            throw DependencyUnavailable(.broker, outcomeUnknown: unknown, underlying: error.description)
        }
    }
}

extension CommandEnvelope {
    /// `message_id` = id, `type`, `content_type`, `timestamp`, persistent.
    var messageProperties: AMQPMessageProperties {
        AMQPMessageProperties(
            contentType: "application/json",
            persistent: true,
            messageId: id.lowercasedString,
            type: command.type.rawValue,
            timestamp: UInt64(max(0, submittedAt.timeIntervalSince1970))
        )
    }
}
