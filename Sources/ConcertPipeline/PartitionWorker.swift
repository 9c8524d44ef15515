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
/// Each batch — what the prefetch already holds — is decided by the partition's state machine
/// (`PartitionState`, seat maps in memory) and written with a fixed handful of set-based
/// statements in one transaction, then acknowledged with one `multiple` ack: never before the
/// commit. After the commit it schedules the batch's hold expiries (one message per schedule),
/// sends outcomes to the API processes waiting for them and announces ended queue tokens.
/// Redelivered commands are recognised by id. A message that is not a command this build can
/// apply, or whose handling keeps failing, goes to the dead letters with its reason; the rest of
/// the partition keeps flowing. While the database is down nothing is acknowledged and the batch
/// is retried with back-off. Memory starts empty at every subscription and is dropped whenever a
/// transaction's outcome is unknown or storage disagrees with it, so it is always loaded again
/// from what PostgreSQL committed. On graceful shutdown the current batch finishes, then the
/// consumer is cancelled.
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
        var memory = Memory(state: PartitionState(settings: settings), subscription: 0)
        await loop.run { context, batch in
            // A new subscription (another worker may have had the partition meanwhile): start from storage.
            if let subscription = batch.first?.subscription, subscription != memory.subscription {
                memory = Memory(state: PartitionState(settings: settings), subscription: subscription)
            }
            try await process(batch, context: context, memory: &memory)
        }
    }

    /// What the worker remembers between batches of one subscription.
    struct Memory {
        var state: PartitionState
        /// The consumer subscription the memory was built under.
        var subscription: UInt64
        /// Row ids of the schedules in memory.
        var scheduleIDs: [ScheduleKey: Int64] = [:]
    }

    /// One command and the delivery it came in.
    struct Received {
        let delivery: AMQPDelivery
        let envelope: CommandEnvelope
    }

    private func process(_ batch: [AMQPDelivery], context: ConsumeLoop.Context, memory: inout Memory) async throws {
        guard let first = batch.first, let last = batch.last else { return }
        let consumer = context.consumer
        // Once the channel a batch came through is gone, the broker has returned the batch to the
        // queue and another worker may be applying it: this one must not write any of it.
        let owned: @Sendable () -> Bool = { consumer.owns(first) && consumer.owns(last) }
        guard owned() else { return abandoned(batch) }
        var commands: [Received] = []
        commands.reserveCapacity(batch.count)
        for delivery in batch {
            let envelope: CommandEnvelope
            do {
                envelope = try CommandEnvelope.decode(delivery.body)
            } catch {
                guard await deadLetter(delivery, reason: error.description) else { return try giveUp(context) }
                continue
            }
            if let schedule = PartitionState.schedule(of: envelope), publisher.partition(of: schedule) != partition {
                // A replay into an old partition queue (the partition count changed): applying it
                // here would make this worker a second writer of the schedule's real partition.
                let reason = "wrong partition: the command's schedule belongs to partition \(publisher.partition(of: schedule)), not \(partition)"
                guard await deadLetter(delivery, reason: reason) else { return try giveUp(context) }
                continue
            }
            commands.append(Received(delivery: delivery, envelope: envelope))
        }
        guard let applied = await applyWithRetries(commands, memory: &memory, owned: owned, isStopping: context.isStopping) else {
            guard owned() else { return abandoned(batch) }
            return try giveUp(context)
        }
        guard await afterCommit(applied, commands: commands) else {
            // Committed, but its holds' expiries are not scheduled: acknowledged, the holds would
            // only end through the sweeper. The redelivery is recognised by id and schedules them.
            guard owned() else { return abandoned(batch) }
            return try giveUp(context)
        }
        do {
            try consumer.ack(last, multiple: true)
        } catch {
            // The connection dropped after the commit: the broker redelivers and the ids are recognised.
            logger.info("batch committed but not acknowledged", metadata: ["error": "\(error)"])
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

    /// What a committed batch leaves to do.
    struct Applied {
        var writes: [PartitionWrites] = []
        var redelivered = Redelivered()
    }

    /// Commands an earlier attempt applied already (its commit's answer lost, or the worker gone before its ack).
    struct Redelivered {
        /// Reservations whose expiry may not have been scheduled.
        var reservations: [CommandEnvelope] = []
        /// Their stored outcomes, for a client that may still be waiting.
        var outcomes: [CommandOutcome] = []

        static func += (left: inout Redelivered, right: Redelivered) {
            left.reservations += right.reservations
            left.outcomes += right.outcomes
        }
    }

    /// Schedules the expiries, sends the outcomes and announces ended tokens, all at once. False
    /// when the expiries could not be published (the batch must then not be acknowledged).
    private func afterCommit(_ applied: Applied, commands: [Received]) async -> Bool {
        let replyTo = Dictionary(commands.compactMap { received in received.delivery.properties.replyTo.map { (received.envelope.id, $0) } }) { first, _ in first }
        var expiries: [ScheduleKey: [UUID]] = [:]
        var outcomes: [(replyTo: String, outcome: CommandOutcome)] = []
        var ended: [EndedToken] = []
        for writes in applied.writes {
            for (schedule, holds) in writes.holdsToExpire { expiries[schedule, default: []] += holds }
            for outcome in writes.outcomes {
                if let queue = replyTo[outcome.envelope.id] { outcomes.append((queue, CommandOutcome(outcome))) }
            }
            ended += writes.endedTokens.map { EndedToken(concert: $0.concert, user: $0.user) }
        }
        for outcome in applied.redelivered.outcomes {
            if let queue = replyTo[outcome.commandID] { outcomes.append((queue, outcome)) }
        }
        for envelope in applied.redelivered.reservations {
            if let schedule = PartitionState.schedule(of: envelope) { expiries[schedule, default: []].append(envelope.id) }
        }
        let replying = outcomes
        let announcing = ended
        let expiring = expiries
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await replies.send(replying)
                return true
            }
            group.addTask {
                await replies.announce(announcing)
                return true
            }
            group.addTask { await scheduleExpiry(of: expiring) }
            return await group.allSatisfy { $0 }
        }
    }

    /// One expiry message for all the batch's holds (its schedules are all of this partition).
    private func scheduleExpiry(of holds: [ScheduleKey: [UUID]]) async -> Bool {
        guard let first = holds.keys.first else { return true }
        let expiry = CommandEnvelope(
            id: Self.expiryID(of: holds.values.flatMap { $0 }),
            userId: UserID("system")!,
            partitionKey: first.partitionKey,
            command: .expireHold(.init(holds: holds.map { .init(partitionKey: $0.key.partitionKey, reservationIds: $0.value) })),
            submittedAt: Date()
        )
        do {
            try await publisher.publishExpiry(expiry, schedule: first)
            return true
        } catch {
            // A hold past its deadline counts as free everywhere meanwhile, and the sweeper ends it.
            logger.warning(
                "hold expiry not scheduled; batch not acknowledged",
                metadata: ["holds": "\(holds.values.map(\.count).reduce(0, +))", "error": "\(error)"]
            )
            return false
        }
    }

    /// The id of the expiry message of a set of holds: derived from them, so that the message a
    /// redelivered batch publishes again is recognised as the same command (and needs no system
    /// call for randomness, as `UUID()` does).
    static func expiryID(of holds: [UUID]) -> UUID {
        var low: UInt64 = 0xcbf2_9ce4_8422_2325
        var high: UInt64 = 0x6c62_272e_07bb_0142
        // In the order of their text (`uuidString`, whose digits and dashes sort as the bytes do),
        // compared as two big-endian words: formatting them, as this once did, was a quarter of a
        // worker's CPU (`sprintf` for each comparison of the sort).
        let ordered = holds.map { id in
            withUnsafeBytes(of: id.uuid) { bytes in
                (UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)), UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
        }.sorted(by: <)
        func mix(_ word: UInt64) {
            for shift in stride(from: 56, through: 0, by: -8) {
                let byte = UInt64(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
                low = (low ^ byte) &* 0x0000_0100_0000_01b3
                high = (high ^ byte) &* 0x0000_0100_0000_01b3 &+ 0x9e37_79b9
            }
        }
        for (first, second) in ordered {
            mix(first)
            mix(second)
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: high >> (8 * index))
            bytes[8 + index] = UInt8(truncatingIfNeeded: low >> (8 * index))
        }
        bytes[6] = 0x80 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    /// Applies the batch in one transaction, retried while the database is away; if it keeps
    /// failing for another reason, applies its commands one by one, so that only the failing
    /// one is dead-lettered. `nil` when the batch must not be acknowledged.
    private func applyWithRetries(
        _ commands: [Received],
        memory: inout Memory,
        owned: @Sendable () -> Bool,
        isStopping: @Sendable () -> Bool
    ) async -> Applied? {
        guard !commands.isEmpty else { return Applied() }
        var applied = Applied()
        switch await applyUntilDatabaseAnswers(commands, memory: &memory, attempts: 2, mayBeApplied: false, owned: owned, isStopping: isStopping) {
        case .applied(let writes, let redelivered):
            applied.writes.append(writes)
            applied.redelivered = redelivered
            return applied
        case .stopped:
            return nil
        case .failed(let error):
            logger.warning("batch failed; applying its commands one by one", metadata: ["error": "\(String(reflecting: error))"])
        }
        for command in commands {
            // An earlier attempt's outcome may have been unknown: look for the command among the completed.
            switch await applyUntilDatabaseAnswers([command], memory: &memory, attempts: 3, mayBeApplied: true, owned: owned, isStopping: isStopping) {
            case .applied(let writes, let redelivered):
                applied.writes.append(writes)
                applied.redelivered += redelivered
            case .stopped:
                return nil
            case .failed(let error):
                guard await deadLetter(command.delivery, reason: "handler failed: \(String(describing: error).prefix(500))") else { return nil }
            }
        }
        return applied
    }

    private enum Attempt {
        case applied(PartitionWrites, redelivered: Redelivered)
        case failed(any Error)
        case stopped
    }

    /// One transaction for `envelopes`, retried with back-off for as long as the database is
    /// unreachable (or answers with a transient error), and up to `attempts` times for other
    /// errors; given up without a verdict when shutdown begins or the batch's channel closes.
    /// Every retry first looks for the commands among the completed: a commit whose answer was
    /// lost has applied them already. A write storage refused as stale (another writer changed
    /// the partition) is decided again from storage, up to `staleAttempts` times.
    private func applyUntilDatabaseAnswers(
        _ commands: [Received],
        memory: inout Memory,
        attempts: Int,
        mayBeApplied: Bool,
        owned: @Sendable () -> Bool,
        isStopping: @Sendable () -> Bool
    ) async -> Attempt {
        var pause = Duration.milliseconds(100)
        var failures = 0
        var stale = 0
        var mayBeApplied = mayBeApplied
        while true {
            do {
                let (writes, redelivered) = try await apply(commands, memory: &memory, mayBeApplied: mayBeApplied, owned: owned)
                return .applied(writes, redelivered: redelivered)
            } catch is BatchNotOwned {
                return .stopped
            } catch let error where (error as? PSQLError)?.isStaleWrite == true || error is MemoryBehindStorage {
                stale += 1
                metrics.staleWriteRefused()
                if stale >= Self.staleAttempts { return .failed(error) }
                logger.warning("storage refused a stale write (another writer changed the partition); deciding again from storage")
                mayBeApplied = true
                if stale == 1 { continue }
            } catch let error as PSQLError where error.isTransient {
                logger.warning("database unavailable; batch not acknowledged, retrying", metadata: ["retry.in": "\(pause)", "error": "\(error.sqlState ?? "connection")"])
            } catch is ConnectionLost {
                logger.warning("database connection lost; batch not acknowledged, retrying", metadata: ["retry.in": "\(pause)"])
            } catch {
                failures += 1
                if failures >= attempts { return .failed(error) }
                mayBeApplied = true
                continue
            }
            mayBeApplied = true
            let resume = ContinuousClock.now + pause
            while ContinuousClock.now < resume {
                if Task.isCancelled || isStopping() { return .stopped }
                try? await Task.sleep(for: min(.milliseconds(100), resume - ContinuousClock.now))
            }
            pause = min(pause * 2, .seconds(5))
        }
    }

    /// How many times a batch is decided again after storage refused its write as stale.
    static let staleAttempts = 8

    /// The batch's channel closed while it was being applied: nothing was written.
    struct BatchNotOwned: Error {}

    /// Storage has a live reservation this memory never saw (another writer's): nothing was written.
    struct MemoryBehindStorage: Error {}

    /// Decides the commands and writes their outcome atomically. Memory follows: committed,
    /// undone after a rollback, or forgotten when the outcome is unknown or storage disagreed.
    /// Nothing is written once `owned` turns false (checked before the write and before the commit).
    private func apply(
        _ commands: [Received],
        memory: inout Memory,
        mayBeApplied: Bool,
        owned: @Sendable () -> Bool
    ) async throws -> (PartitionWrites, Redelivered) {
        let logger = logger
        let started = ContinuousClock.now
        do {
            let result = try await database.withConnection { connection in
                var batch = BatchConnection(connection: connection, logger: logger)
                do {
                    let result = try await decideAndWrite(commands, mayBeApplied: mayBeApplied, owned: owned, batch: &batch, memory: &memory)
                    guard owned() else { throw BatchNotOwned() }
                    try await batch.commit()
                    return result
                } catch {
                    await batch.rollback()
                    throw error
                }
            }
            memory.state.commit()
            metrics.committed(result.0.outcomes, elapsed: ContinuousClock.now - started)
            return result
        } catch let error as PSQLError where error.isConstraintViolation || error.isStaleWrite || error.isTransient {
            // Storage disagreed with memory, or the outcome is unknown: start again from storage.
            forget(&memory)
            throw error
        } catch is BatchNotOwned {
            // Another worker owns the partition now: this memory is no guide to what it writes.
            forget(&memory)
            throw BatchNotOwned()
        } catch is MemoryBehindStorage {
            forget(&memory)
            throw MemoryBehindStorage()
        } catch is ConnectionLost {
            forget(&memory)
            throw ConnectionLost()
        } catch {
            // A definite rollback.
            memory.state.rollback()
            throw error
        }
    }

    private func forget(_ memory: inout Memory) {
        memory.state.forgetEverything()
        memory.scheduleIDs.removeAll()
    }

    /// A batch's statements on one connection. Reads run before any transaction: the worker is its
    /// schedules' only writer, and the unique indexes catch the one overlap there can be (a former
    /// worker's last batch committing late). Writes are atomic: a batch that only holds seats and
    /// records outcomes is one statement, committed on its own; one that debits wallets or changes
    /// older reservations opens a transaction for them and its final write.
    struct BatchConnection {
        let connection: PostgresConnection
        let logger: Logger
        private(set) var inTransaction = false

        init(connection: PostgresConnection, logger: Logger) {
            self.connection = connection
            self.logger = logger
        }

        var store: PartitionStore { PartitionStore(connection: connection, logger: logger) }

        mutating func begin() async throws {
            guard !inTransaction else { return }
            try await connection.execute("BEGIN" as PostgresQuery, logger: logger)
            inTransaction = true
        }

        mutating func commit() async throws {
            guard inTransaction else { return }
            try await connection.execute("COMMIT" as PostgresQuery, logger: logger)
            inTransaction = false
        }

        mutating func rollback() async {
            guard inTransaction else { return }
            inTransaction = false
            try? await connection.execute("ROLLBACK" as PostgresQuery, logger: logger)
        }
    }

    private func decideAndWrite(
        _ commands: [Received],
        mayBeApplied: Bool,
        owned: () -> Bool,
        batch: inout BatchConnection,
        memory: inout Memory
    ) async throws -> (PartitionWrites, Redelivered) {
        let envelopes = commands.map(\.envelope)
        let store = batch.store
        // Only a retry, a message delivered before or one replayed from the dead letters can have been applied already.
        let maybeApplied = mayBeApplied
            || commands.contains { $0.delivery.redelivered || $0.delivery.properties.headers["x-concert-replayed-from"] != nil }
        let done = maybeApplied ? try await store.completed(envelopes.map(\.id)) : [:]
        let pending = done.isEmpty ? envelopes : envelopes.filter { done[$0.id] == nil }
        var redelivered = Redelivered()
        for envelope in envelopes {
            guard let stored = done[envelope.id] else { continue }
            if envelope.command.type == .reserveSeat { redelivered.reservations.append(envelope) }
            let failure = stored.errorCode.map { FailureCode(rawValue: $0) }
            if failure != .some(nil) {
                redelivered.outcomes.append(CommandOutcome(commandID: envelope.id, type: envelope.command.type, failure: failure ?? nil, resultJSON: stored.resultJSON))
            }
        }
        let loadedAt = Date()
        let missing = memory.state.schedulesToLoad(for: pending, now: loadedAt)
        if !missing.isEmpty {
            let loaded = try await store.loadSchedules(missing)
            for key in missing {
                memory.state.install(key, loaded[key]?.seats, now: loadedAt)
                memory.scheduleIDs[key] = loaded[key]?.id
            }
        }
        let lookUp = memory.state.reservationsToLookUp(for: pending)
        if !lookUp.isEmpty {
            let found = try await store.reservationFacts(lookUp)
            // Storage has a live reservation memory never saw: decide nothing on this memory.
            if memory.state.isBehind(found) { throw MemoryBehindStorage() }
            memory.state.remember(found)
        }

        let now = Date()
        var writes = PartitionWrites()
        var debits: [PartitionState.Debit] = []
        for envelope in pending {
            var decision = memory.state.handle(envelope, now: now)
            if case .awaitingDebits = decision {
                try await settle(&debits, batch: &batch, state: &memory.state, writes: &writes, now: now)
                decision = memory.state.handle(envelope, now: now)
            }
            switch decision {
            case .decided(let outcome): writes.add(outcome)
            case .debit(let debit): debits.append(debit)
            case .awaitingDebits: throw WorkerError.debitNotInFlight
            }
        }
        try await settle(&debits, batch: &batch, state: &memory.state, writes: &writes, now: now)
        let before = memory.state.seatsBeforeBatch()
        let seats = writes.touchedSeats.flatMap { schedule, numbers in
            numbers.compactMap { number -> PartitionStore.SeatRow? in
                guard let id = memory.scheduleIDs[schedule], let map = memory.state.seatMap(schedule), let seat = map.seats[number] else { return nil }
                return PartitionStore.SeatRow(
                    scheduleID: id,
                    number: number,
                    reservation: seat.reservationID.flatMap { map.reservations[$0] },
                    expected: before[schedule]?[number] ?? seat.reservationID
                )
            }
        }
        guard owned() else { throw BatchNotOwned() }
        if !writes.statusChanges.isEmpty { try await batch.begin() }
        if !writes.outcomes.isEmpty { try await store.write(writes, seats: seats, scheduleIDs: memory.scheduleIDs) }
        return (writes, redelivered)
    }

    /// Runs the debits in flight (one statement, in the batch's transaction) and decides their payments.
    private func settle(
        _ debits: inout [PartitionState.Debit],
        batch: inout BatchConnection,
        state: inout PartitionState,
        writes: inout PartitionWrites,
        now: Date
    ) async throws {
        guard !debits.isEmpty else { return }
        try await batch.begin()
        let results = try await batch.store.debit(debits)
        for debit in debits {
            if let outcome = state.completeDebit(debit.commandID, results[debit.commandID] ?? .insufficient, now: now) { writes.add(outcome) }
        }
        debits.removeAll()
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

/// A state the worker should never reach; the batch is retried and, failing again, its commands dead-lettered.
enum WorkerError: Error, CustomStringConvertible {
    case debitNotInFlight

    var description: String {
        switch self {
        case .debitNotInFlight: "a command waits for a debit that is not in flight"
        }
    }
}
