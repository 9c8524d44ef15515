public import Foundation

/// Everything one partition worker decides, as a pure state machine: the seat maps of the
/// schedules it owns and, for each command, the outcome and the effects to persist.
///
/// No I/O, no `async`. The worker (the shell) loads what a batch needs (`schedulesToLoad`,
/// `reservationsToLookUp`), feeds each command to `handle`, performs what comes back —
/// wallet debits, the batch's writes — and finally calls `commit()` when its transaction
/// committed, `rollback()` when it rolled back, or `forgetEverything()` when it cannot know
/// (the map is then loaded again from storage).
///
/// A payment is the one decision that needs storage in the middle: the balance lives in the
/// wallet, and debiting it is a single conditional statement. `handle` answers `.debit` for a
/// payment that passed every check; the worker runs the debits (many at once) and reports each
/// result to `completeDebit`, which decides. A command that depends on a debit still in flight
/// (the same reservation, or the same user's balance) answers `.awaitingDebits`: complete them,
/// then hand it in again.
public struct PartitionState: Sendable {
    /// The rules of the partition.
    public struct Settings: Sendable, Equatable {
        /// How long a reservation holds its seat (`CONCERT_HOLD_SECONDS`).
        public var holdDuration: TimeInterval
        /// At most this many live holds plus paid seats per user and schedule (`CONCERT_MAX_SEATS_PER_USER`); `nil` = no limit.
        public var maximumSeatsPerUser: Int?

        /// The rules of a partition.
        ///
        /// - Parameters:
        ///   - holdDuration: How long a reservation holds its seat, in seconds.
        ///   - maximumSeatsPerUser: At most this many live holds plus paid seats per user and schedule; `nil` for no limit.
        public init(holdDuration: TimeInterval = 300, maximumSeatsPerUser: Int? = nil) {
            self.holdDuration = holdDuration
            self.maximumSeatsPerUser = maximumSeatsPerUser
        }
    }

    /// What storage knows of a reservation that is not live in memory (expired, paid long ago, or of nobody).
    public struct ReservationFacts: Sendable, Hashable {
        /// The reservation's id.
        public let id: UUID
        /// The user who made the reservation.
        public let user: UserID
        /// The reservation's status in storage.
        public let status: Reservation.Status

        /// The facts of one reservation.
        ///
        /// - Parameters:
        ///   - id: The reservation's id.
        ///   - user: The user who made it.
        ///   - status: Its status in storage.
        public init(id: UUID, user: UserID, status: Reservation.Status) {
            self.id = id
            self.user = user
            self.status = status
        }
    }

    /// A wallet debit a payment needs before it can be decided.
    public struct Debit: Sendable, Hashable {
        /// The `Pay` command waiting for the debit; hand it to `completeDebit` with the result.
        public let commandID: UUID
        /// Whose wallet to debit.
        public let user: UserID
        /// How much to debit: the reservation's price.
        public let amount: Won
    }

    /// What the wallet said.
    public enum DebitResult: Sendable, Hashable {
        /// Debited; the balance after it.
        case debited(balanceAfter: Won)
        /// The balance did not cover the amount; nothing changed.
        case insufficient
    }

    /// The answer to one command.
    public enum Decision: Sendable, Hashable {
        /// Final: the outcome and its effects.
        case decided(Outcome)
        /// A payment that passed every check: debit the wallet, then call `completeDebit`.
        case debit(Debit)
        /// The command depends on a debit still in flight: complete the debits, then hand it in again.
        case awaitingDebits
    }

    /// The rules this partition decides by.
    public let settings: Settings
    /// The schedules in memory; `maps[index[key]]` — an array, so that a map is mutated in place.
    var maps: [SeatMap] = []
    var index: [ScheduleKey: Int] = [:]
    /// Schedules storage said do not exist, and when it said so: believed for `missingFor`, so
    /// that a date created later is seen within it; at most `missingLimit` of them (any active
    /// token can name dates that do not exist).
    var missing: [ScheduleKey: Date] = [:]
    /// How long "this schedule does not exist" is believed.
    public static let missingFor: TimeInterval = 1
    /// How many missing schedules are remembered at most.
    public static let missingLimit = 1_024
    /// Every change since the last `commit()`, oldest first.
    var log: [(map: Int, change: SeatMap.Change)] = []
    var scratch: [SeatMap.Change] = []
    /// Facts looked up for this batch's payments.
    var facts: [UUID: ReservationFacts] = [:]
    /// Payments waiting for their debit, by command.
    var paying: [UUID: (envelope: CommandEnvelope, reservation: Reservation)] = [:]

