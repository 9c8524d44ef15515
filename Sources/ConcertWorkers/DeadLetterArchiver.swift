public import AMQPClient
import ConcertPipeline
import ConcertStorage
import Foundation
public import Logging
public import PostgresNIO
public import ServiceLifecycle

/// Moves dead letters from `concert.dead-letters` into PostgreSQL, then acknowledges them.
///
/// It is the single active consumer of that queue, so running it in every process is safe. A
/// letter is acknowledged only after it is stored; while the database is down it stays in the queue.
public struct DeadLetterArchiver: Service {
    let connection: AMQPConnection
    let store: DeadLetterStore
    let logger: Logger

    public init(connection: AMQPConnection, database: PostgresClient, logger: Logger) {
        self.connection = connection
        self.store = DeadLetterStore(client: database, logger: logger)
        self.logger = logger
    }

    public func run() async throws {
        let loop = ConsumeLoop(connection: connection, queue: PipelineTopology.deadLetterQueue, prefetch: 50, logger: logger)
        await loop.run { context, batch in
            for delivery in batch {
                guard await archive(delivery, isStopping: context.isStopping) else { return }
                try context.consumer.ack(delivery)
            }
        }
    }

    /// Stores one dead letter, retrying with back-off while the database fails (unreachable,
    /// restarted, short of resources — whatever the error: a letter is never dropped). False when
    /// shutdown began first; the letter stays in the queue.
    static let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))

    func archive(_ delivery: AMQPDelivery, isStopping: @Sendable () -> Bool) async -> Bool {
        let arrival = Self.arrival(delivery, at: Date())
        var failures = 0
        while !isStopping() {
            do {
                try await store.archive(arrival)
                logger.info("dead letter archived", metadata: ["message.id": "\(arrival.messageId)", "reason": "\(arrival.reason)"])
                return true
            } catch {
                failures += 1
                let pause = Self.backoff.delay(afterFailures: failures)
                logger.warning(
                    "dead-letter archiver: not stored, retrying",
                    metadata: ["retry.in": "\(pause)", "error": "\(String(reflecting: error))"]
                )
                guard await Backoff.pause(pause, unless: isStopping) else { return false }
            }
        }
        return false
    }

    /// Where the letter came from and why, from our headers or, for the broker's own dead-lettering, `x-death`.
    static func arrival(_ delivery: AMQPDelivery, at time: Date) -> DeadLetterStore.Arrival {
        let headers = delivery.properties.headers
        let death = delivery.deaths.first
        let reason = headers["x-concert-reason"]?.stringValue ?? death?.reason ?? "unknown"
        let exchange = headers["x-concert-original-exchange"]?.stringValue ?? death?.exchange ?? delivery.exchange
        let routingKey = headers["x-concert-original-routing-key"]?.stringValue ?? death?.routingKeys.first ?? delivery.routingKey
        // Without a message id, the body identifies the letter (the same bytes count as the same letter).
        let messageId = delivery.properties.messageId ?? "body-\(Self.fingerprint(delivery.body))"
        return DeadLetterStore.Arrival(
            messageId: AMQPFieldValue.storable(messageId),
            type: delivery.properties.type.map(AMQPFieldValue.storable),
            reason: AMQPFieldValue.storable(reason),
            exchange: AMQPFieldValue.storable(exchange),
            routingKey: AMQPFieldValue.storable(routingKey),
            body: delivery.body,
            headersJSON: headers.jsonText,
            at: time
        )
    }

    static func fingerprint(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
