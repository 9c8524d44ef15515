import TestSupport
import Testing

@testable import AMQPClient

@Suite(.enabled(if: BrokerEnvironment.isConfigured))
struct ConsumingTests {
    @Test func deliveriesArriveInQueueOrder() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let queue = BrokerEnvironment.uniqueName("order")
            try await connection.declare(AMQPQueue(name: queue, arguments: ["x-queue-type": "quorum"]))
            for index in 0..<300 { try await connection.publish(routingKey: queue, body: Array("\(index)".utf8)) }
            let consumer = try await connection.consume(queue: queue, prefetch: 50)
            let collector = DeliveryCollector(consumer, autoAck: true)
            let deliveries = try await collector.waitFor(300)
            #expect(deliveries.map { String(decoding: $0.body, as: UTF8.self) } == (0..<300).map { "\($0)" })
            try await consumer.cancel()
            try await connection.deleteQueue(queue)
        }
    }

    /// The connection drops and the consumer's queue is gone when it comes back (an exclusive
    /// queue dies with its connection): re-subscribing fails with 404, which ends that consumer
    /// with the broker's reason, and the process goes on (no exclusivity violation in the session
    /// while the failure removes the consumer it is updating).
    @Test func aConsumerWhoseQueueIsGoneAfterAReconnectEndsWithTheReason() async throws {
        try await BrokerVirtualHost.withVirtualHost { configuration in
            try await withConnection(configuration) { connection in
                let queue = try await connection.declare(AMQPQueue(name: BrokerEnvironment.uniqueName("gone"), durable: false, exclusive: true)).name
                let consumer = try await connection.consume(queue: queue, prefetch: 1)
                let collector = DeliveryCollector(consumer)
                try await BrokerVirtualHost.closeConnections(in: configuration.virtualHost)
                try await eventually(timeout: .seconds(20), "the consumer ends") { collector.finished }
                let error = try #require(collector.error as? AMQPError)
                #expect(error.replyCode == 404, "\(error)")
                // The connection itself carries on.
                try await connection.waitUntilConnected(timeout: .seconds(20))
                let other = try await connection.declare(AMQPQueue(name: "", durable: false, exclusive: true, autoDelete: true)).name
                try await connection.publish(routingKey: other, body: [1])
            }
        }
    }

    /// librabbitmq hands out frames that arrived during a `basic.cancel` or `channel.close` after
    /// it: on the channel number just given up, a delivery meant for the cancelled consumer would
    /// pass for the next one's (and its ack settle another message). A new consumer never takes
    /// the number the one before it gave up.
    @Test func aConsumerNeverTakesTheChannelOfTheOneCancelledBeforeIt() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let queue = try await connection.declare(AMQPQueue(name: "", durable: false, exclusive: true)).name
            let first = try await connection.consume(queue: queue, prefetch: 1)
            try await first.cancel()
            let second = try await connection.consume(queue: queue, prefetch: 1)
            #expect(second.channel != first.channel)
            try await second.cancel()
            try await connection.deleteQueue(queue)
        }
    }

    @Test func nackWithRequeueRedeliversWithTheRedeliveredFlag() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let queue = try await connection.declare(AMQPQueue(name: "", durable: false, exclusive: true, autoDelete: true)).name
            try await connection.publish(routingKey: queue, body: [1])
            let consumer = try await connection.consume(queue: queue, prefetch: 1)
            let collector = DeliveryCollector(consumer)
            let first = try await collector.waitFor(1)[0]
            #expect(!first.redelivered)
            try consumer.nack(first, requeue: true)
            let second = try await collector.waitFor(2)[1]
            #expect(second.redelivered)
            #expect(second.body == [1])
            try consumer.ack(second)
            try await consumer.cancel()
        }
    }

    @Test func rejectedMessageGoesToTheDeadLetterExchangeWithXDeath() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let deadLetterExchange = BrokerEnvironment.uniqueName("dlx")
            let deadLetters = BrokerEnvironment.uniqueName("dead")
            let work = BrokerEnvironment.uniqueName("work")
            try await connection.declare(AMQPExchange(name: deadLetterExchange, type: .fanout, durable: false))
            try await connection.declare(AMQPQueue(name: deadLetters, durable: false))
            try await connection.declare(AMQPBinding(queue: deadLetters, exchange: deadLetterExchange, routingKey: ""))
            try await connection.declare(AMQPQueue(name: work, durable: false, arguments: ["x-dead-letter-exchange": .string(deadLetterExchange)]))

            try await connection.publish(routingKey: work, body: Array("poison".utf8), properties: AMQPMessageProperties(messageId: "p-1"))
            let consumer = try await connection.consume(queue: work, prefetch: 1)
            let collector = DeliveryCollector(consumer)
            try consumer.reject(try await collector.waitFor(1)[0], requeue: false)

            var dead: AMQPDelivery?
            try await eventually("the message is dead-lettered") {
                dead = try await connection.get(queue: deadLetters)
                return dead != nil
            }
            let death = try #require(dead?.deaths.first)
            #expect(death.reason == "rejected")
            #expect(death.queue == work)
            #expect(death.count == 1)
            #expect(death.routingKeys == [work])
            #expect(dead?.properties.messageId == "p-1")
            #expect(dead?.body == Array("poison".utf8))

            try await consumer.cancel()
            try await connection.deleteQueue(work)
            try await connection.deleteQueue(deadLetters)
            try await connection.deleteExchange(deadLetterExchange)
        }
    }

    @Test func quorumDeliveryLimitDeadLettersAMessageThatKeepsFailing() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let deadLetterExchange = BrokerEnvironment.uniqueName("dlx")
            let deadLetters = BrokerEnvironment.uniqueName("dead")
            let work = BrokerEnvironment.uniqueName("limited")
            try await connection.declare(AMQPExchange(name: deadLetterExchange, type: .fanout, durable: false))
            try await connection.declare(AMQPQueue(name: deadLetters, durable: false))
            try await connection.declare(AMQPBinding(queue: deadLetters, exchange: deadLetterExchange, routingKey: ""))
            try await connection.declare(
                AMQPQueue(
                    name: work,
                    arguments: [
                        "x-queue-type": "quorum", "x-delivery-limit": 2, "x-dead-letter-exchange": .string(deadLetterExchange),
                    ]
                )
            )
            try await connection.publish(routingKey: work, body: [9])
            try await connection.publish(routingKey: work, body: [10])

            let consumer = try await connection.consume(queue: work, prefetch: 1)
            let collector = DeliveryCollector(consumer)
            // The handler "crashes" on [9] every time; [10] is fine and must still get through.
            var handled = 0
            while true {
                let deliveries = try await collector.waitFor(handled + 1)
                let delivery = deliveries[handled]
                handled += 1
                if delivery.body == [10] {
                    try consumer.ack(delivery)
                    break
                }
                try consumer.nack(delivery, requeue: true)
            }
            // Limit 2 → delivered 3 times, then dead-lettered; the counts come from x-delivery-count.
            let poisonDeliveries = collector.deliveries.filter { $0.body == [9] }
            #expect(poisonDeliveries.count == 3)
            #expect(poisonDeliveries.last?.deliveryCount == 2)

            var dead: AMQPDelivery?
            try await eventually("the poison message is dead-lettered") {
                dead = try await connection.get(queue: deadLetters)
                return dead != nil
            }
            #expect(dead?.body == [9])
            #expect(dead?.deaths.first?.reason == "delivery_limit")

            try await consumer.cancel()
            try await connection.deleteQueue(work)
            try await connection.deleteQueue(deadLetters)
            try await connection.deleteExchange(deadLetterExchange)
        }
    }

    @Test func aFixedTTLDelayQueueDeadLettersIntoTheWorkQueueAfterTheTTL() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let delayExchange = BrokerEnvironment.uniqueName("delay-x")
            let delay = BrokerEnvironment.uniqueName("delay")
            let work = BrokerEnvironment.uniqueName("after-delay")
            try await connection.declare(AMQPQueue(name: work, durable: false))
            try await connection.declare(AMQPExchange(name: delayExchange, type: .direct, durable: false))
            // Expired messages go to the default exchange with routing key `work`.
            try await connection.declare(
                AMQPQueue(
                    name: delay,
                    durable: false,
                    arguments: ["x-message-ttl": 400, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": .string(work)]
                )
            )
            try await connection.declare(AMQPBinding(queue: delay, exchange: delayExchange, routingKey: "hold"))

            let start = ContinuousClock.now
            try await connection.publish(exchange: delayExchange, routingKey: "hold", body: Array("expire".utf8), mandatory: true)
            let consumer = try await connection.consume(queue: work, prefetch: 10)
            let collector = DeliveryCollector(consumer, autoAck: true)
            let delivery = try await collector.waitFor(1)[0]
            let waited = ContinuousClock.now - start
            #expect(waited >= .milliseconds(350), "delivered after \(waited), before the TTL")
            #expect(delivery.body == Array("expire".utf8))
            #expect(delivery.deaths.first?.reason == "expired")
            #expect(delivery.deaths.first?.queue == delay)

            try await consumer.cancel()
            try await connection.deleteQueue(delay)
            try await connection.deleteQueue(work)
            try await connection.deleteExchange(delayExchange)
        }
    }

    @Test func deletingTheQueueEndsTheConsumerWithAnError() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let queue = BrokerEnvironment.uniqueName("doomed")
            try await connection.declare(AMQPQueue(name: queue, durable: false))
            let consumer = try await connection.consume(queue: queue)
            let collector = DeliveryCollector(consumer)
            try await connection.deleteQueue(queue)
            try await eventually("the consumer ends") { collector.finished }
            #expect((collector.error as? AMQPError)?.kind == .consumerCancelled)
        }
    }
}
