import ConcertDomain
import Foundation
import Testing

/// Random command sequences, in random batches, against the partition's state machine driven as a
/// worker drives it (debits deferred, an operator's command alone, batches committed, rolled back
/// or forgotten and reloaded), and against a naive reference (`BoxOfficeReference`) that applies
/// each command on the spot with the rules of the design, scanning everything. Every outcome —
/// its code, the seats a reservation got, the free count a refusal tells — must be the same, and
/// the invariants must hold throughout: no seat in two live reservations, wallets never negative
/// and equal to their ledgers, a refund at most once and of exactly what was paid.
@Suite struct PartitionStatePropertyTests {
    static let schedule = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate("2026-12-24")!)
    static let users = (0..<4).map { UserID("user\($0)")! }
    /// Section A: rows 1 and 2 of 4 seats at 2 000 (seats 1–8); section B: one row of 5 at 1 000 (9–13).
    static let layout: [(section: String, row: String, first: Int, count: Int, price: Won)] = [
        ("A", "1", 1, 4, 2000), ("A", "2", 5, 4, 2000), ("B", "1", 9, 5, 1000),
    ]
    static let seatCount = 13

    static func price(of seat: Int) -> Won { layout.first { (($0.first)..<($0.first + $0.count)).contains(seat) }!.price }

    @Test(arguments: 0..<80)
    func theStateMachineDecidesAsTheReferenceAndKeepsTheInvariants(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let limit: Int? = seed % 3 == 0 ? 4 : nil
        let cancels = seed % 4 == 1
        var reference = BoxOfficeReference(limit: limit)
        var storage = StoredBoxOffice()
        var state = PartitionState(settings: .init(holdDuration: 30, maximumSeatsPerUser: limit))
        state.install(Self.schedule, storage.seatMap())
        var now = Date(timeIntervalSince1970: 1_795_600_000)
        var reservations: [UUID] = []
        var paidEver: [UUID: Reservation] = [:]

        for _ in 0..<140 {
            now = now.addingTimeInterval(Double(random.next() % 12))
            let drawn = (0..<(Int(random.next() % 8) + 1)).map { _ in Self.randomCommand(&random, known: reservations, cancels: cancels) }
            // As the worker does: a batch with an operator's command goes one command at a time.
            let batches = drawn.contains { $0.command.isApart } ? drawn.map { [$0] } : [drawn]
            for batch in batches {
                for command in batch where command.command.type == .reserveSeat { reservations.append(command.id) }
                let (referenceBefore, storageBefore) = (reference, storage)
                let outcomes = try Self.decide(batch, state: &state, storage: &storage, now: now)

                // The reference, one command at a time, must have decided the same.
                for command in batch {
                    let expected = reference.apply(command, now: now)
                    let outcome = try #require(outcomes[command.id])
                    #expect(
                        outcome.failure == expected.failure,
                        "command \(command.command) at \(now): \(String(describing: outcome.failure)) vs \(expected)"
                    )
                    if case .success(.reservation(let result)) = outcome.result {
                        #expect(result.seats.map(\.number) == expected.seats, "command \(command.command): got \(result.seats.map(\.number))")
                    }
                    if case .freeSeats(let free)? = outcome.detail { #expect(free == expected.free, "free seats told: \(free) vs \(expected)") }
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
                try Self.checkInvariants(state: state, storage: storage, paidEver: &paidEver, limit: limit, now: now)
            }
        }
    }

    /// Decides a batch as `BatchStateMachine` does: facts looked up, debits deferred until needed.
    static func decide(_ batch: [CommandEnvelope], state: inout PartitionState, storage: inout StoredBoxOffice, now: Date) throws -> [UUID: Outcome] {
        state.remember(state.reservationsToLookUp(for: batch).compactMap { storage.facts($0) })
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
        return outcomes
    }

    static func checkInvariants(
        state: PartitionState,
        storage: StoredBoxOffice,
        paidEver: inout [UUID: Reservation],
        limit: Int?,
        now: Date
    ) throws {
        let map = try #require(state.seatMap(schedule))
        #expect(map.reservations == storage.live, "memory and storage disagree")
        var liveBySeat: [SeatNumber: Int] = [:]
        for reservation in storage.all.values where reservation.effectiveStatus(at: now).isLive {
            for seat in reservation.seatNumbers { liveBySeat[seat, default: 0] += 1 }
        }
        #expect(liveBySeat.values.allSatisfy { $0 <= 1 }, "a seat in two live reservations")
        for reservation in storage.all.values where reservation.status == .paid || reservation.status == .refunded {
            if let earlier = paidEver[reservation.id] {
                #expect(earlier.seats == reservation.seats && earlier.userID == reservation.userID, "a paid reservation changed")
            }
            paidEver[reservation.id] = reservation
            if reservation.status == .paid {
                #expect(reservation.seatNumbers.allSatisfy { !map.isFree($0, at: now) }, "a sold seat became free")
            }
        }
        for (user, balance) in storage.balances {
            #expect(balance >= 0, "a negative balance")
            #expect(balance.amount == storage.ledger[user, default: []].reduce(0) { $0 + $1 }, "\(user)'s wallet differs from its ledger")
        }
        for (id, refunds) in storage.refunds {
            #expect(refunds.count == 1, "reservation \(id) refunded \(refunds.count) times")
            #expect(refunds.first == storage.paidAmounts[id], "a refund differs from what was paid")
        }
        if let limit {
            for user in users { #expect(map.liveSeats(of: user, at: now) <= limit, "more seats than the limit") }
        }
    }

    static func randomCommand(_ random: inout SplitMix64, known: [UUID], cancels: Bool) -> CommandEnvelope {
        func pick(_ count: Int) -> Int { Int(random.next() % UInt64(count)) }
        var user = users[pick(users.count)]
        let knownOrNew = { (random: inout SplitMix64) -> UUID in
            known.isEmpty || random.next() % 8 == 0 ? UUID() : known[Int(random.next() % UInt64(known.count))]
        }
        let command: Command
        switch random.next() % 20 {
        case 0, 1, 2:
            // Seat 14 does not exist.
            command = .reserveSeat(.init(concertId: schedule.concertID, date: schedule.date, seatNumber: SeatNumber(pick(seatCount + 1) + 1)!))
        case 3, 4:
            let seats = Set((0..<(pick(3) + 2)).map { _ in SeatNumber(pick(seatCount + 1) + 1)! })
            command = .reserveSeat(.init(concertId: schedule.concertID, date: schedule.date, selection: .seats(seats.sorted())))
        case 5, 6, 7:
            let section = [nil, nil, "A", "B", "C"][pick(5)]
            let request = SeatMap.Request(quantity: pick(4) + 1, section: section, maxPrice: pick(4) == 0 ? 1500 : nil, together: pick(3) != 0)
            command = .reserveSeat(.init(concertId: schedule.concertID, date: schedule.date, selection: .best(request)))
        case 8, 9, 10, 11:
            command = .pay(.init(reservationId: knownOrNew(&random)))
        case 12, 13:
            command = .release(.init(reservationId: knownOrNew(&random)))
        case 14:
            let ids = known.isEmpty ? [UUID()] : (0..<(pick(3) + 1)).map { _ in known[pick(known.count)] }
            command = .expireHold(.init(reservationIds: ids))
        case 15, 16:
            command = .refund(.init(reservationId: knownOrNew(&random)))
            user = .operator
        case 17 where cancels && pick(12) == 0:
            command = .cancelDate(.init(concertId: schedule.concertID, date: schedule.date))
            user = .operator
        default:
            command = .setSeatMap(pick(2) == 0 ? sameSeatMap : otherLayout)
            user = .operator
        }
        return CommandEnvelope(id: UUID(), userId: user, partitionKey: schedule.partitionKey, command: command, submittedAt: Date())
    }

    /// The schedule's own seats as an operator would send them again: applying it changes no seat,
    /// so only the rule that decides it is at stake — allowed whatever is held or sold, as it keeps the layout.
    static let sameSeatMap = seatMap(sections: ["A", "B"])
    /// The same seats and prices in sections of other names: another layout, refused while a
    /// seat is held or sold. Applied, it changes nothing the model follows (the stored layout
    /// stays, as if the operator changed it back at once).
    static let otherLayout = seatMap(sections: ["X", "Y"])

    static func seatMap(sections names: [String]) -> Command.SetSeatMap {
        try! Command.SetSeatMap(
            concertId: schedule.concertID,
            date: schedule.date,
            sections: [
                .init(name: names[0], rows: [.init(label: "1", seats: 4, price: 2000), .init(label: "2", seats: 4, price: 2000)]),
                .init(name: names[1], rows: [.init(label: "1", seats: 5, price: 1000)]),
            ]
        )
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
