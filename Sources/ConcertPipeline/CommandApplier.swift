import ConcertDomain
import ConcertStorage
import Foundation

/// Applies a partition's commands, in order, inside one batch transaction.
///
/// It works on a copy of the worker's seat maps: the worker keeps the copy only if the
/// transaction commits, so a rolled-back batch leaves memory as it was.
struct CommandApplier {
    let store: PartitionStore
    let holdSeconds: TimeInterval
    var schedules: [ScheduleKey: PartitionStore.LoadedSchedule]
    /// `ExpireHold` commands to publish once the batch committed.
    private(set) var expiries: [(CommandEnvelope, ScheduleKey)] = []
    /// The outcome of every command applied, for the metrics once the batch committed.
    private(set) var outcomes: [(envelope: CommandEnvelope, failure: FailureCode?)] = []

    init(store: PartitionStore, holdSeconds: TimeInterval, schedules: [ScheduleKey: PartitionStore.LoadedSchedule]) {
        self.store = store
        self.holdSeconds = holdSeconds
        self.schedules = schedules
    }

    /// Applies one command and records its outcome.
    mutating func apply(_ envelope: CommandEnvelope, now: Date) async throws {
        switch envelope.command {
        case .reserveSeat(let reserve):
            try await reserveSeat(envelope, reserve, now: now)
        case .pay(let payment):
            try await pay(envelope, payment.reservationId, now: now)
        case .expireHold(let expire):
            try await expireHold(envelope, expire.reservationId)
        }
    }

    private mutating func reserveSeat(_ envelope: CommandEnvelope, _ reserve: Command.ReserveSeat, now: Date) async throws {
        let key = ScheduleKey(concertID: reserve.concertId, date: reserve.date)
        guard var schedule = try await schedule(key) else {
            return try await record(envelope, result: nil, failure: .scheduleNotFound)
        }
        // The reservation id derives from the command id: a replayed command could never make a second one.
        let reservationID = envelope.id
        switch schedule.seats.reserve(reserve.seatNumber, for: envelope.userId, reservationID: reservationID, at: now, holdDuration: holdSeconds) {
        case .failure(let failure):
            try await record(envelope, result: nil, failure: failure)
        case .success(let hold):
            try await store.recordHold(hold, scheduleID: schedule.id)
            try await record(envelope, result: Self.json(ReservationResult(hold.reservation)), failure: nil)
            schedules[key] = schedule
            let expiry = CommandEnvelope(
                id: UUID(),
                userId: envelope.userId,
                partitionKey: envelope.partitionKey,
                command: .expireHold(.init(reservationId: reservationID)),
                submittedAt: now
            )
            expiries.append((expiry, key))
        }
    }

    private mutating func pay(_ envelope: CommandEnvelope, _ reservationID: UUID, now: Date) async throws {
        guard let key = try await scheduleKey(of: envelope), var schedule = try await schedule(key) else {
            return try await record(envelope, result: nil, failure: .reservationNotFound)
        }
        switch schedule.seats.payable(reservationID, by: envelope.userId, at: now) {
        case .failure(.reservationNotFound):
            // Not live in memory: expired or paid earlier, or never made.
            let failure: FailureCode =
                switch try await store.reservationStatus(reservationID) {
                case nil: .reservationNotFound
                case let (_, owner)? where owner != envelope.userId: .notReservationOwner
                case (.paid, _)?: .alreadyPaid
                default: .holdExpired
                }
            try await record(envelope, result: nil, failure: failure)
        case .failure(let failure):
            if failure == .holdExpired, let lapsed = schedule.seats.expire(reservationID) {
                try await store.recordExpiry(lapsed, scheduleID: schedule.id)
                schedules[key] = schedule
            }
            try await record(envelope, result: nil, failure: failure)
        case .success(let reservation):
            guard let balance = try await store.debit(envelope.userId, amount: reservation.price, commandID: envelope.id) else {
                return try await record(envelope, result: nil, failure: .insufficientBalance)
            }
            _ = schedule.seats.markPaid(reservationID)
            let receipt = PaymentReceipt(paymentId: envelope.id, reservation: reservation, balanceAfter: balance, paidAt: now)
            try await store.recordPayment(receipt, reservation: reservation, scheduleID: schedule.id)
            try await record(envelope, result: Self.json(receipt), failure: nil)
            schedules[key] = schedule
        }
    }

    private mutating func expireHold(_ envelope: CommandEnvelope, _ reservationID: UUID) async throws {
        if let key = try await scheduleKey(of: envelope), var schedule = try await schedule(key),
            let expired = schedule.seats.expire(reservationID)
        {
            try await store.recordExpiry(expired, scheduleID: schedule.id)
            schedules[key] = schedule
        }
        // Paid, already expired or unknown: nothing to do, and that is the outcome.
        try await record(envelope, result: nil, failure: nil)
    }

    private mutating func record(_ envelope: CommandEnvelope, result: String?, failure: FailureCode?) async throws {
        try await store.recordOutcome(envelope, result: result, failure: failure)
        outcomes.append((envelope, failure))
    }

    /// The schedule a `Pay` or `ExpireHold` concerns, from its partition key.
    private func scheduleKey(of envelope: CommandEnvelope) async throws -> ScheduleKey? {
        ScheduleKey(partitionKey: envelope.partitionKey)
    }

    private mutating func schedule(_ key: ScheduleKey) async throws -> PartitionStore.LoadedSchedule? {
        if let loaded = schedules[key] { return loaded }
        guard let loaded = try await store.load(key) else { return nil }
        schedules[key] = loaded
        return loaded
    }

    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try JSONEncoder.commands.encode(value), as: UTF8.self)
    }
}
