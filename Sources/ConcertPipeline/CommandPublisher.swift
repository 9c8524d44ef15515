public import AMQPClient
public import ConcertDomain
import Foundation

/// Puts command envelopes on the wire: to their partition, persistent, confirmed.
public struct CommandPublisher: Sendable {
    let connection: AMQPConnection
    let partitions: Int

    public init(connection: AMQPConnection, partitions: Int) {
        self.connection = connection
        self.partitions = partitions
    }

    /// The partition of a schedule.
    public func partition(of schedule: ScheduleKey) -> Int {
        schedule.partition(of: partitions)
    }

    /// Publishes `envelope` to the partition of `schedule` and returns once the broker confirmed it.
    public func publish(_ envelope: CommandEnvelope, schedule: ScheduleKey) async throws {
        try await connection.publish(
            exchange: PipelineTopology.commandsExchange,
            routingKey: PipelineTopology.partitionRoutingKey(partition(of: schedule)),
            body: envelope.encoded(),
            properties: envelope.messageProperties,
            mandatory: true
        )
        PipelineMetrics.published(envelope.command.type)
    }

    /// Publishes an `ExpireHold` to the hold delay queue; it reaches the partition after the hold length.
    public func publishExpiry(_ envelope: CommandEnvelope, schedule: ScheduleKey) async throws {
        try await connection.publish(
            exchange: PipelineTopology.delayExchange,
            routingKey: PipelineTopology.partitionRoutingKey(partition(of: schedule)),
            body: envelope.encoded(),
            properties: envelope.messageProperties,
            mandatory: true
        )
    }
}

extension CommandEnvelope {
    /// `message_id` = id, `type`, `content_type`, `timestamp`, persistent.
    var messageProperties: AMQPMessageProperties {
        AMQPMessageProperties(
            contentType: "application/json",
            persistent: true,
            messageId: id.uuidString.lowercased(),
            type: command.type.rawValue,
            timestamp: UInt64(max(0, submittedAt.timeIntervalSince1970))
        )
    }
}
