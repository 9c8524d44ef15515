public import AMQPClient
import ConcertDomain
import ConcertStorage
public import Foundation
public import Logging
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// The single writer of one partition: consumes `concert.commands.p<n>` (a single-active-consumer
/// queue, so only one worker among all processes is active for it) and applies its commands in order.
///
/// Each batch — what the prefetch already holds — is applied in one transaction, then
/// acknowledged with one `multiple` ack: never before the commit. Redelivered commands are
/// recognised by id. A message that is not a command this build can apply, or whose handler keeps
/// failing, goes to the dead letters with its reason; the rest of the partition keeps flowing.
/// While the database is down nothing is acknowledged and the batch is retried with back-off.
/// On graceful shutdown the current batch finishes, then the consumer is cancelled.
public struct PartitionWorker: Service {
    let partition: Int
    let connection: AMQPConnection
    let database: PostgresClient
    let publisher: CommandPublisher
    let holdSeconds: TimeInterval
    let prefetch: UInt16
    /// How long to wait before subscribing: a worker subscribes at once to the partitions it
    /// prefers and later to the others, so that with single active consumers each process ends up
    /// active for its own share and standing by for the rest.
    let subscribeAfter: Duration
    let logger: Logger

    public init(
        partition: Int,
        connection: AMQPConnection,
        database: PostgresClient,
        publisher: CommandPublisher,
        holdSeconds: TimeInterval,
        prefetch: UInt16 = 128,
        subscribeAfter: Duration = .zero,
        logger: Logger
    ) {
        self.partition = partition
        self.connection = connection
        self.database = database
        self.publisher = publisher
        self.holdSeconds = holdSeconds
        self.prefetch = prefetch
        self.subscribeAfter = subscribeAfter
        var logger = logger
        logger[metadataKey: "partition"] = "\(partition)"
        self.logger = logger
    }

    public func run() async throws {
        let lifecycle = Lifecycle()
        await withGracefulShutdownHandler {
            var state = PartitionState()
            if subscribeAfter > .zero { try? await Task.sleep(for: subscribeAfter) }
            while !lifecycle.isStopping, !Task.isCancelled {
                do {
                    try await connection.waitUntilConnected(timeout: .seconds(3600))
                    let consumer = try await connection.consume(queue: PipelineTopology.partitionQueue(partition), prefetch: prefetch)
                    guard lifecycle.started(consumer) else {
                        consumer.requestCancel()
                        return
                    }
                    for try await batch in consumer.batches {
                        guard lifecycle.beginBatch() else { break }
                        await process(batch, consumer: consumer, state: &state)
                        guard lifecycle.endBatch() else { break }
                    }
                } catch {
                    logger.warning("partition consumer ended; resubscribing", metadata: ["error": "\(String(reflecting: error))"])
                }
                if !lifecycle.isStopping { try? await Task.sleep(for: .seconds(1)) }
            }
        } onGracefulShutdown: {
            lifecycle.stop()
        }
    }

    /// The partition's memory: seat maps of the schedules seen, valid for one connection incarnation.
    struct PartitionState {
        var schedules: [ScheduleKey: PartitionStore.LoadedSchedule] = [:]
        var generation: UInt64 = 0
    }

    private func process(_ batch: [AMQPDelivery], consumer: AMQPConsumer, state: inout PartitionState) async {
        guard let last = batch.last else { return }
        if last.connectionGeneration != state.generation {
            // A reconnect: another worker may have been active meanwhile, so reload from storage.
            state.schedules.removeAll()
            state.generation = last.connectionGeneration
        }
        var commands: [(delivery: AMQPDelivery, envelope: CommandEnvelope)] = []
        for delivery in batch {
            do {
                commands.append((delivery, try CommandEnvelope.decode(delivery.body)))
            } catch {
                guard await deadLetter(delivery, reason: error.description) else { return }
            }
        }
        logger.trace("batch received", metadata: ["batch.size": "\(batch.count)"])
        guard let expiries = await applyWithRetries(commands, state: &state) else { return }
        logger.trace("batch committed", metadata: ["batch.size": "\(batch.count)"])
        for (expiry, schedule) in expiries {
            do {
                try await publisher.publishExpiry(expiry, schedule: schedule)
            } catch {
                // The hold still ends: a hold past its deadline counts as free everywhere.
                logger.warning("hold expiry not scheduled", metadata: ["command.id": "\(expiry.id)", "error": "\(error)"])
            }
        }
        do {
            try consumer.ack(last, multiple: true)
            logger.trace("batch acknowledged", metadata: ["batch.size": "\(batch.count)"])
        } catch {
            // The connection dropped after the commit: the broker redelivers and the ids are recognised.
            logger.info("batch committed but not acknowledged", metadata: ["error": "\(error)"])
        }
    }

