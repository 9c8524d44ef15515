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
    public init(configuration: AMQPConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// True while connected to the broker.
    public var isConnected: Bool { status.isConnected }

    /// Waits until the connection is established (at start-up, or after a loss); `notConnected` after `timeout`.
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
    /// confirm-mode channel. Throws `nacked` on `basic.nack`, `unroutable` when a `mandatory`
    /// message reached no queue, `connectionLost`/`channelClosed` when the outcome is unknown
    /// (the message may or may not have been enqueued), `notConnected` when nothing was sent.
    /// Cancelling the calling task does not withdraw a message already handed over.
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
    public func get(queue: String) async throws -> AMQPDelivery? {
        try await perform { session throws(AMQPError) in try session.get(queue: queue) }
    }

    /// Acknowledges a delivery (all up to it with `multiple`).
    ///
    /// Returns at once; the ack is written in order with the connection's other work. A delivery
    /// whose connection has since been lost is not acknowledged (the broker redelivers it) and this throws `staleDelivery`.
    public func ack(_ delivery: AMQPDelivery, multiple: Bool = false) throws {
        try settle(.ack, delivery, multiple: multiple)
    }

    /// True while `delivery` can still be settled: the connection and the channel it came
    /// through are the live ones. Once this is false the broker has returned the delivery to its
    /// queue (maybe to another consumer already), and its receiver must not act on it.
    public func canSettle(_ delivery: AMQPDelivery) -> Bool {
        status.isLive(delivery.origin)
    }

    /// Negatively acknowledges a delivery: requeue it, or dead-letter/drop it with `requeue: false`.
    public func nack(_ delivery: AMQPDelivery, multiple: Bool = false, requeue: Bool) throws {
        try settle(.nack(requeue: requeue), delivery, multiple: multiple)
    }

    /// Rejects one delivery: requeue it, or dead-letter/drop it with `requeue: false`.
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
