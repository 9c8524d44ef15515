import Synchronization
import TestSupport
import Testing

@testable import AMQPClient

@Suite(.enabled(if: BrokerEnvironment.isConfigured))
struct PublishingTests {
    @Test func confirmedPublishArrivesWithItsProperties() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let queue = try await connection.declare(AMQPQueue(name: "", durable: false, exclusive: true, autoDelete: true)).name
            let properties = AMQPMessageProperties(
                contentType: "application/json",
                messageId: "m-42",
                type: "ReserveSeat",
                timestamp: 1_700_000_000,
                replyTo: "concert.replies.test",
                headers: ["partition": 3]
            )
            try await connection.publish(routingKey: queue, body: Array(#"{"seat":7}"#.utf8), properties: properties)

            let delivery = try #require(try await connection.get(queue: queue))
            #expect(delivery.body == Array(#"{"seat":7}"#.utf8))
            #expect(delivery.properties == properties)
            #expect(delivery.properties.persistent)
            #expect(delivery.routingKey == queue)
            #expect(!delivery.redelivered)
            try connection.ack(delivery)
            #expect(try await connection.get(queue: queue) == nil)
        }
    }

    /// A nacked publish replaces the publish channel (RabbitMQ 3.10 keeps refusing a quorum queue
    /// on a channel that first met it without a leader); publishing goes on on the new channel.
    @Test func aNackReplacesThePublishChannelAndPublishingGoesOn() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let full = BrokerEnvironment.uniqueName("full")
            try await connection.declare(
                AMQPQueue(name: full, durable: false, autoDelete: false, arguments: ["x-max-length": 1, "x-overflow": "reject-publish"])
            )
            try await connection.publish(routingKey: full, body: Array("first".utf8))
            let refused = await #expect(throws: AMQPError.self) {
                try await connection.publish(routingKey: full, body: Array("second".utf8))
            }
            #expect(refused?.kind == .nacked)
            // Confirms keep working, twice around the two publish channel numbers.
            for round in 0..<3 {
                try await connection.purgeQueue(full)
                try await connection.publish(routingKey: full, body: Array("again \(round)".utf8))
                await #expect(throws: AMQPError.self) { try await connection.publish(routingKey: full, body: Array("over".utf8)) }
            }
            #expect(try await connection.get(queue: full).map { String(decoding: $0.body, as: UTF8.self) } == "again 2")
            _ = try await connection.deleteQueue(full)
        }
    }

    @Test func hundredConcurrentPublishersDeliverEverythingOnceInPerPublisherOrder() async throws {
        let publishers = 100
        let perPublisher = 50
        try await BrokerEnvironment.withConnection { connection in
            let queue = BrokerEnvironment.uniqueName("fanin")
            try await connection.declare(AMQPQueue(name: queue, arguments: ["x-queue-type": "quorum"]))
            let consumer = try await connection.consume(queue: queue, prefetch: 500)
            let collector = DeliveryCollector(consumer, autoAck: true)

            try await withThrowingTaskGroup(of: Void.self) { group in
                for publisher in 0..<publishers {
                    group.addTask {
                        // Each publisher awaits its own confirms in order, as an API request would.
                        for sequence in 0..<perPublisher {
                            try await connection.publish(routingKey: queue, body: Array("\(publisher):\(sequence)".utf8))
                        }
                    }
                }
                try await group.waitForAll()
            }

            let deliveries = try await collector.waitFor(publishers * perPublisher)
            var lastSequence = [Int: Int]()
            var seen = Set<String>()
            for delivery in deliveries {
                let text = String(decoding: delivery.body, as: UTF8.self)
                #expect(seen.insert(text).inserted, "\(text) delivered twice")
                let parts = text.split(separator: ":").map { Int($0)! }
                #expect(parts[1] == (lastSequence[parts[0]] ?? -1) + 1, "publisher \(parts[0]) out of order")
                lastSequence[parts[0]] = parts[1]
            }
            #expect(seen.count == publishers * perPublisher)
            try await Task.sleep(for: .milliseconds(200))
            #expect(collector.count == publishers * perPublisher, "no extra deliveries")
            try await connection.deleteQueue(queue)
        }
    }

    @Test func unroutableMandatoryPublishThrowsAndOthersStillConfirm() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let exchange = BrokerEnvironment.uniqueName("nowhere")
            try await connection.declare(AMQPExchange(name: exchange, type: .direct, durable: false, autoDelete: false))

            let error = await #expect(throws: AMQPError.self) {
                try await connection.publish(exchange: exchange, routingKey: "no-queue", body: [1], mandatory: true)
            }
            #expect(error?.kind == .unroutable)
            #expect(error?.replyCode == 312)
            // Without `mandatory` an unroutable message is simply confirmed (and dropped) by the broker.
            try await connection.publish(exchange: exchange, routingKey: "no-queue", body: [2])
            try await connection.deleteExchange(exchange)
        }
    }

    @Test func aRefusedMessageIsNacked() async throws {
        try await BrokerEnvironment.withConnection { connection in
            // A full queue with reject-publish overflow makes the broker nack further publishes.
            let queue = try await connection.declare(
                AMQPQueue(
                    name: "",
                    durable: false,
                    exclusive: true,
                    autoDelete: true,
                    arguments: ["x-max-length": 1, "x-overflow": "reject-publish"]
                )
            ).name
            try await connection.publish(routingKey: queue, body: [1])
            let error = await #expect(throws: AMQPError.self) { try await connection.publish(routingKey: queue, body: [2]) }
            #expect(error?.kind == .nacked)
        }
    }

    @Test func publishingToAMissingExchangeFailsAndTheChannelRecovers() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let error = await #expect(throws: AMQPError.self) {
                try await connection.publish(exchange: BrokerEnvironment.uniqueName("missing"), routingKey: "x", body: [1])
            }
            #expect(error?.kind == .channelClosed)
            #expect(error?.replyCode == 404)

            let queue = try await connection.declare(AMQPQueue(name: "", durable: false, exclusive: true, autoDelete: true)).name
            try await connection.publish(routingKey: queue, body: [7])
            #expect(try await connection.get(queue: queue)?.body == [7])
        }
    }
}
