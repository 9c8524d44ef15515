import Foundation
import Synchronization
import TestSupport
import Testing

@testable import AMQPClient

/// The consume loop's promises, against the real broker.
@Suite(.enabled(if: BrokerEnvironment.isConfigured))
struct ConsumeLoopTests {
    struct Crash: Error {}

    /// A queue like a partition's: quorum, a delivery limit of 5, dead-lettering to a queue of its own.
    static func declarePartitionLike(_ connection: AMQPConnection) async throws -> (queue: String, deadLetters: String) {
        let queue = BrokerEnvironment.uniqueName("poison")
        let exchange = queue + ".dlx"
        let deadLetters = queue + ".dead"
        try await connection.declare(AMQPExchange(name: exchange, type: .fanout, durable: false, autoDelete: true))
        try await connection.declare(AMQPQueue(name: deadLetters, arguments: ["x-queue-type": "quorum"]))
        try await connection.declare(AMQPBinding(queue: deadLetters, exchange: exchange, routingKey: ""))
        try await connection.declare(
            AMQPQueue(name: queue, arguments: ["x-queue-type": "quorum", "x-delivery-limit": 5, "x-dead-letter-exchange": .string(exchange)])
        )
        return (queue, deadLetters)
    }

    /// 10 innocent messages, a poison that "crashes" its handler every time, 40 more innocent
    /// ones; the loop runs until every innocent message was handled and the poison is gone.
    /// Returns the bodies dead-lettered.
    func runPoisonScenario(isolateAfter: Int64?) async throws -> (handled: Set<Int>, deadLettered: [String]) {
        try await BrokerEnvironment.withConnection { connection in
            let (queue, deadLetters) = try await Self.declarePartitionLike(connection)
            for index in 0..<51 {
                let body = index == 10 ? "poison" : "\(index)"
                try await connection.publish(routingKey: queue, body: Array(body.utf8))
            }
            let handled = Mutex<Set<Int>>([])
            let loop = ConsumeLoop(
                connection: connection,
                queue: queue,
                prefetch: 20,
                isolateAfter: isolateAfter,
                backoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(50)),
                logger: BrokerEnvironment.logger
            )
            let task = Task {
                await loop.run { context, batch in
                    for delivery in batch {
                        let body = String(decoding: delivery.body, as: UTF8.self)
                        // The crash: nothing after it is handled, nothing of the batch acknowledged.
                        if body == "poison" { throw Crash() }
                        _ = handled.withLock { $0.insert(Int(body)!) }
                        try context.consumer.ack(delivery)
                    }
                }
            }
            defer { task.cancel() }
            try await eventually(timeout: .seconds(60), "the queue is drained") {
                let ready = try await connection.inspectQueue(queue).messageCount
                let dead = try await connection.inspectQueue(deadLetters).messageCount
                return ready == 0 && handled.withLock { $0.count } + dead >= 51
            }
            task.cancel()
            await task.value
            var letters: [String] = []
            while let letter = try await connection.get(queue: deadLetters) {
                letters.append(String(decoding: letter.body, as: UTF8.self))
                try connection.ack(letter)
            }
            try await connection.deleteQueue(queue)
            try await connection.deleteQueue(deadLetters)
            return (handled.withLock { $0 }, letters)
        }
    }

    /// Without isolation, the messages in the prefetch window of each "crash" go down with the poison.
    @Test func withoutIsolationAPoisonTakesInnocentMessagesToTheDeadLetters() async throws {
        let (_, letters) = try await runPoisonScenario(isolateAfter: nil)
        #expect(letters.contains("poison"))
        #expect(letters.count > 1, "only the poison was dead-lettered: \(letters)")
    }

    /// With isolation, only the poison is dead-lettered and every other message is handled.
    @Test func withIsolationOnlyThePoisonIsDeadLettered() async throws {
        let (handled, letters) = try await runPoisonScenario(isolateAfter: 1)
        #expect(letters == ["poison"])
        #expect(handled == Set((0..<51).filter { $0 != 10 }))
    }

    /// A consumer the loop gives up (its handler threw) is cancelled: it does not stay subscribed,
    /// and the next one gets the messages.
    @Test func anAbandonedConsumerIsCancelled() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let queue = BrokerEnvironment.uniqueName("abandon")
            try await connection.declare(AMQPQueue(name: queue, arguments: ["x-queue-type": "quorum", "x-single-active-consumer": true]))
            try await connection.publish(routingKey: queue, body: Array("first".utf8))
            let attempts = Mutex(0)
            let loop = ConsumeLoop(
                connection: connection,
                queue: queue,
                prefetch: 5,
                backoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(50)),
                logger: BrokerEnvironment.logger
            )
            let task = Task {
                await loop.run { context, batch in
                    let attempt = attempts.withLock { count -> Int in
                        count += 1
                        return count
                    }
                    if attempt == 1 { throw Crash() }
                    for delivery in batch { try context.consumer.ack(delivery) }
                }
            }
            defer { task.cancel() }
            try await eventually("the message is handled on the second subscription") { attempts.withLock { $0 } >= 2 }
            try await eventually("one consumer, nothing left") {
                let state = try await connection.inspectQueue(queue)
                return state.consumerCount == 1 && state.messageCount == 0
            }
            task.cancel()
            await task.value
            try await connection.deleteQueue(queue)
        }
    }
}