    /// Applies the batch in one transaction; if it fails for a reason other than the database being
    /// away, applies the commands one by one so that only the failing one is dead-lettered.
    /// Returns the expiries to publish, or `nil` when the batch must not be acknowledged.
    private func applyWithRetries(
        _ commands: [(delivery: AMQPDelivery, envelope: CommandEnvelope)],
        state: inout PartitionState
    ) async -> [(CommandEnvelope, ScheduleKey)]? {
        guard !commands.isEmpty else { return [] }
        switch await applyUntilDatabaseAnswers(commands.map(\.envelope), state: &state) {
        case .applied(let expiries):
            return expiries
        case .stopped:
            return nil
        case .failed(let error):
            logger.warning("batch failed; applying its commands one by one", metadata: ["error": "\(String(reflecting: error))"])
        }
        var expiries: [(CommandEnvelope, ScheduleKey)] = []
        for (delivery, envelope) in commands {
            var attempts = 0
            while true {
                switch await applyUntilDatabaseAnswers([envelope], state: &state) {
                case .applied(let more):
                    expiries += more
                case .stopped:
                    return nil
                case .failed(let error):
                    attempts += 1
                    if attempts < 3 { continue }
                    guard await deadLetter(delivery, reason: "handler failed: \(String(describing: error).prefix(500))") else { return nil }
                }
                break
            }
        }
        return expiries
    }

    private enum Attempt {
        case applied([(CommandEnvelope, ScheduleKey)])
        case failed(any Error)
        case stopped
    }

    /// One transaction for `envelopes`, retried with back-off for as long as the database is unreachable.
    private func applyUntilDatabaseAnswers(_ envelopes: [CommandEnvelope], state: inout PartitionState) async -> Attempt {
        var pause = Duration.milliseconds(100)
        while true {
            do {
                let (schedules, expiries) = try await applyInTransaction(envelopes, schedules: state.schedules)
                state.schedules = schedules
                return .applied(expiries)
            } catch let error as PSQLError where error.isUnavailability {
                logger.warning("database unavailable; batch not acknowledged, retrying", metadata: ["retry.in": "\(pause)"])
            } catch is ConnectionLost {
                logger.warning("database connection lost; batch not acknowledged, retrying", metadata: ["retry.in": "\(pause)"])
            } catch {
                return .failed(error)
            }
            if Task.isCancelled { return .stopped }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(5))
        }
    }

    private func applyInTransaction(
        _ envelopes: [CommandEnvelope],
        schedules: [ScheduleKey: PartitionStore.LoadedSchedule]
    ) async throws -> ([ScheduleKey: PartitionStore.LoadedSchedule], [(CommandEnvelope, ScheduleKey)]) {
        let holdSeconds = holdSeconds
        let logger = logger
        let (schedules, expiries, outcomes) = try await database.withUnwrappedTransaction(logger: logger) { connection in
            let store = PartitionStore(connection: connection, logger: logger)
            let done = try await store.completed(envelopes.map(\.id))
            var applier = CommandApplier(store: store, holdSeconds: holdSeconds, schedules: schedules)
            let now = Date()
            for envelope in envelopes where !done.contains(envelope.id) {
                try await applier.apply(envelope, now: now)
            }
            return (applier.schedules, applier.expiries, applier.outcomes)
        }
        let committedAt = Date()
        for (envelope, failure) in outcomes {
            PipelineMetrics.applied(envelope.command.type, failure: failure, submittedAt: envelope.submittedAt, committedAt: committedAt)
        }
        PipelineMetrics.batch(size: envelopes.count, partition: partition)
        return (schedules, expiries)
    }

    /// Sends a delivery to the dead-letter exchange with why, then it is acknowledged with its batch.
    /// Returns false when that was not possible (the batch must then not be acknowledged).
    private func deadLetter(_ delivery: AMQPDelivery, reason: String) async -> Bool {
        var properties = delivery.properties
        properties.headers["x-concert-reason"] = .string(reason)
        properties.headers["x-concert-original-exchange"] = .string(delivery.exchange)
        properties.headers["x-concert-original-routing-key"] = .string(delivery.routingKey)
        properties.headers["x-concert-partition"] = .int(Int64(partition))
        if properties.messageId == nil { properties.messageId = UUID().uuidString.lowercased() }
        do {
            try await connection.publish(
                exchange: PipelineTopology.deadLetterExchange,
                routingKey: delivery.routingKey,
                body: delivery.body,
                properties: properties,
                mandatory: true
            )
            logger.warning("command dead-lettered", metadata: ["reason": "\(reason)", "message.id": "\(properties.messageId ?? "")"])
            PipelineMetrics.deadLettered(type: delivery.properties.type, partition: partition)
            return true
        } catch {
            logger.error("could not dead-letter a command; leaving it unacknowledged", metadata: ["error": "\(error)"])
            return false
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

    /// Graceful shutdown: an idle consumer is cancelled at once, a busy one after its batch.
    func stop() {
        state.withLock { state in
            state.stopping = true
            if !state.busy { state.consumer?.requestCancel() }
        }
    }
}
