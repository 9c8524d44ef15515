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
    /// A reservation, a release, a refund, an expiry and a cancellation are decided at once. A
    /// payment answers `.awaitingDebits` while a debit of the same user or the same reservation
    /// is in flight, otherwise `.debit` when it passes every check and a decided failure when
    /// not. Anything that ends a reservation whose payment's debit is in flight answers
    /// `.awaitingDebits` too.
    ///
    /// - Parameters:
    ///   - envelope: The command; its schedules installed and its reservations looked up.
    ///   - now: The current time: a hold whose deadline is not after `now` counts as expired.
    /// - Returns: The decision.
    public mutating func handle(_ envelope: CommandEnvelope, now: Date) -> Decision {
        switch envelope.command {
        case .reserveSeat(let reserve):
            return .decided(reserveSeats(envelope, reserve, now: now))
        case .pay(let pay):
            return payment(envelope, pay.reservationId, now: now)
        case .expireHold(let expire):
            if expire.reservationIds.contains(where: isBeingPaid) { return .awaitingDebits }
            return .decided(expireHolds(envelope, expire))
        case .setSeatMap(let map):
            return .decided(setSeatMap(envelope, map))
        case .release(let release):
            if isBeingPaid(release.reservationId) { return .awaitingDebits }
            return .decided(self.release(envelope, release.reservationId, now: now))
        case .refund(let refund):
            if isBeingPaid(refund.reservationId) { return .awaitingDebits }
            return .decided(self.refund(envelope, refund.reservationId, now: now))
        case .cancelDate(let cancel):
            if paying.values.contains(where: { $0.reservation.schedule == cancel.schedule }) { return .awaitingDebits }
            return .decided(cancelDate(envelope, cancel.schedule, now: now))
        }
    }

    /// True while a payment of the reservation waits for its debit.
    func isBeingPaid(_ id: UUID) -> Bool {
        paying.values.contains { $0.reservation.id == id }
    }

    /// Decides a payment once its debit is done.
    ///
    /// - Parameters:
    ///   - commandID: The `Debit.commandID` of the debit.
    ///   - result: What the wallet said.
    ///   - now: The payment's time, the receipt's `paidAt`.
    /// - Returns: The payment's outcome, the seats sold with their receipt or `insufficientBalance`; `nil` when no payment
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
            let receipt = PaymentReceipt(
                paymentId: envelope.id,
                reservation: paid,
                seats: SeatResult.seats(of: paid, on: maps[slot]),
                balanceAfter: balance,
                paidAt: now
            )
            return Outcome(envelope, .success(.payment(receipt)), effects: [.sell(paid, receipt)])
        }
    }

    /// Payments waiting for their debit.
    public var debitsInFlight: Int { paying.count }

    /// A reservation memory just ended (expired, released, refunded): later commands of the batch still learn what became of it.
    mutating func noteEnded(_ reservation: Reservation) {
        facts[reservation.id] = ReservationFacts(id: reservation.id, user: reservation.userID, status: reservation.status)
    }

    /// Moves the changes just made to map `slot` into the undo log.
    mutating func flush(_ slot: Int) {
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