/// Acks meant for a consumer whose channel the broker closed never reach the consumer that gets the same channel number next.
@Suite(.enabled(if: BrokerEnvironment.isConfigured))
struct StaleAckTests {
    @Test func anAckForAClosedChannelsDeliveryDoesNotSettleTheNextConsumersMessages() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let first = BrokerEnvironment.uniqueName("stale.first")
            let second = BrokerEnvironment.uniqueName("stale.second")
            for queue in [first, second] { try await connection.declare(AMQPQueue(name: queue, arguments: ["x-queue-type": "quorum"])) }
            for index in 0..<3 { try await connection.publish(routingKey: first, body: [UInt8(index)]) }

            let old = try await connection.consume(queue: first, prefetch: 10)
            var oldIterator = old.makeAsyncIterator()
            var held: [AMQPDelivery] = []
            for _ in 0..<3 { held.append(try #require(try await oldIterator.next())) }
            // The broker closes the old consumer's channel (an ack of a tag it never sent: 406).
            let bogus = AMQPDelivery(
                deliveryTag: 9999,
                redelivered: false,
                exchange: "",
                routingKey: first,
                properties: .init(),
                body: [],
                origin: held[0].origin
            )
            try connection.ack(bogus)
            try await eventually("the old consumer ends") {
                do {
                    while try await oldIterator.next() != nil {}
                    return true
                } catch {
                    return true
                }
            }

            // A new consumer gets the freed channel number (as one does once the numbers have gone
            // round; the session takes them in turn) and messages of its own.
            for index in 0..<3 { try await connection.publish(routingKey: second, body: [UInt8(10 + index)]) }
            let freed = old.channel
            try await connection.perform { session in session.nextConsumerChannel = freed }
            let new = try await connection.consume(queue: second, prefetch: 10)
            #expect(new.channel == old.channel, "the channel number was not reused; the test proves nothing")
            var newIterator = new.makeAsyncIterator()
            for _ in 0..<3 { _ = try #require(try await newIterator.next()) }

            // The old consumer's last delivery, acknowledged with `multiple` — it must not settle the new ones.
            try connection.ack(held[2], multiple: true)
            try await new.cancel()
            try await eventually("the new consumer's messages are back in its queue") {
                try await connection.inspectQueue(second).messageCount == 3
            }
            for queue in [first, second] { try await connection.deleteQueue(queue) }
        }
    }
}
