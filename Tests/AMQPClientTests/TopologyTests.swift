import Testing

@testable import AMQPClient

@Suite(.enabled(if: BrokerEnvironment.isConfigured))
struct TopologyTests {
    @Test func declaringTwiceIsIdempotentAndAMismatchIsAClearError() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let queue = AMQPQueue(
                name: BrokerEnvironment.uniqueName("declare"),
                arguments: ["x-queue-type": "quorum", "x-single-active-consumer": true, "x-delivery-limit": 5]
            )
            try await connection.declare(queue)
            let again = try await connection.declare(queue)
            #expect(again.name == queue.name)
            #expect(again.messageCount == 0)

            var changed = queue
            changed.arguments["x-delivery-limit"] = 9
            let error = await #expect(throws: AMQPError.self) { try await connection.declare(changed) }
            #expect(error?.kind == .channelClosed)
            #expect(error?.replyCode == 406)
            // The control channel is reopened for the next call.
            #expect(try await connection.inspectQueue(queue.name).name == queue.name)
            try await connection.deleteQueue(queue.name)
        }
    }

    @Test func inspectingAMissingQueueIs404() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let error = await #expect(throws: AMQPError.self) {
                try await connection.inspectQueue(BrokerEnvironment.uniqueName("absent"))
            }
            #expect(error?.replyCode == 404)
        }
    }

    @Test func bindingsRouteByKey() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let exchange = BrokerEnvironment.uniqueName("direct")
            try await connection.declare(AMQPExchange(name: exchange, type: .direct, durable: false))
            let first = try await connection.declare(AMQPQueue(name: "", durable: false, exclusive: true, autoDelete: true)).name
            let second = try await connection.declare(AMQPQueue(name: "", durable: false, exclusive: true, autoDelete: true)).name
            try await connection.declare(AMQPBinding(queue: first, exchange: exchange, routingKey: "p.0"))
            try await connection.declare(AMQPBinding(queue: second, exchange: exchange, routingKey: "p.1"))

            try await connection.publish(exchange: exchange, routingKey: "p.1", body: [1], mandatory: true)
            #expect(try await connection.get(queue: first) == nil)
            #expect(try await connection.get(queue: second)?.body == [1])
            #expect(try await connection.purgeQueue(second) == 0)
            try await connection.deleteExchange(exchange)
        }
    }
}
