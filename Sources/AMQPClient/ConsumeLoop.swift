public import Logging
import ServiceLifecycle
import Synchronization

/// The consuming half of a long-running service: subscribes to a queue, hands each batch of
/// deliveries to a handler, and when the consumer ends — the broker cancelled it or closed its
/// channel, the handler gave up, the connection dropped for good — cancels it and subscribes
/// again after a back-off. It always cancels what it abandons: a consumer left registered would
/// be re-subscribed by the connection after a reconnect and, on a single-active-consumer queue,
/// could stay the active one with nobody reading it.
///
/// Graceful shutdown lets the batch in hand finish, then cancels the consumer (the broker
/// requeues what was not acknowledged) and returns — also while it is waiting for the broker or
/// backing off, so a process stops within moments even during an outage.
///
/// **Poison isolation** (`isolateAfter`): a message that crashes its consumer's process comes back
/// again and again, and with it every message that was in the prefetch window at the time: each
/// return counts towards the queue's `x-delivery-limit`, so without care innocent messages would
/// be dead-lettered together with the poison. With `isolateAfter: n`, every subscription starts
/// with a prefetch of 1 and takes messages one at a time while they have been returned `n` times
/// or more — a crash then returns (and counts) the poison alone — and switches to the full
/// prefetch at the first message returned fewer times. With `n = 1`, a message in the window of
/// one crash is returned at most twice more (that crash, and the switch back to the full prefetch,
/// which returns the one message the broker had sent meanwhile): under a delivery limit of 5 the
/// poison alone reaches the limit.
public struct ConsumeLoop: Sendable {
    /// The connection the loop subscribes through.
    public let connection: AMQPConnection
    /// The queue it consumes.
    public let queue: String
    /// The consumer's prefetch (outside poison isolation).
    public let prefetch: UInt16
    /// The delivery count (`x-delivery-count`) from which a message is taken alone; `nil` turns
    /// poison isolation off.
    public let isolateAfter: Int64?
    /// Back-off between subscriptions after failures; it grows while they keep failing.
    public let backoff: Backoff
    let logger: Logger

    /// A loop over `queue`; nothing happens until `run(prepare:_:)`.
    ///
    /// - Parameters:
    ///   - connection: The connection to subscribe through.
    ///   - queue: The queue to consume.
    ///   - prefetch: The consumer's prefetch (outside poison isolation).
    ///   - isolateAfter: The delivery count from which a message is taken alone, or `nil` for no
    ///     poison isolation.
    ///   - backoff: Back-off between subscriptions after failures.
    ///   - logger: Where the loop logs a consumer that ended.
    public init(
        connection: AMQPConnection,
        queue: String,
        prefetch: UInt16,
        isolateAfter: Int64? = nil,
        backoff: Backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(5)),
        logger: Logger
    ) {
        self.connection = connection
        self.queue = queue
        self.prefetch = prefetch
        self.isolateAfter = isolateAfter
        self.backoff = backoff
        self.logger = logger
    }

    /// What the handler sees besides the batch.
    public struct Context: Sendable {
        /// The consumer the batch came from: settle its deliveries through it.
        public let consumer: AMQPConsumer
        /// True once graceful shutdown began: long retries should give up (without settling).
        public let isStopping: @Sendable () -> Bool
    }

    /// Runs until graceful shutdown or cancellation. `prepare` runs before each subscription (to
    /// declare a queue of the process's own, say); `handle` gets each batch in order; throwing
    /// from either abandons the consumer (cancelled — the broker requeues what it had not
    /// acknowledged — then a new subscription after the back-off, which grows while handling keeps failing).
    ///
    /// Before each subscription it waits for the connection to be up. Errors are logged, never
    /// thrown: the loop only returns once graceful shutdown began or the task was cancelled.
    ///
    /// - Parameters:
    ///   - prepare: Runs before each subscription; throwing skips the subscription and backs off.
    ///   - handle: Gets each batch with its `Context`, in queue order; it settles the deliveries
    ///     through `Context.consumer`. Throwing abandons the consumer.
    public func run(
        prepare: () async throws -> Void = {},
        _ handle: (Context, [AMQPDelivery]) async throws -> Void
    ) async {
        let lifecycle = Lifecycle()
        await withGracefulShutdownHandler {
            var failures = 0
            var careful = isolateAfter != nil
            while !lifecycle.isStopping, !Task.isCancelled {
                var widening = false
                do {
                    try await waitForConnection(lifecycle)
                    guard !lifecycle.isStopping else { break }
                    try await prepare()
                    let consumer = try await connection.consume(queue: queue, prefetch: careful ? 1 : prefetch)
                    guard lifecycle.started(consumer) else {
                        consumer.requestCancel()
                        break
                    }
                    let context = Context(consumer: consumer, isStopping: { lifecycle.isStopping })
                    for try await batch in consumer.batches {
                        guard lifecycle.beginBatch() else { break }
                        try await handle(context, batch)
                        failures = 0
                        guard lifecycle.endBatch() else { break }
                        if careful, let threshold = isolateAfter, batch.allSatisfy({ ($0.deliveryCount ?? 0) < threshold }) {
                            // Past the suspects: take the full prefetch from here on (nothing is unacknowledged now).
                            careful = false
                            widening = true
                            break
                        }
                    }
                } catch {
                    if !lifecycle.isStopping {
                        logger.warning(
                            "consumer ended; subscribing again",
                            metadata: ["amqp.queue": "\(queue)", "error": "\(String(reflecting: error))"]
                        )
                    }
                }
                lifecycle.abandon()
                guard !lifecycle.isStopping, !Task.isCancelled else { break }
                if widening { continue }
                // A new subscription may find suspects again.
                careful = isolateAfter != nil
                failures += 1
                await lifecycle.pause(backoff.delay(afterFailures: failures))
            }
        } onGracefulShutdown: {
            lifecycle.stop()
        }
    }

    /// Waits for the connection, returning early once shutdown began.
    private func waitForConnection(_ lifecycle: Lifecycle) async throws {
        while !connection.isConnected {
            guard !lifecycle.isStopping else { return }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// Shutdown coordination between the consume loop and the graceful-shutdown handler.
private final class Lifecycle: Sendable {
    private struct State {
        var stopping = false
        var busy = false
        var consumer: AMQPConsumer?
    }

    private let state = Mutex(State())

    var isStopping: Bool { state.withLock(\.stopping) }

    /// Registers the live consumer; false if shutdown already began.
    func started(_ consumer: AMQPConsumer) -> Bool {
        state.withLock { state in
            state.consumer = consumer
            return !state.stopping
        }
    }

    func beginBatch() -> Bool {
        state.withLock { state in
            state.busy = true
            return !state.stopping
        }
    }

    /// False when the loop should end: shutdown came during the batch, the consumer is cancelled now.
    func endBatch() -> Bool {
        state.withLock { state in
            state.busy = false
            if state.stopping { state.consumer?.requestCancel() }
            return !state.stopping
        }
    }

    /// The consumer is given up: cancel it (nothing happens if it is gone already).
    func abandon() {
        let consumer = state.withLock { state -> AMQPConsumer? in
            state.busy = false
            defer { state.consumer = nil }
            return state.consumer
        }
        consumer?.requestCancel()
    }

    /// Sleeps `duration`, or less if shutdown begins.
    func pause(_ duration: Duration) async {
        _ = await Backoff.pause(duration) { isStopping }
    }

    /// Graceful shutdown: an idle consumer is cancelled at once, a busy one after its batch.
    func stop() {
        state.withLock { state in
            state.stopping = true
            if !state.busy { state.consumer?.requestCancel() }
        }
    }
}