    /// A partition with no schedules in memory.
    ///
    /// - Parameters:
    ///   - settings: The rules to decide by.
    public init(settings: Settings) {
        self.settings = settings
    }

    // MARK: - Deciding

    /// Decides one command at `now`.
    ///
    /// A reservation is decided at once. A payment answers `.awaitingDebits` while a debit of the same user or the same
    /// reservation is in flight, otherwise `.debit` when it passes every check and a decided failure when not. An expiry answers
    /// `.awaitingDebits` while a debit of one of its reservations is in flight.
    ///
    /// - Parameters:
    ///   - envelope: The command; its schedules installed and its reservations looked up.
    ///   - now: The current time: a hold whose deadline is not after `now` counts as expired.
    /// - Returns: The decision.
    public mutating func handle(_ envelope: CommandEnvelope, now: Date) -> Decision {
        switch envelope.command {
        case .reserveSeat(let reserve):
            return .decided(reserveSeat(envelope, reserve, now: now))
        case .pay(let pay):
            return payment(envelope, pay.reservationId, now: now)
        case .expireHold(let expire):
            if expire.reservationIds.contains(where: { id in paying.values.contains { $0.reservation.id == id } }) { return .awaitingDebits }
            return .decided(expireHolds(envelope, expire))
        case .setSeatMap(let map):
            return .decided(setSeatMap(envelope, map))
        }
    }

    /// A date none of whose seats is held (a lapsed hold not yet expired counts) or sold gets the
    /// new seats; a date in use gets only new prices, from a map of the same layout. Memory is
    /// loaded again after the commit (`BatchStateMachine` applies such a command alone and then forgets).
    private func setSeatMap(_ envelope: CommandEnvelope, _ map: Command.SetSeatMap) -> Outcome {
        let slot = index[map.schedule]
        if let slot, !maps[slot].reservations.isEmpty {
            guard maps[slot].hasLayout(of: map) else { return Outcome(envelope, .failure(.scheduleInUse)) }
            let result = SeatMapResult(concertId: map.concertId, date: map.date, seats: map.seatCount, created: false, pricesOnly: true)
            return Outcome(envelope, .success(.seatMap(result)), effects: [.setPrices(map)])
        }
        let result = SeatMapResult(concertId: map.concertId, date: map.date, seats: map.seatCount, created: slot == nil)
        return Outcome(envelope, .success(.seatMap(result)), effects: [.setSeats(map)])
    }

    /// Decides a payment once its debit is done.
    ///
    /// - Parameters:
    ///   - commandID: The `Debit.commandID` of the debit.
    ///   - result: What the wallet said.
    ///   - now: The payment's time, the receipt's `paidAt`.
    /// - Returns: The payment's outcome, the seat sold with its receipt or `insufficientBalance`; `nil` when no payment
    ///   waits for `commandID`.
    public mutating func completeDebit(_ commandID: UUID, _ result: DebitResult, now: Date) -> Outcome? {
        guard let (envelope, reservation) = paying.removeValue(forKey: commandID) else { return nil }
        switch result {
        case .insufficient:
            return Outcome(envelope, .failure(.insufficientBalance))
        case .debited(let balance):
            guard let slot = index[reservation.schedule], let paid = maps[slot].markPaid(reservation.id, log: &scratch) else {
                // Cannot happen: a reservation waiting for its debit stays held (commands touching it wait too).
                return Outcome(envelope, .failure(.holdExpired))
            }
            flush(slot)
            let receipt = PaymentReceipt(paymentId: envelope.id, reservation: paid, balanceAfter: balance, paidAt: now)
            return Outcome(envelope, .success(.payment(receipt)), effects: [.sell(paid, receipt)])
        }
    }

    /// Payments waiting for their debit.
    public var debitsInFlight: Int { paying.count }

