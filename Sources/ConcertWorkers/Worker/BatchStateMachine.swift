public import AMQPClient
public import ConcertDomain
import ConcertPipeline
public import ConcertStorage
import ConcertWire
public import Foundation

/// Everything a partition worker decides about a batch of deliveries, as a pure state machine:
/// events in, actions out, no I/O and no clock (times come with the events).
///
/// It owns the partition's memory between batches (`PartitionState` and the schedules' row ids)
/// and, for each batch, the rules of applying it: decode and check each delivery and each command
/// of a bundle (what cannot be applied is dead-lettered, a bundle's command alone), apply the batch in one transaction, retry while the database is away
/// (with back-off) or storage refused a stale write (decided again from storage), fall back to one
/// command at a time when the batch keeps failing (only the failing one is dead-lettered), look
/// for commands an earlier attempt may have applied, and say what follows a commit (replies,
/// hold expiries, ended tokens). `PartitionWorker` only performs what it answers.
///
/// A batch runs: `receive` → `.deadLetter` (answered by `deadLettered`) while deliveries cannot be
/// applied → `.apply` or `.retry` (the worker takes a database connection and runs the attempt's
/// `Step`s, starting with `startAttempt`) → `committed` or `attemptFailed` → … → `.finish` (do
/// what follows the commit, then acknowledge the batch), `.returnBatch` (give the consumer up so
/// the broker delivers the batch again) or `.stop` (give up without a verdict: shutdown, or the
/// batch's channel closed and another worker may be applying it).
public struct BatchStateMachine: Sendable {
    /// How many times a batch is decided again after storage refused its write as stale.
    public static let staleAttempts = 8
    /// Attempts of the whole batch, then of each command alone, for failures other than an outage or a stale write.
    public static let batchAttempts = 2
    public static let singleAttempts = 3
    /// The pause before retrying while the database is away.
    public static let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))

    public let partition: Int
    /// The partition of a schedule.
    let partitionOf: @Sendable (ScheduleKey) -> Int
    public private(set) var state: PartitionState
    /// Row ids of the schedules in memory.
    private var scheduleIDs: [ScheduleKey: Int64] = [:]
    /// The consumer subscription the memory was built under.
    private var subscription: UInt64?
    private var batch = Batch()
    /// True while the batch in hand goes one by one on purpose: it carries an operator's command,
    /// or a bundle that came back after its worker stopped without settling it.
    public private(set) var goesOneByOne = false
    private var attempt = Attempt()

    public init(partition: Int, settings: PartitionState.Settings, partitionOf: @escaping @Sendable (ScheduleKey) -> Int) {
        self.partition = partition
        self.partitionOf = partitionOf
        state = PartitionState(settings: settings)
    }

    /// The batch in hand.
    private struct Batch {
        var incoming: [Incoming] = []
        var commands: [(delivery: Int, envelope: CommandEnvelope)] = []
        var rejected: [(delivery: Int, reason: String, command: BundledCommand?)] = []
        /// The batch is a bundle that came back after its worker stopped without settling it (a
        /// crash, a kill), alone: the consumer takes returned messages one at a time
        /// (`ConsumeLoop`'s poison isolation), so a suspect is always a batch of its own. A returned
        /// bundle among fresh messages is the one the consumer's switch to its full prefetch handed
        /// back, and goes with the batch.
        var returnedBundleAlone = false
        /// A bundle on its last delivery before the broker would dead-letter all of it: the position
        /// of its first command not yet known to be completed, the one that was in hand when the
        /// worker stopped (one by one, the commands before it committed).
        var suspect: Int?
        var scope = Scope.batch
        var mayBeApplied = false
        var failures = 0
        var stale = 0
        var waits = 0
        var after = AfterCommit()
        var expiries: [ScheduleKey: [UUID]] = [:]
    }

    /// The attempt in hand.
    private struct Attempt {
        var pending: [CommandEnvelope] = []
        /// The schedules asked for, and when.
        var loading: [ScheduleKey] = []
        var loadedAt = Date.distantPast
        var next = 0
        var writes = PartitionWrites()
        var debits: [PartitionState.Debit] = []
        var redeliveredOutcomes: [CommandOutcome] = []
        var redeliveredReservations: [CommandEnvelope] = []
        var now = Date.distantPast
        var inTransaction = false
    }

    // MARK: - Batches

    /// A new batch, from consumer subscription `subscription`. Memory built under another
    /// subscription (another worker may have had the partition meanwhile) is dropped first.
    public mutating func receive(_ deliveries: [Incoming], subscription: UInt64) -> Action {
        if self.subscription != subscription {
            forget()
            self.subscription = subscription
        }
        batch = Batch(incoming: deliveries)
        batch.commands.reserveCapacity(deliveries.count)
        for (index, delivery) in deliveries.enumerated() {
            guard delivery.isBundle else {
                accept(delivery.body, of: index, bundled: nil)
                continue
            }
            let lines = CommandBundle.lines(delivery.body)
            guard !lines.isEmpty else {
                batch.rejected.append((index, "an empty bundle", nil))
                continue
            }
            let first = batch.commands.count
            for (line, body) in lines.enumerated() { accept(body, of: index, bundled: line) }
            if delivery.returns > 0, deliveries.count == 1 { batch.returnedBundleAlone = true }
            if delivery.returns >= PipelineTopology.deliveryLimit - 1, batch.suspect == nil, first < batch.commands.count { batch.suspect = first }
        }
        return nextRejectedOrApply()
    }

    /// Decodes and checks one command: into the batch, or to the rejected with why.
    private mutating func accept(_ body: [UInt8], of delivery: Int, bundled line: Int?) {
        let envelope: CommandEnvelope
        do {
            envelope = try CommandEnvelope.decode(body)
        } catch {
            let alone = line.map { BundledCommand(body: body, messageID: Self.lineID(batch.incoming[delivery], $0), type: nil) }
            batch.rejected.append((delivery, error.description, alone))
            return
        }
        if let schedule = PartitionState.schedule(of: envelope), partitionOf(schedule) != partition {
            // A replay into an old partition queue (the partition count changed): applying it
            // here would make this worker a second writer of the schedule's real partition.
            let reason = "wrong partition: the command's schedule belongs to partition \(partitionOf(schedule)), not \(partition)"
            batch.rejected.append((delivery, reason, line.map { _ in BundledCommand(envelope) }))
            return
        }
        batch.commands.append((delivery, envelope))
    }

    /// The message id a bundle's undecodable line goes to the dead letters with.
    private static func lineID(_ delivery: Incoming, _ line: Int) -> String {
        "\(delivery.messageID ?? "bundle")#\(line + 1)"
    }

    /// The delivery a command of the batch came in.
    public func delivery(ofCommand position: Int) -> Int {
        batch.commands[position].delivery
    }

    /// Whether the dead-lettering asked for worked.
    public mutating func deadLettered(_ succeeded: Bool) -> Action {
        guard succeeded else { return .returnBatch }
        if case .single = batch.scope { return nextSingle() }
        return nextRejectedOrApply()
    }

    private mutating func nextRejectedOrApply() -> Action {
        if !batch.rejected.isEmpty {
            let (delivery, reason, command) = batch.rejected.removeFirst()
            return .deadLetter(delivery: delivery, reason: reason, command: command)
        }
        guard !batch.commands.isEmpty else { return .finish(afterCommit()) }
        // An operator's command goes alone (a seat map changes what the rest of the batch decides
        // on, and memory is loaded again after its commit; a refund credits a wallet the batch's
        // payments must see committed), and so does each command of a bundle that came back after
        // its worker stopped (if one of them crashed it, the others commit before it and the broker's
        // count of returns points at it): the whole batch then goes command by command.
        if batch.returnedBundleAlone || batch.commands.contains(where: { $0.envelope.command.isApart }) {
            goesOneByOne = true
            return beginSingle(at: 0)
        }
        goesOneByOne = false
        batch.mayBeApplied = batch.commands.contains { batch.incoming[$0.delivery].mayBeApplied }
        return .apply(.batch)
    }

    /// The next command of the one-by-one fallback, or the end of the batch.
    private mutating func nextSingle() -> Action {
        guard case .single(let current) = batch.scope, current + 1 < batch.commands.count else { return .finish(afterCommit()) }
        return beginSingle(at: current + 1)
    }

    private mutating func beginSingle(at position: Int) -> Action {
        batch.scope = .single(command: position)
        batch.failures = 0
        batch.stale = 0
        batch.waits = 0
        batch.mayBeApplied = true
        return .apply(batch.scope)
    }

    // MARK: - Attempts

    /// An attempt begins, on a database connection, at `now`.
    public mutating func startAttempt(now: Date) -> Step {
        let envelopes: [CommandEnvelope]
        switch batch.scope {
        case .batch: envelopes = batch.commands.map(\.envelope)
        case .single(let position): envelopes = [batch.commands[position].envelope]
        }
        attempt = Attempt(pending: envelopes, now: now)
        if batch.mayBeApplied { return .lookUpCompleted(envelopes.map(\.id)) }
        return loadSchedules(now: now)
    }

    /// The commands among the attempt's that are completed already, with their stored outcomes.
    public mutating func completedFound(_ done: [UUID: PartitionStore.StoredOutcome], now: Date) -> Step {
        if case .single(let position) = batch.scope, let suspect = batch.suspect, position == suspect {
            // The bundle's last delivery: its first command not completed goes to the dead letters
            // untried, so that the broker does not dead-letter its neighbours with it.
            guard done[batch.commands[position].envelope.id] != nil else { return .fail(.suspect) }
            let next = position + 1
            batch.suspect = next < batch.commands.count && batch.commands[next].delivery == batch.commands[position].delivery ? next : nil
        }
        if !done.isEmpty {
            for envelope in attempt.pending {
                guard let stored = done[envelope.id] else { continue }
                if envelope.command.type == .reserveSeat { attempt.redeliveredReservations.append(envelope) }
                let failure = stored.errorCode.map { FailureCode(rawValue: $0) }
                // An error code this build does not know: the client learns it when it polls.
                if failure != .some(nil) {
                    attempt.redeliveredOutcomes.append(
                        CommandOutcome(commandID: envelope.id, type: envelope.command.type, failure: failure ?? nil, resultJSON: stored.resultJSON)
                    )
                }
            }
            attempt.pending.removeAll { done[$0.id] != nil }
        }
        return loadSchedules(now: now)
    }

    private mutating func loadSchedules(now: Date) -> Step {
        attempt.loading = state.schedulesToLoad(for: attempt.pending, now: now)
        attempt.loadedAt = now
        if !attempt.loading.isEmpty { return .loadSchedules(attempt.loading) }
        return lookUpReservations(now: now)
    }

    /// The schedules asked for, as loaded (one absent from the answer does not exist).
    public mutating func schedulesLoaded(_ loaded: [ScheduleKey: (id: Int64, seats: SeatMap)], now: Date) -> Step {
        for key in attempt.loading {
            state.install(key, loaded[key]?.seats, now: attempt.loadedAt)
            scheduleIDs[key] = loaded[key]?.id
        }
        return lookUpReservations(now: now)
    }

    private mutating func lookUpReservations(now: Date) -> Step {
        let lookUp = state.reservationsToLookUp(for: attempt.pending)
        if !lookUp.isEmpty { return .lookUpReservations(lookUp) }
        attempt.now = now
        return decide()
    }

    /// What storage knows of the reservations asked for.
    public mutating func reservationsFound(_ found: [PartitionState.ReservationFacts], now: Date) -> Step {
        // Storage has a live reservation memory never saw (another writer's): decide nothing on this memory.
        if state.isBehind(found) { return .fail(.stale("storage holds a live reservation this worker's memory never saw")) }
        state.remember(found)
        attempt.now = now
        return decide()
    }

    /// What the wallets said to the debits asked for.
    public mutating func debited(_ results: [UUID: PartitionState.DebitResult]) -> Step {
        attempt.inTransaction = true
        for debit in attempt.debits {
            if let outcome = state.completeDebit(debit.commandID, results[debit.commandID] ?? .insufficient, now: attempt.now) {
                attempt.writes.add(outcome)
            }
        }
        attempt.debits.removeAll()
        return decide()
    }

    /// Decides the attempt's commands, in order, until a debit is needed or all are decided.
    private mutating func decide() -> Step {
        while attempt.next < attempt.pending.count {
            switch state.handle(attempt.pending[attempt.next], now: attempt.now) {
            case .decided(let outcome): attempt.writes.add(outcome)
            case .debit(let debit): attempt.debits.append(debit)
            case .awaitingDebits:
                // Decided again once the debits in flight are done.
                guard attempt.debits.isEmpty else { return .debit(attempt.debits) }
                return .fail(.rejected("a command waits for a debit that is not in flight"))
            }
            attempt.next += 1
        }
        if !attempt.debits.isEmpty { return .debit(attempt.debits) }
        guard !attempt.writes.outcomes.isEmpty else { return .commit }
        let before = state.seatsBeforeBatch()
        let seats = attempt.writes.touchedSeats.flatMap { schedule, numbers in
            numbers.compactMap { number -> PartitionStore.SeatRow? in
                guard let id = scheduleIDs[schedule], let map = state.seatMap(schedule), let seat = map.seat(number) else { return nil }
                return PartitionStore.SeatRow(
                    scheduleID: id,
                    number: number,
                    reservation: seat.reservationID.flatMap { map.reservations[$0] },
                    expected: before[schedule]?[number] ?? seat.reservationID
                )
            }
        }
        let inTransaction = !attempt.writes.statusChanges.isEmpty || attempt.writes.changesSeatMaps
        return .write(attempt.writes, seats: seats, scheduleIDs: scheduleIDs, inTransaction: inTransaction)
    }

    /// The attempt committed: memory keeps its changes.
    public mutating func committed() -> Action {
        state.commit()
        // New seats: the next command loads the date (and its schedule's id) from storage.
        if attempt.writes.changesSeatMaps { forget() }
        batch.after.committed += attempt.writes.outcomes.count
        let replyTo = Dictionary(
            batch.commands.compactMap { command in batch.incoming[command.delivery].replyTo.map { (command.envelope.id, $0) } }
        ) { first, _ in first }
        for (outcome, result) in zip(attempt.writes.outcomes, attempt.writes.results) {
            if let queue = replyTo[outcome.envelope.id] { batch.after.replies.append((queue, CommandOutcome(outcome, resultJSON: result))) }
        }
        for outcome in attempt.redeliveredOutcomes {
            if let queue = replyTo[outcome.commandID] { batch.after.replies.append((queue, outcome)) }
        }
        for (schedule, holds) in attempt.writes.holdsToExpire { batch.expiries[schedule, default: []] += holds }
        // A reservation applied earlier may not have had its expiry scheduled.
        for envelope in attempt.redeliveredReservations {
            if let schedule = PartitionState.schedule(of: envelope) { batch.expiries[schedule, default: []].append(envelope.id) }
        }
        batch.after.endedTokens += attempt.writes.endedTokens.map { EndedToken(concert: $0.concert, user: $0.user) }
        attempt = Attempt()
        if case .single = batch.scope { return nextSingle() }
        return .finish(afterCommit())
    }

    /// The attempt ended without a commit (rolled back, or its outcome unknown).
    public mutating func attemptFailed(_ failure: Failure) -> Action {
        attempt = Attempt()
        switch failure {
        case .rejected:
            // A definite rollback: undo what memory decided.
            state.rollback()
        case .notOwned, .unavailable, .stale, .conflict:
            // Unknown outcome, or storage disagreed, or another writer: start again from storage.
            forget()
        case .suspect:
            // Nothing was decided: memory is as it was.
            break
        }
        switch failure {
        case .suspect:
            guard case .single(let position) = batch.scope else { return .stop }
            batch.suspect = nil
            return deadLetter(
                position,
                reason:
                    "suspected of stopping its worker: its bundle came back \(PipelineTopology.deliveryLimit - 1) times, each time with this command the first not applied"
            )
        case .notOwned:
            return .stop
        case .unavailable:
            batch.mayBeApplied = true
            return retryAfterPause()
        case .stale(let reason):
            batch.stale += 1
            if batch.stale >= Self.staleAttempts { return exhausted(reason) }
            batch.mayBeApplied = true
            return batch.stale == 1 ? .apply(batch.scope) : retryAfterPause()
        case .conflict(let reason), .rejected(let reason):
            batch.failures += 1
            let limit = batch.scope == .batch ? Self.batchAttempts : Self.singleAttempts
            if batch.failures >= limit { return exhausted(reason) }
            batch.mayBeApplied = true
            return .apply(batch.scope)
        }
    }

    private mutating func retryAfterPause() -> Action {
        batch.waits += 1
        return .retry(batch.scope, after: Self.backoff.delay(afterFailures: batch.waits))
    }

    /// The scope keeps failing: the whole batch goes one by one; a single command is dead-lettered.
    private mutating func exhausted(_ reason: String) -> Action {
        switch batch.scope {
        case .batch:
            return beginSingle(at: 0)
        case .single(let position):
            return deadLetter(position, reason: "handler failed: \(reason.prefix(500))")
        }
    }

    /// The command at `position` to the dead letters: its delivery as it came, or, from a bundle, the command alone.
    private func deadLetter(_ position: Int, reason: String) -> Action {
        let (delivery, envelope) = batch.commands[position]
        let alone = batch.incoming[delivery].isBundle ? BundledCommand(envelope) : nil
        return .deadLetter(delivery: delivery, reason: reason, command: alone)
    }

    private func afterCommit() -> AfterCommit {
        var after = batch.after
        after.holdsToExpire = batch.expiries.map { ($0.key, $0.value) }
        return after
    }

    private mutating func forget() {
        state.forgetEverything()
        scheduleIDs.removeAll()
    }
}
