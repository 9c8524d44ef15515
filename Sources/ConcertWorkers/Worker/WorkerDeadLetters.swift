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

    /// Sends a delivery to the dead-letter exchange with why; it is then acknowledged with its batch.
    /// Returns false when that was not possible (the batch must then not be acknowledged).
    func send(_ delivery: AMQPDelivery, reason: String) async -> Bool {
        var properties = delivery.properties
        properties.headers["x-concert-reason"] = .string(reason)
        properties.headers["x-concert-original-exchange"] = .string(delivery.exchange)
        properties.headers["x-concert-original-routing-key"] = .string(delivery.routingKey)
        properties.headers["x-concert-partition"] = .int(Int64(partition))
        if properties.messageId == nil { properties.messageId = UUID().lowercasedString }
        do {
            try await connection.publish(
                exchange: PipelineTopology.deadLetterExchange,
                routingKey: delivery.routingKey,
                body: delivery.body,
                properties: properties,
                mandatory: true
            )
            logger.warning("command dead-lettered", metadata: ["reason": "\(reason)", "message.id": "\(properties.messageId ?? "")"])
            metrics.deadLettered(type: delivery.properties.type)
            return true
        } catch {
            logger.error("could not dead-letter a command; requeueing the batch", metadata: ["error": "\(error)"])
            return false
        }
    }
}
