/// The deliveries of one consumer (`basic.consume`), in queue order, and the means to settle them.
///
/// The sequence holds at most the consumer's prefetch count of unacknowledged deliveries per
/// connection incarnation, because the broker sends no more until some are settled. It survives
/// reconnects (deliveries from before a reconnect can no longer be acked: the broker redelivers
/// them with `redelivered` set). It ends with an error when the broker cancels the consumer
/// (queue deleted) or closes its channel, and ends normally after `cancel()` or shutdown.
public struct AMQPConsumer: AsyncSequence, Sendable {
    /// One delivery at a time.
    public typealias Element = AMQPDelivery

    /// The connection the consumer lives on.
    public let connection: AMQPConnection
    /// The queue it consumes.
    public let queue: String
    let channel: UInt16
    let prefetch: UInt16
    let deliveries: DeliveryBuffer

    /// Iterates the deliveries one by one, in queue order.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let deliveries: DeliveryBuffer
        var batch: [AMQPDelivery] = []
        var position = 0

        /// The next delivery, waiting for one to arrive when none is waiting.
        ///
        /// - Returns: The next delivery, or `nil` once the consumer ended normally (after
        ///   `cancel()`, `requestCancel()` or shutdown) or the calling task was cancelled.
        /// - Throws: The `AMQPError` that ended the consumer, after the deliveries that came
        ///   before it: `consumerCancelled` when the broker cancelled it, `channelClosed` when the
        ///   broker closed its channel.
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

    /// Starts iterating the deliveries one by one.
    ///
    /// - Returns: An iterator over this consumer's deliveries.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(deliveries: deliveries)
    }

    /// The deliveries in batches: each batch is everything received and not yet taken (at most
    /// the prefetch), so a consumer that fell behind catches up in large batches. A consumer is
    /// iterated either one by one or by batch, not both.
    public var batches: Batches { Batches(deliveries: deliveries, maximum: Int(prefetch == 0 ? .max : prefetch)) }

    /// The deliveries, a batch at a time.
    public struct Batches: AsyncSequence, Sendable {
        /// One batch: at least one delivery, at most the prefetch, in queue order.
        public typealias Element = [AMQPDelivery]
        let deliveries: DeliveryBuffer
        let maximum: Int

        /// Iterates the deliveries a batch at a time.
        public struct AsyncIterator: AsyncIteratorProtocol {
            let deliveries: DeliveryBuffer
            let maximum: Int

            /// Every delivery waiting (at most the prefetch), or the next ones to arrive.
            ///
            /// - Returns: The next batch, or `nil` once the consumer ended normally (after
            ///   `cancel()`, `requestCancel()` or shutdown) or the calling task was cancelled.
            /// - Throws: The `AMQPError` that ended the consumer, after the deliveries that came
            ///   before it: `consumerCancelled` when the broker cancelled it, `channelClosed` when
            ///   the broker closed its channel.
            public mutating func next() async throws -> [AMQPDelivery]? {
                try await deliveries.next(maximum: maximum)
            }
        }

        /// Starts iterating the deliveries a batch at a time.
        ///
        /// - Returns: An iterator over this consumer's deliveries in batches.
        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(deliveries: deliveries, maximum: maximum)
        }
    }

    /// True while this consumer still owns `delivery` (see `AMQPConnection.canSettle`).
    ///
    /// - Parameters:
    ///   - delivery: A delivery this consumer received.
    /// - Returns: True while the delivery can still be settled; false once the broker has
    ///   returned it to the queue.
    public func owns(_ delivery: AMQPDelivery) -> Bool {
        connection.canSettle(delivery)
    }

    /// Acknowledges a delivery (all up to it with `multiple`).
    ///
    /// Returns at once; see `AMQPConnection.ack(_:multiple:)`.
    ///
    /// - Parameters:
    ///   - delivery: The delivery to acknowledge.
    ///   - multiple: Whether to acknowledge every unsettled delivery of its channel up to and
    ///     including this one.
    /// - Throws: `AMQPError` of kind `staleDelivery` when the connection the delivery came through
    ///   has been lost, or the connection is down.
    public func ack(_ delivery: AMQPDelivery, multiple: Bool = false) throws {
        try connection.ack(delivery, multiple: multiple)
    }

    /// Negatively acknowledges a delivery: requeue it, or dead-letter/drop it with `requeue: false`.
    ///
    /// Returns at once; see `AMQPConnection.nack(_:multiple:requeue:)`.
    ///
    /// - Parameters:
    ///   - delivery: The delivery to settle.
    ///   - multiple: Whether to settle every unsettled delivery of its channel up to and
    ///     including this one.
    ///   - requeue: Whether the broker puts the message back in its queue; false dead-letters it
    ///     (or drops it when the queue has no dead-letter exchange).
    /// - Throws: `AMQPError` of kind `staleDelivery` when the connection the delivery came through
    ///   has been lost, or the connection is down.
    public func nack(_ delivery: AMQPDelivery, multiple: Bool = false, requeue: Bool) throws {
        try connection.nack(delivery, multiple: multiple, requeue: requeue)
    }

    /// Rejects one delivery: requeue it, or dead-letter/drop it with `requeue: false`.
    ///
    /// Returns at once; see `AMQPConnection.reject(_:requeue:)`.
    ///
    /// - Parameters:
    ///   - delivery: The delivery to reject.
    ///   - requeue: Whether the broker puts the message back in its queue; false dead-letters it
    ///     (or drops it when the queue has no dead-letter exchange).
    /// - Throws: `AMQPError` of kind `staleDelivery` when the connection the delivery came through
    ///   has been lost, or the connection is down.
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
    ///
    /// Returns once the connection thread has done it; the sequence then ends normally, and
    /// deliveries it had not handed out yet are dropped. Cancelling a consumer that has ended
    /// already does nothing.
    ///
    /// - Throws: `AMQPError` of kind `shutdown` when the connection shut down before it could
    ///   cancel (the consumer ends then anyway).
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
    ///
    /// - Parameters:
    ///   - queue: The queue to consume.
    ///   - prefetch: How many unacknowledged deliveries the broker sends at most (0 for no limit).
    ///   - exclusive: Whether to ask for exclusive access: no other consumer may consume the queue
    ///     while this one does.
    ///   - arguments: Arguments for `basic.consume`.
    /// - Returns: The consumer, whose deliveries are an async sequence.
    /// - Throws: `AMQPError`: `channelClosed` with the broker's reply code when it refuses (404
    ///   when the queue does not exist, 403 when another consumer has it exclusively),
    ///   `notConnected` while the connection is down (nothing was sent), `connectionLost` or
    ///   `connectionClosed` when the connection fails during the call, `shutdown` when the
    ///   connection is shutting down.
    public func consume(
        queue: String,
        prefetch: UInt16 = 100,
        exclusive: Bool = false,
        arguments: AMQPTable = [:]
    ) async throws
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
