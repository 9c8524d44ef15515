import ConcertDomain
import Foundation
import Testing

/// The partition's state machine, driven the way a worker drives it, without any server.
@Suite struct PartitionStateTests {
    static let schedule = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate("2026-12-24")!)
    static let alice = UserID("alice")!
    static let bob = UserID("bob")!
    let start = Date(timeIntervalSince1970: 1_795_600_000)

    /// A state with one schedule of `seats` seats (seat n costs n × 1000) loaded.
    func state(seats: Int = 3, limit: Int? = nil) -> PartitionState {
        var state = PartitionState(settings: .init(holdDuration: 300, maximumSeatsPerUser: limit))
        let map = SeatMap(schedule: Self.schedule, seats: (1...seats).map { SeatMap.Seat(number: SeatNumber($0)!, price: Won(Int64($0) * 1000)) })
        state.install(Self.schedule, map)
        return state
    }

    static func reserve(_ seat: Int, by user: UserID, schedule: ScheduleKey = schedule) -> CommandEnvelope {
        CommandEnvelope(
            id: UUID(),
            userId: user,
            partitionKey: schedule.partitionKey,
            command: .reserveSeat(.init(concertId: schedule.concertID, date: schedule.date, seatNumber: SeatNumber(seat)!)),
            submittedAt: Date()
        )
    }

    static func pay(_ reservation: UUID, by user: UserID) -> CommandEnvelope {
        CommandEnvelope(
            id: UUID(),
            userId: user,
            partitionKey: schedule.partitionKey,
            command: .pay(.init(reservationId: reservation)),
            submittedAt: Date()
        )
    }

    static func expire(_ reservations: [UUID]) -> CommandEnvelope {
        CommandEnvelope(
            id: UUID(),
            userId: UserID("system")!,
            partitionKey: schedule.partitionKey,
            command: .expireHold(.init(reservationIds: reservations)),
            submittedAt: Date()
        )
    }

    func decided(_ decision: PartitionState.Decision) throws -> Outcome {
        guard case .decided(let outcome) = decision else { throw TestFailure("expected a decision, got \(decision)") }
        return outcome
    }

    @Test func aHeldSeatIsUnavailableUntilItsDeadlineThenTakenOverWithTheLapsedHoldExpired() throws {
        var state = state()
        let first = Self.reserve(2, by: Self.alice)
        let hold = try decided(state.handle(first, now: start))
        guard case .success(.reservation(let result)) = hold.result else { throw TestFailure("not held: \(hold.result)") }
        #expect(result.reservationId == first.id)
        #expect(result.price == 2000)
        #expect(result.heldUntil == start.addingTimeInterval(300))
        #expect(hold.effects.count == 1)

        let tooEarly = try decided(state.handle(Self.reserve(2, by: Self.bob), now: start.addingTimeInterval(299)))
        #expect(tooEarly.failure == .seatUnavailable && tooEarly.effects.isEmpty)
        #expect(state.seatMap(Self.schedule)?.freeSeats(at: start).map(\.number.rawValue) == [1, 3])

        // Past the deadline the seat is free again, without any expiry message; the lapsed hold is expired with it.
        let second = try decided(state.handle(Self.reserve(2, by: Self.bob), now: start.addingTimeInterval(301)))
        #expect(second.failure == nil)
        guard case .end(let lapsed) = second.effects.first else { throw TestFailure("no expiry effect: \(second.effects)") }
        #expect(lapsed.id == first.id && lapsed.status == .expired)
    }

    static func seatMap(_ seats: Int, schedule: ScheduleKey = schedule) throws -> CommandEnvelope {
        let map = try Command.SetSeatMap(
            concertId: schedule.concertID,
            date: schedule.date,
            sections: [.init(name: "Floor", rows: [.init(label: "1", seats: seats, price: 5000)])]
        )
        return CommandEnvelope(
            id: UUID(),
            userId: UserID("operator")!,
            partitionKey: schedule.partitionKey,
            command: .setSeatMap(map),
            submittedAt: Date()
        )
    }

    @Test func aSeatMapCreatesOrReplacesADateNothingOfWhichIsHeldOrSold() throws {
        var fresh = PartitionState(settings: .init())
        let created = try decided(fresh.handle(try Self.seatMap(4), now: start))
        guard case .success(.seatMap(let result)) = created.result else { throw TestFailure("\(created.result)") }
        #expect(result.created && result.seats == 4)
        #expect(created.effects.count == 1)

        var loaded = state()
        let replaced = try decided(loaded.handle(try Self.seatMap(2), now: start))
        guard case .success(.seatMap(let again)) = replaced.result else { throw TestFailure("\(replaced.result)") }
        #expect(!again.created)

        _ = try decided(loaded.handle(Self.reserve(1, by: Self.alice), now: start))
        // A hold, even one past its deadline and not yet expired, keeps the date's seats.
        for now in [start, start.addingTimeInterval(3600)] {
            let refused = try decided(loaded.handle(try Self.seatMap(2), now: now))
            #expect(refused.failure == .scheduleInUse)
            #expect(refused.effects.isEmpty)
        }
    }

    @Test func aSeatMapKeepsEveryRuleOfAVenueAndAPayloadThatBreaksOneIsNotRead() throws {
        let row = Command.SetSeatMap.Row(label: "1", seats: 10, price: 1000)
        let key = Self.schedule
        #expect(throws: ValidationError.self) { try Command.SetSeatMap(concertId: key.concertID, date: key.date, sections: []) }
        let map = try Command.SetSeatMap(
            concertId: key.concertID,
            date: key.date,
            sections: [.init(name: "A", rows: [row, .init(label: "2", seats: 5, price: 2000)]), .init(name: "B", rows: [row])]
        )
        #expect(map.seatCount == 25)
        #expect(map.placedRows.map(\.firstSeat) == [1, 11, 16])
        let tooBig = #"{"concertId":1,"date":"2026-12-24","sections":[{"name":"A","rows":[{"label":"1","seats":0,"price":1000}]}]}"#
        #expect(throws: ValidationError.self) { try JSONDecoder().decode(Command.SetSeatMap.self, from: Data(tooBig.utf8)) }
    }

    @Test func unknownSeatsAndSchedulesAreRefused() throws {
        var state = state()
        #expect(try decided(state.handle(Self.reserve(4, by: Self.alice), now: start)).failure == .seatNotFound)
        let elsewhere = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate("2026-12-25")!)
        let command = Self.reserve(1, by: Self.alice, schedule: elsewhere)
        #expect(state.schedulesToLoad(for: [command], now: start) == [elsewhere])
        state.install(elsewhere, nil, now: start)
        #expect(state.schedulesToLoad(for: [command], now: start).isEmpty)
        #expect(try decided(state.handle(command, now: start)).failure == .scheduleNotFound)
    }

    @Test func aMissingScheduleIsLookedForAgainSoonAndTheirNumberIsBounded() throws {
        var state = state()
        let later = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate("2026-12-25")!)
        let command = Self.reserve(1, by: Self.alice, schedule: later)
        state.install(later, nil, now: start)
        #expect(state.schedulesToLoad(for: [command], now: start.addingTimeInterval(0.5)).isEmpty)
        // The date was created meanwhile: past `missingFor` it is loaded again, and then found.
        let after = start.addingTimeInterval(PartitionState.missingFor)
        #expect(state.schedulesToLoad(for: [command], now: after) == [later])
        state.install(later, SeatMap(schedule: later, seats: [SeatMap.Seat(number: SeatNumber(1)!, price: 500)]), now: after)
        #expect(try decided(state.handle(command, now: after)).failure == nil)

        // Dates that do not exist, named by one active token after another, never grow memory past the limit.
        for day in 0..<(PartitionState.missingLimit * 3) {
            let key = ScheduleKey(concertID: ConcertID(2)!, date: ScheduleDate(secondsSinceEpoch: 1_800_000_000 + Int64(day) * 86_400))
            state.install(key, nil, now: start)
        }
        #expect(state.rememberedMissingSchedules <= PartitionState.missingLimit)
    }

    @Test func aPaymentDebitsThenSellsTheSeat() throws {
        var state = state()
        let reserve = Self.reserve(1, by: Self.alice)
        _ = state.handle(reserve, now: start)
        let pay = Self.pay(reserve.id, by: Self.alice)
        #expect(state.reservationsToLookUp(for: [pay]).isEmpty)
        guard case .debit(let debit) = state.handle(pay, now: start.addingTimeInterval(10)) else { throw TestFailure("no debit") }
        #expect(debit.user == Self.alice && debit.amount == 1000 && debit.commandID == pay.id)
        let paid = state.completeDebit(pay.id, .debited(balanceAfter: 4000), now: start.addingTimeInterval(10))
        let outcome = try #require(paid)
        guard case .success(.payment(let receipt)) = outcome.result, case .sell(let sold, _) = outcome.effects.first else {
            throw TestFailure("not sold: \(outcome)")
        }
        #expect(receipt.paymentId == pay.id && receipt.amount == 1000 && receipt.balanceAfter == 4000)
        #expect(sold.status == .paid)
        // Paid: a second payment is refused, and the seat stays sold long after the hold's deadline.
        #expect(try decided(state.handle(Self.pay(reserve.id, by: Self.alice), now: start)).failure == .alreadyPaid)
        #expect(try decided(state.handle(Self.expire([reserve.id]), now: start.addingTimeInterval(400))).effects.isEmpty)
        #expect(state.seatMap(Self.schedule)?.isFree(SeatNumber(1)!, at: start.addingTimeInterval(10_000)) == false)
    }

    @Test func aPaymentThatTheBalanceDoesNotCoverLeavesTheHold() throws {
        var state = state()
        let reserve = Self.reserve(3, by: Self.alice)
        _ = state.handle(reserve, now: start)
        let pay = Self.pay(reserve.id, by: Self.alice)
        guard case .debit = state.handle(pay, now: start) else { throw TestFailure("no debit") }
        let refused = state.completeDebit(pay.id, .insufficient, now: start)
        let outcome = try #require(refused)
        #expect(outcome.failure == .insufficientBalance && outcome.effects.isEmpty)
        guard case .debit = state.handle(Self.pay(reserve.id, by: Self.alice), now: start) else { throw TestFailure("the hold did not stay") }
    }

    @Test func paymentRefusals() throws {
        var state = state()
        let reserve = Self.reserve(1, by: Self.alice)
        _ = state.handle(reserve, now: start)
        #expect(try decided(state.handle(Self.pay(reserve.id, by: Self.bob), now: start)).failure == .notReservationOwner)
        // Past its deadline: refused, and the hold is expired in the same stroke.
        let late = try decided(state.handle(Self.pay(reserve.id, by: Self.alice), now: start.addingTimeInterval(300)))
        #expect(late.failure == .holdExpired)
        guard case .end(let lapsed)? = late.effects.first, lapsed.status == .expired else { throw TestFailure("the lapsed hold was not expired") }
        // What memory no longer holds is answered from what storage said.
        let gone = UUID()
        let paidLongAgo = UUID()
        let someoneElses = UUID()
        let commands = [Self.pay(gone, by: Self.alice), Self.pay(paidLongAgo, by: Self.alice), Self.pay(someoneElses, by: Self.alice)]
        #expect(Set(state.reservationsToLookUp(for: commands)) == [gone, paidLongAgo, someoneElses])
        state.remember([
            .init(id: paidLongAgo, user: Self.alice, status: .paid),
            .init(id: someoneElses, user: Self.bob, status: .held),
        ])
        #expect(try decided(state.handle(commands[0], now: start)).failure == .reservationNotFound)
        #expect(try decided(state.handle(commands[1], now: start)).failure == .alreadyPaid)
        #expect(try decided(state.handle(commands[2], now: start)).failure == .notReservationOwner)
        #expect(try decided(state.handle(Self.pay(reserve.id, by: Self.alice), now: start)).failure == .holdExpired)
    }

    @Test func commandsThatDependOnADebitInFlightWait() throws {
        var state = state()
        let first = Self.reserve(1, by: Self.alice)
        let second = Self.reserve(2, by: Self.alice)
        _ = state.handle(first, now: start)
        _ = state.handle(second, now: start)
        let pay = Self.pay(first.id, by: Self.alice)
        guard case .debit = state.handle(pay, now: start) else { throw TestFailure("no debit") }
        // The same user's balance, the same reservation: wait.
        #expect(state.handle(Self.pay(second.id, by: Self.alice), now: start) == .awaitingDebits)
        #expect(state.handle(Self.expire([first.id]), now: start) == .awaitingDebits)
        // Another user's payment, or a reservation of another seat, need not wait.
        if case .awaitingDebits = state.handle(Self.reserve(3, by: Self.bob), now: start) { Issue.record("a reservation waited") }
        #expect(state.debitsInFlight == 1)
        _ = state.completeDebit(pay.id, .debited(balanceAfter: 0), now: start)
        #expect(state.debitsInFlight == 0)
        guard case .debit = state.handle(Self.pay(second.id, by: Self.alice), now: start) else { throw TestFailure("no debit after the wait") }
    }

    @Test func anExpiryReleasesEachUnpaidHoldOnce() throws {
        var state = state()
        let one = Self.reserve(1, by: Self.alice)
        let two = Self.reserve(2, by: Self.bob)
        _ = state.handle(one, now: start)
        _ = state.handle(two, now: start)
        let outcome = try decided(state.handle(Self.expire([one.id, two.id, UUID()]), now: start.addingTimeInterval(300)))
        #expect(outcome.failure == nil && outcome.effects.count == 2)
        #expect(try decided(state.handle(Self.expire([one.id]), now: start)).effects.isEmpty)
        #expect(state.seatMap(Self.schedule)?.isFree(SeatNumber(1)!, at: start) == true)
        // An expiry frees only its own hold: the seat taken again since stays taken.
        let again = Self.reserve(1, by: Self.bob)
        _ = state.handle(again, now: start.addingTimeInterval(301))
        #expect(try decided(state.handle(Self.expire([one.id]), now: start.addingTimeInterval(302))).effects.isEmpty)
        #expect(state.seatMap(Self.schedule)?.isFree(SeatNumber(1)!, at: start.addingTimeInterval(302)) == false)
    }

    @Test func oneExpiryEndsTheHoldsOfSeveralSchedulesOfThePartition() throws {
        var state = state()
        let other = ScheduleKey(concertID: ConcertID(2)!, date: ScheduleDate("2026-12-25")!)
        let here = Self.reserve(1, by: Self.alice)
        let there = Self.reserve(1, by: Self.bob, schedule: other)
        let expiry = CommandEnvelope(
            id: UUID(),
            userId: UserID("system")!,
            partitionKey: Self.schedule.partitionKey,
            command: .expireHold(
                .init(holds: [
                    .init(partitionKey: Self.schedule.partitionKey, reservationIds: [here.id]),
                    .init(partitionKey: other.partitionKey, reservationIds: [there.id]),
                ])
            ),
            submittedAt: Date()
        )
        #expect(state.schedulesToLoad(for: [there, expiry], now: start) == [other])
        state.install(other, SeatMap(schedule: other, seats: [SeatMap.Seat(number: SeatNumber(1)!, price: 500)]))
        _ = state.handle(here, now: start)
        _ = state.handle(there, now: start)
        let outcome = try decided(state.handle(expiry, now: start.addingTimeInterval(300)))
        #expect(outcome.effects.count == 2)
        #expect(state.seatMap(Self.schedule)?.isFree(SeatNumber(1)!, at: start) == true)
        #expect(state.seatMap(other)?.isFree(SeatNumber(1)!, at: start) == true)
    }

    @Test func aUserHoldsAtMostTheLimitPerSchedule() throws {
        var state = state(seats: 5, limit: 2)
        let first = Self.reserve(1, by: Self.alice)
        _ = state.handle(first, now: start)
        _ = state.handle(Self.reserve(2, by: Self.alice), now: start)
        #expect(try decided(state.handle(Self.reserve(3, by: Self.alice), now: start)).failure == .seatLimitReached)
        #expect(try decided(state.handle(Self.reserve(3, by: Self.bob), now: start)).failure == nil)
        // A hold that ended no longer counts; a paid seat does.
        _ = state.handle(Self.expire([first.id]), now: start)
        #expect(try decided(state.handle(Self.reserve(4, by: Self.alice), now: start)).failure == nil)
        #expect(try decided(state.handle(Self.reserve(5, by: Self.alice), now: start.addingTimeInterval(10))).failure == .seatLimitReached)
        #expect(try decided(state.handle(Self.reserve(5, by: Self.alice), now: start.addingTimeInterval(301))).failure == nil)
    }

    @Test func aRollbackUndoesTheBatchAndForgettingReloads() throws {
        var state = state()
        let kept = Self.reserve(1, by: Self.alice)
        _ = state.handle(kept, now: start)
        state.commit()
        let before = try #require(state.seatMap(Self.schedule))

        let taken = Self.reserve(2, by: Self.bob)
        _ = state.handle(taken, now: start)
        _ = state.handle(Self.expire([kept.id]), now: start)
        _ = state.handle(Self.reserve(1, by: Self.bob), now: start)
        state.rollback()
        let after = try #require(state.seatMap(Self.schedule))
        #expect(after.freeSeats(at: start) == before.freeSeats(at: start))
        #expect((1...before.seatCount).map { after.seat(SeatNumber($0)!) } == (1...before.seatCount).map { before.seat(SeatNumber($0)!) })
        #expect(after.reservations == before.reservations)
        #expect(after.liveSeats(of: Self.bob, at: start) == 0)

        state.forgetEverything()
        #expect(state.seatMap(Self.schedule) == nil)
        #expect(state.schedulesToLoad(for: [kept], now: start) == [Self.schedule])
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
