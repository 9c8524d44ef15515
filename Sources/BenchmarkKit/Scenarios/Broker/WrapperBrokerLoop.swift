import AMQPClient

/// The same work through `AMQPClient`: publishes from many tasks with confirms, a consumer that acks each delivery.
struct WrapperBrokerLoop {
    let connection: AMQPConnection
    /// Publishes in flight at once (each an awaiting task, as concurrent API requests would be).
    let inFlight: Int
    let prefetch: UInt16

    func publish(count: Int, body: [UInt8], queue: String) async throws -> Duration {
        let properties = AMQPMessageProperties(contentType: "application/json")
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                if index >= inFlight { try await group.next() }
                group.addTask { try await connection.publish(routingKey: queue, body: body, properties: properties) }
            }
            try await group.waitForAll()
        }
        return ContinuousClock.now - start
    }

    func consume(count: Int, queue: String) async throws -> Duration {
        let consumer = try await connection.consume(queue: queue, prefetch: prefetch)
        let start = ContinuousClock.now
        var received = 0
        for try await delivery in consumer {
            try consumer.ack(delivery)
            received += 1
            if received == count { break }
        }
        let elapsed = ContinuousClock.now - start
        try await consumer.cancel()
        return elapsed
    }
}