    private mutating func reserveSeat(_ envelope: CommandEnvelope, _ reserve: Command.ReserveSeat, now: Date) -> Outcome {
        let key = ScheduleKey(concertID: reserve.concertId, date: reserve.date)
        guard let slot = index[key] else { return Outcome(envelope, .failure(.scheduleNotFound)) }
        guard let seat = maps[slot].seats[reserve.seatNumber] else { return Outcome(envelope, .failure(.seatNotFound)) }
        if maps[slot].liveReservation(on: seat, at: now) != nil { return Outcome(envelope, .failure(.seatUnavailable)) }
        if let limit = settings.maximumSeatsPerUser, maps[slot].liveSeats(of: envelope.userId, at: now) >= limit {
            return Outcome(envelope, .failure(.seatLimitReached))
        }
        var effects: [Effect] = []
        // A lapsed hold still recorded on the seat is expired now, in the same batch.
        if let lapsed = seat.reservationID, let expired = maps[slot].expire(lapsed, log: &scratch) {
            effects.append(.expire(expired))
            noteExpired(expired)
        }
        // The reservation id is the command id: a replayed command can never make a second one.
        let reservation = Reservation(
            id: envelope.id,
            schedule: key,
            seat: reserve.seatNumber,
            userID: envelope.userId,
            price: seat.price,
            status: .held,
            heldUntil: now.addingTimeInterval(settings.holdDuration)
        )
        maps[slot].hold(reservation, log: &scratch)
        flush(slot)
        effects.append(.hold(reservation))
        return Outcome(envelope, .success(.reservation(ReservationResult(reservation))), effects: effects)
    }

    private mutating func payment(_ envelope: CommandEnvelope, _ id: UUID, now: Date) -> Decision {
        // The same user's balance or the same reservation must not be decided on while a debit is in flight.
        if paying.values.contains(where: { $0.envelope.userId == envelope.userId || $0.reservation.id == id }) { return .awaitingDebits }
        guard let key = Self.schedule(of: envelope), let slot = index[key], let reservation = maps[slot].reservations[id] else {
            // Not live in memory: expired, paid long ago, or never made.
            let failure: FailureCode =
                switch facts[id] {
                case nil: .reservationNotFound
                case let fact? where fact.user != envelope.userId: .notReservationOwner
                case let fact? where fact.status == .paid: .alreadyPaid
                default: .holdExpired
                }
            return .decided(Outcome(envelope, .failure(failure)))
        }
        guard reservation.userID == envelope.userId else { return .decided(Outcome(envelope, .failure(.notReservationOwner))) }
        switch reservation.effectiveStatus(at: now) {
        case .paid:
            return .decided(Outcome(envelope, .failure(.alreadyPaid)))
        case .expired:
            var effects: [Effect] = []
            if let expired = maps[slot].expire(id, log: &scratch) {
                effects.append(.expire(expired))
                noteExpired(expired)
            }
            flush(slot)
            return .decided(Outcome(envelope, .failure(.holdExpired), effects: effects))
        case .held:
            paying[envelope.id] = (envelope, reservation)
            return .debit(Debit(commandID: envelope.id, user: envelope.userId, amount: reservation.price))
        }
    }

    private mutating func expireHolds(_ envelope: CommandEnvelope, _ expire: Command.ExpireHold) -> Outcome {
        var effects: [Effect] = []
        for (key, ids) in Self.schedules(of: expire, in: envelope) {
            guard let slot = index[key] else { continue }
            for id in ids {
                guard let expired = maps[slot].expire(id, log: &scratch) else { continue }
                effects.append(.expire(expired))
                noteExpired(expired)
            }
            flush(slot)
        }
        // Paid, already expired or unknown: nothing to do, and that is the outcome.
        return Outcome(envelope, .success(.none), effects: effects)
    }

    /// A reservation memory just forgot: later commands of the batch still learn what became of it.
    private mutating func noteExpired(_ reservation: Reservation) {
        facts[reservation.id] = ReservationFacts(id: reservation.id, user: reservation.userID, status: .expired)
    }

    /// Moves the changes just made to map `slot` into the undo log.
    private mutating func flush(_ slot: Int) {
        for change in scratch { log.append((slot, change)) }
        scratch.removeAll(keepingCapacity: true)
    }

    // MARK: - Transactions

    /// The batch committed: its changes stay.
    ///
    /// The facts remembered for the batch and any payment still waiting for its debit are forgotten.
    public mutating func commit() {
        log.removeAll(keepingCapacity: true)
        facts.removeAll(keepingCapacity: true)
        paying.removeAll()
    }

    /// The batch rolled back: every change since the last `commit()` is undone, newest first.
    ///
    /// The facts remembered for the batch and any payment still waiting for its debit are forgotten too.
    public mutating func rollback() {
        for (slot, change) in log.reversed() { maps[slot].revert(change) }
        commit()
    }

    /// The outcome of a transaction is unknown (or memory disagreed with storage): forget every
    /// schedule, so each is loaded again before its next command.
    public mutating func forgetEverything() {
        maps.removeAll()
        index.removeAll()
        missing.removeAll()
        commit()
    }
}
