import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

/// A connection to an AMQP 0-9-1 broker (RabbitMQ) over librabbitmq, kept alive across failures.
///
/// The connection lives on a dedicated thread that makes every librabbitmq call; the async methods
/// hand work to that thread and await its answer, so nothing blocks the Swift concurrency pool.
/// It is a `Service`: `run()` starts the thread, keeps (re)connecting with back-off until graceful
/// shutdown, then runs what was already posted, waits briefly for outstanding confirms and closes.
/// Calls made before `run()` wait for it.
///
/// While the connection is down (between reconnect attempts) every call fails fast with
/// `AMQPError.notConnected`; consumers survive reconnects and are re-subscribed.
public final class AMQPConnection: Service, Sendable {
    /// Where it connects.
    public let configuration: AMQPConfiguration
    let logger: Logger
    let mailbox = Mailbox()
    let status = ConnectionStatus()
    private let started = Atomic<Bool>(false)

    /// Creates the connection; nothing happens until `run()`.
    ///
    /// - Parameters:
    ///   - configuration: Where and how to connect.
    ///   - logger: Where the connection logs connects, losses and broker-side closes.
    public init(configuration: AMQPConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// True while connected to the broker.
    public var isConnected: Bool { status.isConnected }

    /// Waits until the connection is established (at start-up, or after a loss); `notConnected` after `timeout`.
    ///
    /// Returns at once when already connected; otherwise checks every 20 ms.
    ///
    /// - Parameters:
    ///   - timeout: How long to wait at most.
    /// - Throws: `AMQPError` of kind `notConnected` when the connection is not up after
    ///   `timeout`, or `CancellationError` when the calling task is cancelled.
    public func waitUntilConnected(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while !status.isConnected {
            guard ContinuousClock.now < deadline else {
                throw AMQPError(.notConnected, "not connected to \(configuration) after \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Runs the connection thread until graceful shutdown or cancellation, then closes cleanly.
    ///
    /// Returns only once the thread has run the work already posted, waited briefly for
    /// outstanding confirms and closed the connection. Calling it a second time is a programming
    /// error and traps.
    ///
    /// - Throws: Nothing: the method is `throws` to satisfy `Service.run()`; connection failures
    ///   are retried with back-off, not thrown.
    public func run() async throws {
        guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            preconditionFailure("AMQPConnection.run() called twice")
        }
        let session = AMQPSession(configuration: configuration, logger: logger, status: status)
        let loop = ConnectionLoop(session: session, mailbox: mailbox)
        // Graceful shutdown or cancellation closes the mailbox; the thread then drains, closes the
        // connection and exits, and only then does `run()` return.
        await withTaskCancellationOrGracefulShutdownHandler {
            await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                let thread = Thread {
                    loop.run()
                    finished.resume()
                }
                thread.name = "amqp \(configuration.connectionName)"
                thread.start()
            }
        } onCancelOrGracefulShutdown: {
            self.mailbox.close()
        }
    }

    /// Runs `body` on the connection thread with the session and returns its result.
    func perform<Result: Sendable>(_ body: @escaping @Sendable (AMQPSession) throws(AMQPError) -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            mailbox.post(
                ConnectionJob(
                    run: { session in continuation.resume(with: Swift.Result { () throws(AMQPError) in try body(session) }) },
                    fail: { continuation.resume(throwing: $0) }
                )
            )
        }
    }

    /// Publishes a message and returns once the broker has confirmed it (publisher confirms).
    ///
    /// Many publishes may be in flight at once, from many tasks: they are pipelined on one
    /// confirm-mode channel. Cancelling the calling task does not withdraw a message already
    /// handed over.
    ///
    /// - Parameters:
    ///   - exchange: The exchange to publish to; empty for the default exchange, which routes by
    ///     queue name.
    ///   - routingKey: The routing key.
    ///   - body: The message body.
    ///   - properties: The message's properties and headers.
    ///   - mandatory: Whether the broker must return the message (failing the publish with
    ///     `unroutable`) when it reaches no queue, instead of dropping it.
    /// - Throws: `AMQPError`: `nacked` on `basic.nack`; `unroutable` when a `mandatory` message
    ///   reached no queue; `connectionLost`, `channelClosed` or `confirmTimeout` when the outcome
    ///   is unknown (the message may or may not have been enqueued); `notConnected` or `blocked`
    ///   when nothing was sent; `shutdown` when the connection shut down before the message was
    ///   sent or confirmed.
    public func publish(
        exchange: String = "",
        routingKey: String,
        body: [UInt8],
        properties: AMQPMessageProperties = AMQPMessageProperties(),
        mandatory: Bool = false
    ) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            mailbox.post(
                ConnectionJob(
                    run: { session in
                        session.publish(
                            exchange: exchange,
                            routingKey: routingKey,
                            body: body,
                            properties: properties,
                            mandatory: mandatory,
                            waiter: continuation
                        )
                    },
                    fail: { continuation.resume(throwing: $0) },
                    writesOnly: true
                )
            )
        }
    }

