public import AMQPClient
public import ConcertDomain
public import ConcertPipeline
import ConcertStorage
import Foundation
public import Logging
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// The single writer of one partition: consumes `concert.commands.p<n>` (a single-active-consumer
/// queue, so only one worker among all processes is active for it) and applies its commands in order.
///
/// Each batch — what the prefetch already holds — goes through the `BatchStateMachine`, which
/// decides everything; this worker performs its actions: storage steps on one database connection
/// (a fixed handful of set-based statements, whatever the batch's size), dead letters, pauses,
/// and after the commit the replies, the hold expiries (one message) and the ended queue tokens,
/// then one `multiple` ack — never before the commit. Nothing is written once the batch's channel
/// is gone (checked before the write and before the commit): the broker has returned the batch and
/// another worker may be applying it. On graceful shutdown the current batch finishes (or gives up
/// its retries), then the consumer is cancelled.
public struct PartitionWorker: Service {
    let partition: Int
    let connection: AMQPConnection
    let database: PostgresClient
    let publisher: CommandPublisher
    let replies: ReplySender
    let settings: PartitionState.Settings
    let prefetch: UInt16
    /// How long to wait before subscribing: a worker subscribes at once to the partitions it
    /// prefers and later to the others, so that with single active consumers each process ends up
    /// active for its own share and standing by for the rest.
    let subscribeAfter: Duration
    let metrics: WorkerMetrics
    let deadLetters: WorkerDeadLetters
    let logger: Logger

    public init(
        partition: Int,
        connection: AMQPConnection,
        database: PostgresClient,
        publisher: CommandPublisher,
        replies: ReplySender,
        settings: PartitionState.Settings,
        prefetch: UInt16 = 256,
        subscribeAfter: Duration = .zero,
        logger: Logger
    ) {
        self.partition = partition
        self.connection = connection
        self.database = database
        self.publisher = publisher
        self.replies = replies
        self.settings = settings
        self.prefetch = prefetch
        self.subscribeAfter = subscribeAfter
        metrics = WorkerMetrics(partition: partition)
        var logger = logger
        logger[metadataKey: "partition"] = "\(partition)"
        self.logger = logger
        deadLetters = WorkerDeadLetters(partition: partition, connection: connection, metrics: metrics, logger: logger)
    }

    public func run() async throws {
        if subscribeAfter > .zero { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: subscribeAfter) } }
        // Poison isolation: after a crash, the returned messages are taken one at a time until a fresh one comes.
        let loop = ConsumeLoop(
            connection: connection,
            queue: PipelineTopology.partitionQueue(partition),
            prefetch: prefetch,
            isolateAfter: 1,
            logger: logger
        )
        let publisher = publisher
        var machine = BatchStateMachine(partition: partition, settings: settings) { publisher.partition(of: $0) }
        await loop.run { context, batch in
            try await process(batch, context: context, machine: &machine)
        }
    }

    private func process(_ batch: [AMQPDelivery], context: ConsumeLoop.Context, machine: inout BatchStateMachine) async throws {
        guard let first = batch.first, let last = batch.last else { return }
        let consumer = context.consumer
        // Once the channel a batch came through is gone, the broker has returned the batch to the
        // queue and another worker may be applying it: this one must not write any of it.
        let owned: @Sendable () -> Bool = { consumer.owns(first) && consumer.owns(last) }
        guard owned() else { return abandoned(batch) }
        // A batch left unsettled goes back to the queue: given up while this worker still owns
        // it, or dropped when its channel has closed (the broker returned it already).
        func unsettled() throws { owned() ? try giveUp(context) : abandoned(batch) }
        var traces = CommandTracing.isEnabled ? BatchTraces(batch: batch, partition: partition) : nil
        var acknowledged = false
        defer { traces?.end(acknowledged: acknowledged) }
        var action = machine.receive(batch.map(BatchStateMachine.Incoming.init), subscription: first.subscription)
        var scope = BatchStateMachine.Scope.batch
        while true {
            switch action {
            case .deadLetter(let index, let reason, let command):
                traces?.deadLettered(index, reason: reason)
                action = machine.deadLettered(await deadLetters.send(batch[index], command: command, reason: reason))
            case .apply(let next):
                if case .single = next, scope == .batch, !machine.goesOneByOne {
                    logger.warning("batch failed; applying its commands one by one")
                }
                scope = next
                action = await attempt(&machine, scope: scope, traces: &traces, owned: owned)
            case .retry(let next, let pause):
                scope = next
                guard await Backoff.pause(pause, unless: context.isStopping) else { return try unsettled() }
                action = await attempt(&machine, scope: scope, traces: &traces, owned: owned)
            case .finish(let after):
                guard await finish(after, traces: traces) else {
                    // Committed, but its holds' expiries are not scheduled: acknowledged, the holds would
                    // only end through the sweeper. The redelivery is recognised by id and schedules them.
                    return try unsettled()
                }
                do {
                    try consumer.ack(last, multiple: true)
                    acknowledged = true
                } catch {
                    // The connection dropped after the commit: the broker redelivers and the ids are recognised.
                    logger.info("batch committed but not acknowledged", metadata: ["error": "\(error)"])
                }
                return
            case .returnBatch, .stop:
                return try unsettled()
            }
        }
    }

    /// An attempt, inside its span when one of the commands it concerns is traced.
    private func attempt(
        _ machine: inout BatchStateMachine,
        scope: BatchStateMachine.Scope,
        traces: inout BatchTraces?,
        owned: @escaping @Sendable () -> Bool
    ) async -> BatchStateMachine.Action {
        guard traces != nil else { return await attempt(&machine, owned: owned) }
        // Traced commands travel alone: the traced delivery is the command's.
        let single: Int? = if case .single(let position) = scope { machine.delivery(ofCommand: position) } else { nil }
        return await traces!.attempt(single: single) {
            await attempt(&machine, owned: owned)
        } committed: { action in
            if case .finish = action { true } else { false }
        }
    }

    /// A batch whose channel closed before it was written: nothing of it was (or will be) applied
    /// here; the broker delivers it again, to this worker's next subscription or to another's.
    private func abandoned(_ batch: [AMQPDelivery]) {
        logger.info("batch dropped unapplied: its channel closed", metadata: ["batch.size": "\(batch.count)"])
        metrics.abandoned(batch.count)
    }

    /// A batch that could not be applied nor dead-lettered is never left unsettled for a later
    /// `multiple` ack to sweep up: the consumer is given up — its cancellation returns the batch
    /// to the queue — and the loop subscribes again after a growing back-off. On shutdown the
    /// loop's own cancellation returns it.
    private func giveUp(_ context: ConsumeLoop.Context) throws {
        guard !context.isStopping() else { return }
        throw BatchReturned()
    }

    /// The batch went back to the queue, to be tried again after a pause.
    struct BatchReturned: Error, CustomStringConvertible {
        var description: String { "the batch could neither be applied nor dead-lettered; returned to the queue" }
    }
}
