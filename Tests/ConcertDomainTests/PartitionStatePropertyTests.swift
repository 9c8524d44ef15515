import ConcertDomain
import Foundation
import Testing

/// Random command sequences, in random batches, against the partition's state machine driven as a
/// worker drives it (debits deferred, batches committed, rolled back or forgotten and reloaded),
/// and against a naive reference that applies each command on the spot with the rules of the
/// design. Every outcome must be the same, and the invariants must hold throughout.
@Suite struct PartitionStatePropertyTests {
    static let schedule = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate("2026-12-24")!)
    static let seats = 5
    static let users = (0..<4).map { UserID("user\($0)")! }

    @Test(arguments: 0..<60)
    func theStateMachineDecidesAsTheReferenceAndKeepsTheInvariants(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let limit: Int? = seed % 3 == 0 ? 2 : nil
        var reference = Reference(limit: limit)
        var storage = Storage()
        var state = PartitionState(settings: .init(holdDuration: 30, maximumSeatsPerUser: limit))
        state.install(Self.schedule, storage.seatMap())
        var now = Date(timeIntervalSince1970: 1_795_600_000)
        var reservations: [UUID] = []
        var paidEver: [UUID: Reservation] = [:]

        for _ in 0..<120 {
            now = now.addingTimeInterval(Double(random.next() % 12))
            let batch = (0..<(Int(random.next() % 8) + 1)).map { _ in Self.randomCommand(&random, known: reservations) }
            let (referenceBefore, storageBefore) = (reference, storage)

            // The worker's part: facts for payments, decisions, debits deferred until needed.
            state.remember(
                batch.compactMap { command in
                    guard case .pay(let pay) = command.command, state.reservationsToLookUp(for: [command]).contains(pay.reservationId) else {
                        return nil
                    }
                    return storage.facts(pay.reservationId)
                }
            )
            var outcomes: [UUID: Outcome] = [:]
            var debits: [PartitionState.Debit] = []
            func settle() {
                for debit in debits {
                    let result = storage.debit(debit.user, debit.amount)
                    if let outcome = state.completeDebit(debit.commandID, result, now: now) { outcomes[outcome.envelope.id] = outcome }
                }
                debits.removeAll()
            }
            for command in batch {
                if case .reserveSeat = command.command { reservations.append(command.id) }
                var decision = state.handle(command, now: now)
                if decision == .awaitingDebits {
                    settle()
                    decision = state.handle(command, now: now)
                }
                switch decision {
                case .decided(let outcome): outcomes[command.id] = outcome
                case .debit(let debit): debits.append(debit)
                case .awaitingDebits: Issue.record("still waiting after the debits were settled")
                }
            }
            settle()

            // The reference, one command at a time, must have decided the same.
            for command in batch {
                let expected = reference.apply(command, now: now)
                let outcome = try #require(outcomes[command.id])
                #expect(
                    outcome.failure == expected,
                    "command \(command.command) at \(now): \(String(describing: outcome.failure)) vs \(String(describing: expected))"
                )
            }
            for command in batch {
                for effect in outcomes[command.id]?.effects ?? [] { storage.apply(effect) }
            }

            // The batch's transaction: committed, rolled back, or its outcome unknown (memory reloaded).
            switch random.next() % 10 {
            case 0:
                state.rollback()
                reference = referenceBefore
                storage = storageBefore
            case 1:
                state.forgetEverything()
                state.install(Self.schedule, storage.seatMap())
            default:
                state.commit()
            }

            // Memory agrees with storage, and the invariants hold.
            let map = try #require(state.seatMap(Self.schedule))
            #expect(map.reservations == storage.live, "memory and storage disagree")
            var liveBySeat: [SeatNumber: Int] = [:]
            for reservation in storage.all.values where reservation.effectiveStatus(at: now) != .expired {
                liveBySeat[reservation.seat, default: 0] += 1
            }
            #expect(liveBySeat.values.allSatisfy { $0 <= 1 }, "a seat with two live reservations")
            for reservation in storage.all.values where reservation.status == .paid {
                if let earlier = paidEver[reservation.id] { #expect(earlier == reservation, "a paid reservation changed") }
                paidEver[reservation.id] = reservation
                #expect(!map.isFree(reservation.seat, at: now), "a sold seat became free")
            }
            #expect(storage.balances.values.allSatisfy { $0 >= 0 }, "a negative balance")
            if let limit {
                for user in Self.users { #expect(map.liveSeats(of: user, at: now) <= limit, "more seats than the limit") }
            }
        }
    }

    static func randomCommand(_ random: inout SplitMix64, known: [UUID]) -> CommandEnvelope {
        let user = users[Int(random.next() % UInt64(users.count))]
        let command: Command
        switch random.next() % 7 {
        case 0, 1, 2:
            // Seat 6 does not exist.
            command = .reserveSeat(.init(concertId: schedule.concertID, date: schedule.date, seatNumber: SeatNumber(Int(random.next() % 6) + 1)!))
        case 3, 4:
            let id = known.isEmpty || random.next() % 8 == 0 ? UUID() : known[Int(random.next() % UInt64(known.count))]
            command = .pay(.init(reservationId: id))
        case 5:
            let ids = known.isEmpty ? [UUID()] : (0..<Int(random.next() % 3 + 1)).map { _ in known[Int(random.next() % UInt64(known.count))] }
            command = .expireHold(.init(reservationIds: ids))
        default:
            command = .setSeatMap(random.next() % 2 == 0 ? sameSeatMap : otherLayout)
        }
        return CommandEnvelope(id: UUID(), userId: user, partitionKey: schedule.partitionKey, command: command, submittedAt: Date())
    }

    /// The schedule's own seats as an operator would send them again (section "Hall", one row a
    /// seat, seat n at n × 1000): applying it changes no seat, so only the rule that decides it is
    /// at stake — allowed whatever is held or sold, as it keeps the layout.
    static let sameSeatMap = seatMap(section: "Hall")
    /// The same seats and prices in a section of another name: another layout, refused while a
    /// seat is held or sold. Applied, it changes nothing the model follows (the stored layout
    /// stays "Hall", as if the operator changed it back at once).
    static let otherLayout = seatMap(section: "Stalls")

    static func seatMap(section: String) -> Command.SetSeatMap {
        try! Command.SetSeatMap(
            concertId: schedule.concertID,
            date: schedule.date,
            sections: [.init(name: section, rows: (1...seats).map { .init(label: "\($0)", seats: 1, price: Won(Int64($0) * 1000)) })]
        )
    }

    /// What PostgreSQL would hold after the effects: every reservation with its status, and the wallets.
    struct Storage {
        var all: [UUID: Reservation] = [:]
        var balances: [UserID: Won] = Dictionary(
            uniqueKeysWithValues: PartitionStatePropertyTests.users.enumerated().map { ($1, Won(Int64($0) * 2500)) }
        )

        var live: [UUID: Reservation] { all.filter { $0.value.status != .expired } }

        func seatMap() -> SeatMap {
            let seats = (1...PartitionStatePropertyTests.seats).map { number in
                SeatMap.Seat(
                    number: SeatNumber(number)!,
                    price: Won(Int64(number) * 1000),
                    reservationID: live.values.first { $0.seat.rawValue == number }?.id
                )
            }
            let rows = seats.map { SeatMap.Row(section: "Hall", label: "\($0.number)", first: $0.number, count: 1) }
            return SeatMap(schedule: PartitionStatePropertyTests.schedule, seats: seats, reservations: Array(live.values), rows: rows)
        }

        func facts(_ id: UUID) -> PartitionState.ReservationFacts? {
            all[id].map { PartitionState.ReservationFacts(id: $0.id, user: $0.userID, status: $0.status) }
        }

        mutating func debit(_ user: UserID, _ amount: Won) -> PartitionState.DebitResult {
            guard let balance = balances[user], balance >= amount else { return .insufficient }
            balances[user] = balance - amount
            return .debited(balanceAfter: balance - amount)
        }

        mutating func apply(_ effect: Effect) {
            switch effect {
            case .hold(let reservation): all[reservation.id] = reservation
            case .expire(let reservation): all[reservation.id]?.status = .expired
            case .sell(let reservation, _): all[reservation.id]?.status = .paid
            case .setSeats, .setPrices: break  // the same seats and prices again: nothing changes
            }
        }
    }

    /// The rules, applied naively: every reservation kept, every check a scan.
    struct Reference {
        let limit: Int?
        var reservations: [UUID: Reservation] = [:]
        var balances: [UserID: Won] = Dictionary(
            uniqueKeysWithValues: PartitionStatePropertyTests.users.enumerated().map { ($1, Won(Int64($0) * 2500)) }
        )

        func live(onSeat seat: SeatNumber, at now: Date) -> Reservation? {
            reservations.values.first { $0.seat == seat && $0.effectiveStatus(at: now) != .expired }
        }

        mutating func apply(_ envelope: CommandEnvelope, now: Date) -> FailureCode? {
            switch envelope.command {
            case .setSeatMap(let map):
                // A seat held (even past its deadline, until something expires it) or sold keeps
                // the date's layout; a map of the same layout changes only prices.
                if map == PartitionStatePropertyTests.sameSeatMap { return nil }
                return reservations.values.contains { $0.status != .expired } ? .scheduleInUse : nil
            case .reserveSeat(let reserve):
                guard reserve.seatNumber.rawValue <= PartitionStatePropertyTests.seats else { return .seatNotFound }
                if live(onSeat: reserve.seatNumber, at: now) != nil { return .seatUnavailable }
                let held = reservations.values.filter { $0.userID == envelope.userId && $0.effectiveStatus(at: now) != .expired }.count
                if let limit, held >= limit { return .seatLimitReached }
                for (id, reservation) in reservations where reservation.seat == reserve.seatNumber && reservation.status == .held {
                    reservations[id]?.status = .expired
                }
                reservations[envelope.id] = Reservation(
                    id: envelope.id,
                    schedule: PartitionStatePropertyTests.schedule,
                    seat: reserve.seatNumber,
                    userID: envelope.userId,
                    price: Won(Int64(reserve.seatNumber.rawValue) * 1000),
                    status: .held,
                    heldUntil: now.addingTimeInterval(30)
                )
                return nil
            case .pay(let pay):
                guard let reservation = reservations[pay.reservationId] else { return .reservationNotFound }
                guard reservation.userID == envelope.userId else { return .notReservationOwner }
                switch reservation.effectiveStatus(at: now) {
                case .paid: return .alreadyPaid
                case .expired:
                    reservations[pay.reservationId]?.status = .expired
                    return .holdExpired
                case .held:
                    guard let balance = balances[envelope.userId], balance >= reservation.price else { return .insufficientBalance }
                    balances[envelope.userId] = balance - reservation.price
                    reservations[pay.reservationId]?.status = .paid
                    return nil
                }
            case .expireHold(let expire):
                for id in expire.reservationIds where reservations[id]?.status == .held { reservations[id]?.status = .expired }
                return nil
            }
        }
    }
}

/// A tiny deterministic generator, so a failing seed can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
