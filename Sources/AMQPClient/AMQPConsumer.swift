/// The deliveries of one consumer (`basic.consume`), in queue order, and the means to settle them.
///
/// The sequence holds at most the consumer's prefetch count of unacknowledged deliveries per
/// connection incarnation, because the broker sends no more until some are settled. It survives
/// reconnects (deliveries from before a reconnect can no longer be acked: the broker redelivers
/// them with `redelivered` set). It ends with an error when the broker cancels the consumer
/// (queue deleted) or closes its channel, and ends normally after `cancel()` or shutdown.
public struct AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery

    /// The connection the consumer lives on.
    public let connection: AMQPConnection
    /// The queue it consumes.
    public let queue: String
    let channel: UInt16
    let prefetch: UInt16
    let deliveries: DeliveryBuffer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let deliveries: DeliveryBuffer
        var batch: [AMQPDelivery] = []
        var position = 0

        public mutating func next() async throws -> AMQPDelivery? {
            while position == batch.count {
                guard let next = try await deliveries.next(maximum: .max) else { return nil }
                batch = next
                position = 0
            }
            defer { position += 1 }
            return batch[position]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(deliveries: deliveries)
    }

    /// The deliveries in batches: each batch is everything received and not yet taken (at most
    /// the prefetch), so a consumer that fell behind catches up in large batches. A consumer is
    /// iterated either one by one or by batch, not both.
    public var batches: Batches { Batches(deliveries: deliveries, maximum: Int(prefetch == 0 ? .max : prefetch)) }

    /// The deliveries, a batch at a time.
    public struct Batches: AsyncSequence, Sendable {
        public typealias Element = [AMQPDelivery]
        let deliveries: DeliveryBuffer
        let maximum: Int

        public struct AsyncIterator: AsyncIteratorProtocol {
            let deliveries: DeliveryBuffer
            let maximum: Int

            public mutating func next() async throws -> [AMQPDelivery]? {
                try await deliveries.next(maximum: maximum)
            }
        }

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(deliveries: deliveries, maximum: maximum)
        }
    }

    /// True while this consumer still owns `delivery` (see `AMQPConnection.canSettle`).
    public func owns(_ delivery: AMQPDelivery) -> Bool {
        connection.canSettle(delivery)
    }

    /// Acknowledges a delivery (all up to it with `multiple`).
    public func ack(_ delivery: AMQPDelivery, multiple: Bool = false) throws {
        try connection.ack(delivery, multiple: multiple)
    }

    /// Negatively acknowledges a delivery.
    public func nack(_ delivery: AMQPDelivery, multiple: Bool = false, requeue: Bool) throws {
        try connection.nack(delivery, multiple: multiple, requeue: requeue)
    }

    /// Rejects a delivery.
    public func reject(_ delivery: AMQPDelivery, requeue: Bool) throws {
        try connection.reject(delivery, requeue: requeue)
    }

    /// Asks for the consumer to be cancelled without waiting (e.g. from a shutdown handler); the
    /// sequence ends once the connection thread has done it.
    public func requestCancel() {
        let channel = channel
        connection.mailbox.post(
            ConnectionJob(run: { session in session.cancelConsumer(channel: channel) }, fail: { _ in })
        )
    }

    /// Cancels the consumer and closes its channel; the broker requeues what was not acknowledged.
    public func cancel() async throws {
        let channel = channel
        try await connection.perform { session throws(AMQPError) in session.cancelConsumer(channel: channel) }
    }
}

extension AMQPConnection {
    /// Starts consuming `queue` with `basic.qos` prefetch `prefetch` (manual acknowledgement).
    ///
    /// Arguments go to `basic.consume` (e.g. `x-priority`). The consumer is re-subscribed after
    /// every reconnect until it is cancelled, by `cancel()` or by the broker.
    public func consume(queue: String, prefetch: UInt16 = 100, exclusive: Bool = false, arguments: AMQPTable = [:]) async throws
        -> AMQPConsumer
    {
        let deliveries = DeliveryBuffer()
        let registration = ConsumerRegistration(
            queue: queue,
            prefetch: prefetch,
            exclusive: exclusive,
            arguments: arguments,
            deliveries: deliveries
        )
        let channel = try await perform { session throws(AMQPError) in try session.startConsumer(registration) }
        return AMQPConsumer(connection: self, queue: queue, channel: channel, prefetch: prefetch, deliveries: deliveries)
    }
}
