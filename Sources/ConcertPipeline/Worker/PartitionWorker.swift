public import AMQPClient
public import ConcertDomain
import ConcertStorage
public import Foundation
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
    }

    public func run() async throws {
        if subscribeAfter > .zero { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: subscribeAfter) } }
        // Poison isolation: after a crash, the returned messages are taken one at a time until a fresh one comes.
        let loop = ConsumeLoop(connection: connection, queue: PipelineTopology.partitionQueue(partition), prefetch: prefetch, isolateAfter: 1, logger: logger)
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
        var action = machine.receive(batch.map(BatchStateMachine.Incoming.init), subscription: first.subscription)
        var scope = BatchStateMachine.Scope.batch
        while true {
            switch action {
            case .deadLetter(let index, let reason):
                action = machine.deadLettered(await deadLetter(batch[index], reason: reason))
            case .apply(let next):
                if case .single = next, scope == .batch { logger.warning("batch failed; applying its commands one by one") }
                scope = next
                action = await attempt(&machine, owned: owned)
            case .retry(let next, let pause):
                scope = next
                guard await Backoff.pause(pause, unless: context.isStopping) else { return owned() ? try giveUp(context) : abandoned(batch) }
                action = await attempt(&machine, owned: owned)
            case .finish(let after):
                guard await finish(after) else {
                    // Committed, but its holds' expiries are not scheduled: acknowledged, the holds would
                    // only end through the sweeper. The redelivery is recognised by id and schedules them.
                    return owned() ? try giveUp(context) : abandoned(batch)
                }
                do {
                    try consumer.ack(last, multiple: true)
                } catch {
                    // The connection dropped after the commit: the broker redelivers and the ids are recognised.
                    logger.info("batch committed but not acknowledged", metadata: ["error": "\(error)"])
                }
                return
            case .returnBatch:
                return owned() ? try giveUp(context) : abandoned(batch)
            case .stop:
                return owned() ? try giveUp(context) : abandoned(batch)
            }
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

    /// One attempt: the machine's storage steps on one connection, ended by a commit or a rollback.
    private func attempt(_ machine: inout BatchStateMachine, owned: @Sendable () -> Bool) async -> BatchStateMachine.Action {
        let logger = logger
        let started = ContinuousClock.now
        do {
            let committed = try await database.withConnection { connection in
                var transaction = BatchTransaction(connection: connection, logger: logger)
                do {
                    let committed = try await runSteps(&machine, store: PartitionStore(connection: connection, logger: logger), transaction: &transaction, owned: owned)
                    return committed
                } catch {
                    await transaction.rollback()
                    throw error
                }
            }
            metrics.committed(committed, elapsed: ContinuousClock.now - started)
            return machine.committed()
        } catch {
            let failure = Self.classify(error)
            switch failure {
            case .stale:
                metrics.staleWriteRefused()
                logger.warning("storage refused a stale write (another writer changed the partition); deciding again from storage")
            case .unavailable:
                logger.warning("database unavailable; batch not acknowledged, retrying", metadata: ["error": "\((error as? PSQLError)?.sqlState ?? "connection")"])
            case .conflict, .rejected:
                logger.warning("batch attempt failed", metadata: ["error": "\(String(reflecting: error))"])
            case .notOwned:
                break
            }
            return machine.attemptFailed(failure)
        }
    }

    /// Runs the attempt's steps until its commit; returns its outcome count.
    private func runSteps(
        _ machine: inout BatchStateMachine,
        store: PartitionStore,
        transaction: inout BatchTransaction,
        owned: () -> Bool
    ) async throws -> [Outcome] {
        var step = machine.startAttempt(now: Date())
        while true {
            switch step {
            case .lookUpCompleted(let ids):
                step = machine.completedFound(try await store.completed(ids), now: Date())
            case .loadSchedules(let keys):
                step = machine.schedulesLoaded(try await store.loadSchedules(keys), now: Date())
            case .lookUpReservations(let ids):
                step = machine.reservationsFound(try await store.reservationFacts(ids), now: Date())
            case .debit(let debits):
                try await transaction.begin()
                step = machine.debited(try await store.debit(debits))
            case .write(let writes, let seats, let scheduleIDs, let inTransaction):
                guard owned() else { throw Failed(failure: .notOwned) }
                if inTransaction { try await transaction.begin() }
                try await store.write(writes, seats: seats, scheduleIDs: scheduleIDs)
                guard owned() else { throw Failed(failure: .notOwned) }
                try await transaction.commit()
                return writes.outcomes
            case .commit:
                guard owned() else { throw Failed(failure: .notOwned) }
                try await transaction.commit()
                return []
            case .fail(let failure):
                throw Failed(failure: failure)
            }
        }
    }

    /// An attempt the machine or the worker ended.
    struct Failed: Error {
        let failure: BatchStateMachine.Failure
    }

    /// What an error means for the batch.
    static func classify(_ error: any Error) -> BatchStateMachine.Failure {
        if let failed = error as? Failed { return failed.failure }
        if error is ConnectionLost { return .unavailable }
        if let error = error as? PSQLError {
            if error.isStaleWrite { return .stale(String(describing: error)) }
            if error.isTransient { return .unavailable }
            if error.isConstraintViolation { return .conflict(String(describing: error)) }
        }
        return .rejected(String(describing: error))
    }

    /// Schedules the expiries, sends the outcomes and announces ended tokens, all at once. False
    /// when the expiries could not be published (the batch must then not be acknowledged).
    private func finish(_ after: BatchStateMachine.AfterCommit) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await replies.send(after.replies)
                return true
            }
            group.addTask {
                await replies.announce(after.endedTokens)
                return true
            }
            group.addTask { await scheduleExpiry(of: after.holdsToExpire) }
            return await group.allSatisfy { $0 }
        }
    }

    /// One expiry message for all the batch's holds (its schedules are all of this partition).
    private func scheduleExpiry(of holds: [(schedule: ScheduleKey, reservations: [UUID])]) async -> Bool {
        guard let expiry = HoldExpiry.command(for: holds, at: Date()) else { return true }
        do {
            try await publisher.publishExpiry(expiry, schedule: holds[0].schedule)
            return true
        } catch {
            // A hold past its deadline counts as free everywhere meanwhile, and the sweeper ends it.
            logger.warning(
                "hold expiry not scheduled; batch not acknowledged",
                metadata: ["holds": "\(holds.map(\.reservations.count).reduce(0, +))", "error": "\(error)"]
            )
            return false
        }
    }

    /// Sends a delivery to the dead-letter exchange with why; it is then acknowledged with its batch.
    /// Returns false when that was not possible (the batch must then not be acknowledged).
    private func deadLetter(_ delivery: AMQPDelivery, reason: String) async -> Bool {
        var properties = delivery.properties
        properties.headers["x-concert-reason"] = .string(reason)
        properties.headers["x-concert-original-exchange"] = .string(delivery.exchange)
        properties.headers["x-concert-original-routing-key"] = .string(delivery.routingKey)
        properties.headers["x-concert-partition"] = .int(Int64(partition))
        if properties.messageId == nil { properties.messageId = UUID().lowercasedString }
        do {
            try await connection.publish(
                exchange: PipelineTopology.deadLetterExchange,
                routingKey: delivery.routingKey,
                body: delivery.body,
                properties: properties,
                mandatory: true
            )
            logger.warning("command dead-lettered", metadata: ["reason": "\(reason)", "message.id": "\(properties.messageId ?? "")"])
            metrics.deadLettered(type: delivery.properties.type)
            return true
        } catch {
            logger.error("could not dead-letter a command; requeueing the batch", metadata: ["error": "\(error)"])
            return false
        }
    }
}

/// A batch's statements on one connection. Reads run before any transaction: the worker is its
/// schedules' only writer, and the unique indexes catch the one overlap there can be (a former
/// worker's last batch committing late). Writes are atomic: a batch that only holds seats and
/// records outcomes is one statement, committed on its own; one that debits wallets or changes
/// older reservations opens a transaction for them and its final write.
struct BatchTransaction {
    let connection: PostgresConnection
    let logger: Logger
    private(set) var isOpen = false

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    mutating func begin() async throws {
        guard !isOpen else { return }
        try await connection.execute("BEGIN" as PostgresQuery, logger: logger)
        isOpen = true
    }

    mutating func commit() async throws {
        guard isOpen else { return }
        try await connection.execute("COMMIT" as PostgresQuery, logger: logger)
        isOpen = false
    }

    mutating func rollback() async {
        guard isOpen else { return }
        isOpen = false
        try? await connection.execute("ROLLBACK" as PostgresQuery, logger: logger)
    }
}
