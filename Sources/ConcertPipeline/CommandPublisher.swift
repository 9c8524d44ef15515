public import AMQPClient
public import ConcertDomain
import ConcertStorage
import ConcertWire
import Foundation
import Metrics
import Tracing

/// Puts command envelopes on the wire: to their partition, persistent, confirmed.
public struct CommandPublisher: Sendable {
    public let connection: AMQPConnection
    let partitions: Int
    private let published: [CommandType: Counter]

    public init(connection: AMQPConnection, partitions: Int) {
        self.connection = connection
        self.partitions = partitions
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
        var properties = envelope.messageProperties
        properties.replyTo = replyTo
        try await send(envelope, exchange: PipelineTopology.commandsExchange, schedule: schedule, properties: properties)
        published[envelope.command.type]?.increment()
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
