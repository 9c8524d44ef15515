import AMQPClient
import ConcertDomain
import ConcertPipeline
import ConcertWire
import Foundation
import Logging

/// How a worker sends a command it cannot apply to the dead letters: the original message with
/// why, where it came from and the partition, published with confirms to the dead-letter exchange.
struct WorkerDeadLetters: Sendable {
    let partition: Int
    let connection: AMQPConnection
    let metrics: WorkerMetrics
    let logger: Logger

    /// Sends a delivery — or, with `command`, only that command of the bundle it is, as a message of
    /// its own — to the dead-letter exchange with why; the delivery is then acknowledged with its
    /// batch. Returns false when that was not possible (the batch must then not be acknowledged).
    func send(_ delivery: AMQPDelivery, command: BatchStateMachine.BundledCommand?, reason: String) async -> Bool {
        var properties = delivery.properties
        var body = delivery.body
        if let command {
            properties.headers["x-concert-bundle"] = properties.messageId.map { .string($0) } ?? .string("")
            properties.messageId = command.messageID
            properties.type = command.type
            properties.contentType = "application/json"
            body = command.body
        }
        properties.headers["x-concert-reason"] = .string(reason)
        properties.headers["x-concert-original-exchange"] = .string(delivery.exchange)
        properties.headers["x-concert-original-routing-key"] = .string(delivery.routingKey)
        properties.headers["x-concert-partition"] = .int(Int64(partition))
        if properties.messageId == nil { properties.messageId = UUID().lowercasedString }
        do {
            try await connection.publish(
                exchange: PipelineTopology.deadLetterExchange,
                routingKey: delivery.routingKey,
                body: body,
                properties: properties,
                mandatory: true
            )
            logger.warning("command dead-lettered", metadata: ["reason": "\(reason)", "message.id": "\(properties.messageId ?? "")"])
            metrics.deadLettered(type: properties.type)
            return true
        } catch {
            logger.error("could not dead-letter a command; requeueing the batch", metadata: ["error": "\(error)"])
            return false
        }
    }
}