    /// Fetches one message with `basic.get` (to be acknowledged with `ack`), or `nil` if the queue is empty.
    ///
    /// - Parameters:
    ///   - queue: The queue's name.
    /// - Returns: The message, or `nil` when the queue had no ready message.
    /// - Throws: `AMQPError`: `channelClosed` with the broker's reply code when it refuses (404
    ///   when the queue does not exist), `notConnected` while the connection is down (nothing was
    ///   sent), `connectionLost` or `connectionClosed` when the connection fails during the call,
    ///   `shutdown` when the connection is shutting down.
    public func get(queue: String) async throws -> AMQPDelivery? {
        try await perform { session throws(AMQPError) in try session.get(queue: queue) }
    }

    /// Acknowledges a delivery (all up to it with `multiple`).
    ///
    /// Returns at once; the ack is written in order with the connection's other work. A delivery
    /// whose connection has since been lost is not acknowledged (the broker redelivers it) and this throws `staleDelivery`.
    /// A delivery whose channel has since closed is not acknowledged either, without an error
    /// (see `canSettle(_:)`); nor is one posted after shutdown began once the connection has
    /// stopped taking work (the broker requeues it).
    ///
    /// - Parameters:
    ///   - delivery: The delivery to acknowledge.
    ///   - multiple: Whether to acknowledge every unsettled delivery of its channel up to and
    ///     including this one.
    /// - Throws: `AMQPError` of kind `staleDelivery` when the connection the delivery came through
    ///   has been lost, or the connection is down.
    public func ack(_ delivery: AMQPDelivery, multiple: Bool = false) throws {
        try settle(.ack, delivery, multiple: multiple)
    }

    /// True while `delivery` can still be settled: the connection and the channel it came
    /// through are the live ones. Once this is false the broker has returned the delivery to its
    /// queue (maybe to another consumer already), and its receiver must not act on it.
    ///
    /// - Parameters:
    ///   - delivery: A delivery received from this connection.
    /// - Returns: True while an ack, nack or reject of `delivery` would reach the broker.
    public func canSettle(_ delivery: AMQPDelivery) -> Bool {
        status.isLive(delivery.origin)
    }

    /// Negatively acknowledges a delivery: requeue it, or dead-letter/drop it with `requeue: false`.
    ///
    /// Returns at once, like `ack(_:multiple:)`, and skips stale deliveries the same way.
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
        try settle(.nack(requeue: requeue), delivery, multiple: multiple)
    }

    /// Rejects one delivery: requeue it, or dead-letter/drop it with `requeue: false`.
    ///
    /// Returns at once, like `ack(_:multiple:)`, and skips stale deliveries the same way.
    ///
    /// - Parameters:
    ///   - delivery: The delivery to reject.
    ///   - requeue: Whether the broker puts the message back in its queue; false dead-letters it
    ///     (or drops it when the queue has no dead-letter exchange).
    /// - Throws: `AMQPError` of kind `staleDelivery` when the connection the delivery came through
    ///   has been lost, or the connection is down.
    public func reject(_ delivery: AMQPDelivery, requeue: Bool) throws {
        try settle(.reject(requeue: requeue), delivery, multiple: false)
    }

    private func settle(_ settlement: Settlement, _ delivery: AMQPDelivery, multiple: Bool) throws {
        guard delivery.origin.generation == status.generation, status.isConnected else {
            throw AMQPError(.staleDelivery, "delivery \(delivery.deliveryTag) came through a connection that was lost")
        }
        let origin = delivery.origin
        let tag = delivery.deliveryTag
        mailbox.post(
            ConnectionJob(
                run: { session in session.settle(settlement, origin: origin, deliveryTag: tag, multiple: multiple) },
                fail: { _ in },  // shutting down: the broker requeues unacknowledged deliveries
                writesOnly: true
            )
        )
    }
}
