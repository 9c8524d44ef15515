import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWire
import ConcertWorkers
import Foundation
import Testing

/// The worker's batch machine, driven event by event the way `PartitionWorker` drives it, without any server.
@Suite struct BatchStateMachineTests {
    static let schedule = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate("2026-12-24")!)
    static let elsewhere = ScheduleKey(concertID: ConcertID(2)!, date: ScheduleDate("2026-12-24")!)
    static let alice = UserID("alice")!
    static let bob = UserID("bob")!
    let start = Date(timeIntervalSince1970: 1_795_600_000)

    /// A machine for partition 0, where every schedule but `elsewhere` belongs.
    func machine() -> BatchStateMachine {
        BatchStateMachine(partition: 0, settings: .init(holdDuration: 300)) { $0 == Self.elsewhere ? 1 : 0 }
    }

    static let seats = SeatMap(schedule: schedule, seats: (1...3).map { SeatMap.Seat(number: SeatNumber($0)!, price: Won(Int64($0) * 1000)) })

    static func reserve(_ seat: Int, by user: UserID = alice, schedule: ScheduleKey = schedule) -> CommandEnvelope {
        CommandEnvelope(
            id: UUID(),
            userId: user,
            partitionKey: schedule.partitionKey,
            command: .reserveSeat(.init(concertId: schedule.concertID, date: schedule.date, seatNumber: SeatNumber(seat)!)),
            submittedAt: Date()
        )
    }

    static func pay(_ reservation: UUID, by user: UserID = alice) -> CommandEnvelope {
        CommandEnvelope(
            id: UUID(),
            userId: user,
            partitionKey: schedule.partitionKey,
            command: .pay(.init(reservationId: reservation)),
            submittedAt: Date()
        )
    }

    static func incoming(_ envelopes: [CommandEnvelope], redelivered: Bool = false) -> [BatchStateMachine.Incoming] {
        envelopes.map { .init(body: $0.encoded(), mayBeApplied: redelivered, replyTo: "reply.\($0.id)") }
    }

    /// Runs an attempt whose schedule is loaded from `seats`; returns the write it ends with.
    func write(
        _ machine: inout BatchStateMachine,
        lookUp: [UUID: PartitionStore.StoredOutcome]? = nil,
        load: Bool = true
    ) throws -> (writes: PartitionWrites, seats: [PartitionStore.SeatRow], inTransaction: Bool) {
        var step = machine.startAttempt(now: start)
        if let lookUp {
            guard case .lookUpCompleted = step else { throw TestFailure("expected a look-up of completed commands, got \(step)") }
            step = machine.completedFound(lookUp, now: start)
        }
        if load {
            guard case .loadSchedules(let keys) = step else { throw TestFailure("expected a load, got \(step)") }
            #expect(keys == [Self.schedule])
            step = machine.schedulesLoaded([Self.schedule: (id: 7, seats: Self.seats)], now: start)
        }
        guard case .write(let writes, let seats, let ids, let inTransaction) = step else { throw TestFailure("expected a write, got \(step)") }
        #expect(ids[Self.schedule] == 7)
        return (writes, seats, inTransaction)
    }

    func finished(_ action: BatchStateMachine.Action) throws -> BatchStateMachine.AfterCommit {
        guard case .finish(let after) = action else { throw TestFailure("expected the end of the batch, got \(action)") }
        return after
    }

    /// A seat map changes what the commands after it decide on: a batch holding one goes command
    /// by command, the map's write is a transaction, and after its commit the date is loaded again.
    @Test func aBatchWithASeatMapGoesOneByOneAndLoadsTheDateAgainAfterTheMap() throws {
        var machine = machine()
        let map = try Command.SetSeatMap(
            concertId: Self.schedule.concertID,
            date: Self.schedule.date,
            sections: [.init(name: "Floor", rows: [.init(label: "1", seats: 3, price: 9000)])]
        )
        let setMap = CommandEnvelope(
            id: UUID(),
            userId: UserID("operator")!,
            partitionKey: Self.schedule.partitionKey,
            command: .setSeatMap(map),
            submittedAt: Date()
        )
        let before = Self.reserve(1)
        let after = Self.reserve(2, by: Self.bob)
        guard case .apply(.single) = machine.receive(Self.incoming([before, setMap, after]), subscription: 1) else {
            throw TestFailure("not one by one")
        }
        #expect(machine.goesOneByOne)

        // The hold before the map makes the date in use: the map is refused.
        var (writes, _, _) = try write(&machine, lookUp: [:])
        #expect(writes.outcomes.map(\.envelope.id) == [before.id])
        guard case .apply(.single) = machine.committed() else { throw TestFailure("no next command") }
        (writes, _, _) = try write(&machine, lookUp: [:], load: false)
        #expect(writes.outcomes.first?.failure == .scheduleInUse)
        #expect(writes.seatMaps.isEmpty)
        guard case .apply(.single) = machine.committed() else { throw TestFailure("no next command") }
        _ = try write(&machine, lookUp: [:], load: false)
        _ = try finished(machine.committed())

        // On a free date the map is written in a transaction, and the next command loads the date again.
        var fresh = self.machine()
        guard case .apply(.single) = fresh.receive(Self.incoming([setMap, after]), subscription: 1) else { throw TestFailure("not one by one") }
        let (mapWrites, _, inTransaction) = try write(&fresh, lookUp: [:])
        #expect(mapWrites.seatMaps == [map])
        #expect(inTransaction)
        guard case .apply(.single) = fresh.committed() else { throw TestFailure("no next command") }
        _ = try write(&fresh, lookUp: [:], load: true)
        _ = try finished(fresh.committed())
    }

    @Test func aBatchIsLoadedDecidedWrittenInOneStatementAndFollowedByItsRepliesAndOneExpiry() throws {
        var machine = machine()
        let first = Self.reserve(1)
        let second = Self.reserve(1, by: Self.bob)
        let third = Self.reserve(2, by: Self.bob)
        guard case .apply(.batch) = machine.receive(Self.incoming([first, second, third]), subscription: 1) else { throw TestFailure("not applied") }
        let (writes, seats, inTransaction) = try write(&machine)
        #expect(writes.outcomes.map(\.failure) == [nil, .seatUnavailable, nil])
        #expect(!inTransaction, "holding seats needs no transaction")
        #expect(Set(seats.map(\.number.rawValue)) == [1, 2] && seats.allSatisfy { $0.scheduleID == 7 && $0.expected == nil })
        let after = try finished(machine.committed())
        #expect(after.committed == 3)
        #expect(after.replies.map(\.replyTo) == [first, second, third].map { "reply.\($0.id)" })
        #expect(after.holdsToExpire.count == 1)
        #expect(Set(after.holdsToExpire[0].reservations) == [first.id, third.id])

        // The next batch of the same subscription decides on memory: nothing to load.
        _ = machine.receive(Self.incoming([Self.reserve(2)]), subscription: 1)
        let next = try write(&machine, load: false)
        #expect(next.writes.outcomes.map(\.failure) == [.seatUnavailable])
        _ = machine.committed()

        // Another subscription (another worker may have had the partition): loaded again.
        _ = machine.receive(Self.incoming([Self.reserve(3)]), subscription: 2)
        _ = try write(&machine)
    }

    @Test func undecodableAndMisroutedDeliveriesAreDeadLetteredOneByOneBeforeTheRestIsApplied() throws {
        var machine = machine()
        let good = Self.reserve(1)
        var batch = Self.incoming([good])
        batch.insert(.init(body: Array("not json".utf8), mayBeApplied: false, replyTo: nil), at: 0)
        batch += Self.incoming([Self.reserve(1, schedule: Self.elsewhere)])
        guard case .deadLetter(0, _, nil) = machine.receive(batch, subscription: 1) else { throw TestFailure("the undecodable one first") }
        guard case .deadLetter(2, let reason, nil) = machine.deadLettered(true) else { throw TestFailure("then the misrouted one") }
        #expect(reason.hasPrefix("wrong partition: the command's schedule belongs to partition 1, not 0"))
        guard case .apply(.batch) = machine.deadLettered(true) else { throw TestFailure("then the batch") }
        let (writes, _, _) = try write(&machine)
        #expect(writes.outcomes.map(\.envelope.id) == [good.id])

        // A dead letter that cannot be sent returns the batch.
        var other = self.machine()
        _ = other.receive([.init(body: [], mayBeApplied: false, replyTo: nil)], subscription: 1)
        guard case .returnBatch = other.deadLettered(false) else { throw TestFailure("not returned") }
        // A batch of nothing but dead letters ends without an attempt.
        var empty = self.machine()
        _ = empty.receive([.init(body: [], mayBeApplied: false, replyTo: nil)], subscription: 1)
        #expect(try finished(empty.deadLettered(true)).committed == 0)
    }

    /// A bundle of commands, as the API sends the commands of a partition that arrive while its last message is unconfirmed.
    static func bundle(_ lines: [[UInt8]], returns: Int64 = 0, replyTo: String? = "reply.bundle") -> BatchStateMachine.Incoming {
        .init(body: CommandBundle.body(lines), mayBeApplied: returns > 0, replyTo: replyTo, isBundle: true, returns: returns, messageID: "m1")
    }

    @Test func aBundlesCommandsAreAppliedWithTheBatchAndWhatCannotBeAppliedIsDeadLetteredAlone() throws {
        var machine = machine()
        let first = Self.reserve(1)
        let misrouted = Self.reserve(2, schedule: Self.elsewhere)
        let third = Self.reserve(3)
        let single = Self.reserve(2)
        let batch = [Self.bundle([first.encoded(), Array("not json".utf8), misrouted.encoded(), third.encoded()])] + Self.incoming([single])
        guard case .deadLetter(0, _, let garbage?) = machine.receive(batch, subscription: 1) else { throw TestFailure("the unreadable line first") }
        #expect(garbage == .init(body: Array("not json".utf8), messageID: "m1#2", type: nil))
        guard case .deadLetter(0, let reason, let wrong?) = machine.deadLettered(true) else { throw TestFailure("then the misrouted command") }
        #expect(reason.hasPrefix("wrong partition"))
        #expect(wrong == .init(body: misrouted.encoded(), messageID: misrouted.id.lowercasedString, type: "ReserveSeat"))
        guard case .apply(.batch) = machine.deadLettered(true) else { throw TestFailure("then the batch, together") }
        #expect(!machine.goesOneByOne)
        let (writes, _, _) = try write(&machine)
        #expect(writes.outcomes.map(\.envelope.id) == [first.id, third.id, single.id])
        let after = try finished(machine.committed())
        #expect(after.committed == 3)
        #expect(after.replies.map(\.replyTo) == ["reply.bundle", "reply.bundle", "reply.\(single.id)"])
        #expect(after.replies.map(\.outcome.commandID) == [first.id, third.id, single.id])
    }

    /// A bundle that came back (its worker stopped without settling it) goes one command at a time,
    /// so a command that crashes the worker is always the first of the bundle not yet committed. On
    /// the bundle's last delivery before the broker would dead-letter all of it, that command goes
    /// to the dead letters alone, untried, and the rest are applied.
    @Test func aReturnedBundleGoesOneByOneAndOnItsLastDeliveryOnlyItsSuspectIsDeadLettered() throws {
        let done = Self.reserve(1)
        let suspect = Self.reserve(2)
        let rest = Self.reserve(3)
        let lines = [done.encoded(), suspect.encoded(), rest.encoded()]

        var returnedOnce = machine()
        guard case .apply(.single(command: 0)) = returnedOnce.receive([Self.bundle(lines, returns: 1)], subscription: 1) else {
            throw TestFailure("not one by one")
        }
        #expect(returnedOnce.goesOneByOne)
        guard case .lookUpCompleted([done.id]) = returnedOnce.startAttempt(now: start) else { throw TestFailure("no look-up") }
        guard case .loadSchedules = returnedOnce.completedFound([:], now: start) else { throw TestFailure("not tried: it is not the last delivery") }

        var machine = machine()
        let last = PipelineTopology.deliveryLimit - 1
        guard case .apply(.single(command: 0)) = machine.receive([Self.bundle(lines, returns: last)], subscription: 1) else {
            throw TestFailure("not one by one")
        }
        // The first command committed before the worker stopped: found completed, the suspect is the next.
        guard case .lookUpCompleted([done.id]) = machine.startAttempt(now: start) else { throw TestFailure("no look-up") }
        guard case .commit = machine.completedFound([done.id: .init(errorCode: nil, resultJSON: "{}")], now: start) else {
            throw TestFailure("a completed command written again")
        }
        guard case .apply(.single(command: 1)) = machine.committed() else { throw TestFailure("no next command") }
        guard case .lookUpCompleted([suspect.id]) = machine.startAttempt(now: start) else { throw TestFailure("no look-up") }
        guard case .fail(.suspect) = machine.completedFound([:], now: start) else { throw TestFailure("the suspect was tried") }
        guard case .deadLetter(0, let reason, let alone?) = machine.attemptFailed(.suspect) else { throw TestFailure("not dead-lettered") }
        #expect(reason.hasPrefix("suspected of stopping its worker"))
        #expect(alone == .init(body: suspect.encoded(), messageID: suspect.id.lowercasedString, type: "ReserveSeat"))
        guard case .apply(.single(command: 2)) = machine.deadLettered(true) else { throw TestFailure("the rest not applied") }
        let (writes, _, _) = try write(&machine, lookUp: [:])
        #expect(writes.outcomes.map(\.envelope.id) == [rest.id])
        let after = try finished(machine.committed())
        #expect(Set(after.replies.map(\.outcome.commandID)) == [done.id, rest.id])
    }

    /// The consumer takes returned messages one at a time, so a returned bundle among fresh
    /// messages is the one its switch to the full prefetch handed back, not a suspect: it goes with
    /// the batch (one by one, it would take a transaction per command).
    @Test func aReturnedBundleAmongFreshMessagesGoesWithTheBatch() throws {
        let returned = Self.bundle([Self.reserve(1).encoded(), Self.reserve(2).encoded()], returns: 1)
        let fresh = Self.bundle([Self.reserve(3).encoded(), Self.reserve(4).encoded()])
        var machine = machine()
        guard case .apply(.batch) = machine.receive([returned, fresh], subscription: 1) else { throw TestFailure("not as a batch") }
        #expect(!machine.goesOneByOne)
        // Alone, it is a suspect's bundle and goes one by one.
        var alone = self.machine()
        guard case .apply(.single(command: 0)) = alone.receive([returned], subscription: 1) else { throw TestFailure("not one by one") }
    }

    @Test func whileTheDatabaseIsAwayTheBatchIsRetriedWithGrowingPausesAndThenLooksForWhatItMayHaveApplied() throws {
        var machine = machine()
        let first = Self.reserve(1)
        let second = Self.reserve(2)
        _ = machine.receive(Self.incoming([first, second]), subscription: 1)
        _ = try write(&machine)
        var pauses: [Duration] = []
        for _ in 0..<7 {
            guard case .retry(.batch, let pause) = machine.attemptFailed(.unavailable) else { throw TestFailure("not retried") }
            pauses.append(pause)
            _ = machine.startAttempt(now: start)
        }
        #expect(
            pauses == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600), .milliseconds(3200), .seconds(5),
            ]
        )
        _ = machine.attemptFailed(.unavailable)
        // The last commit's answer may have been lost: the first command is completed already. Memory was forgotten.
        let stored = PartitionStore.StoredOutcome(errorCode: nil, resultJSON: "{}")
        let (writes, _, _) = try write(&machine, lookUp: [first.id: stored])
        #expect(writes.outcomes.map(\.envelope.id) == [second.id])
        let after = try finished(machine.committed())
        #expect(Set(after.replies.map(\.outcome.commandID)) == [first.id, second.id], "the redelivered one is answered as stored")
        #expect(Set(after.holdsToExpire.flatMap(\.reservations)) == [first.id, second.id], "its expiry is scheduled again")
    }

    @Test func aStaleWriteIsDecidedAgainAtOnceThenAfterPausesAndFinallyOneByOne() throws {
        var machine = machine()
        _ = machine.receive(Self.incoming([Self.reserve(1), Self.reserve(2)]), subscription: 1)
        _ = try write(&machine)
        guard case .apply(.batch) = machine.attemptFailed(.stale("CR001")) else { throw TestFailure("not at once") }
        for failure in 2..<BatchStateMachine.staleAttempts {
            _ = machine.startAttempt(now: start)
            guard case .retry(.batch, _) = machine.attemptFailed(.stale("CR001")) else { throw TestFailure("attempt \(failure) not retried") }
        }
        _ = machine.startAttempt(now: start)
        guard case .apply(.single(command: 0)) = machine.attemptFailed(.stale("CR001")) else { throw TestFailure("not one by one") }
    }

    @Test func aBatchThatKeepsFailingGoesOneByOneAndOnlyTheFailingCommandIsDeadLettered() throws {
        var machine = machine()
        let poison = Self.reserve(1)
        let fine = Self.reserve(2)
        _ = machine.receive(Self.incoming([poison, fine]), subscription: 1)
        _ = try write(&machine)
        guard case .apply(.batch) = machine.attemptFailed(.rejected("boom")) else { throw TestFailure("not tried again") }
        // Rolled back: memory does not keep the holds (nothing to load again either).
        #expect(machine.state.seatMap(Self.schedule)?.seat(SeatNumber(1)!)?.reservationID == nil)
        _ = try write(&machine, lookUp: [:], load: false)
        guard case .apply(.single(command: 0)) = machine.attemptFailed(.conflict("duplicate key")) else { throw TestFailure("not one by one") }
        for attempt in 1...BatchStateMachine.singleAttempts {
            let step = machine.startAttempt(now: start)
            guard case .lookUpCompleted([poison.id]) = step else { throw TestFailure("attempt \(attempt): \(step)") }
            let action = machine.attemptFailed(.rejected("boom \(attempt)"))
            if attempt < BatchStateMachine.singleAttempts {
                guard case .apply(.single(command: 0)) = action else { throw TestFailure("attempt \(attempt) not repeated") }
            } else {
                guard case .deadLetter(0, let reason, nil) = action else { throw TestFailure("not dead-lettered: \(action)") }
                #expect(reason == "handler failed: boom 3")
            }
        }
        guard case .apply(.single(command: 1)) = machine.deadLettered(true) else { throw TestFailure("the next one not applied") }
        let (writes, _, _) = try write(&machine, lookUp: [:])
        #expect(writes.outcomes.map(\.envelope.id) == [fine.id])
        let after = try finished(machine.committed())
        #expect(after.replies.map(\.outcome.commandID) == [fine.id])
    }

    @Test func aPaymentDebitsInTheTransactionAndItsStatusChangeIsWrittenInIt() throws {
        var machine = machine()
        let hold = Self.reserve(3)
        _ = machine.receive(Self.incoming([hold]), subscription: 1)
        _ = try write(&machine)
        _ = machine.committed()

        let pay = Self.pay(hold.id)
        let rival = Self.pay(hold.id)
        _ = machine.receive(Self.incoming([pay, rival]), subscription: 1)
        guard case .debit(let debits) = machine.startAttempt(now: start) else { throw TestFailure("no debit") }
        #expect(debits.map(\.commandID) == [pay.id] && debits[0].amount == 3000, "the second payment waits for the first's debit")
        guard case .write(let writes, let seats, _, let inTransaction) = machine.debited([pay.id: .debited(balanceAfter: 7000)]) else {
            throw TestFailure("no write")
        }
        #expect(writes.outcomes.map(\.failure) == [nil, .alreadyPaid])
        #expect(inTransaction && writes.statusChanges[hold.id]?.to == .paid)
        #expect(seats.map(\.expected) == [hold.id], "the seat row must still be the hold's")
        let after = try finished(machine.committed())
        #expect(after.endedTokens == [EndedToken(concert: Self.schedule.concertID, user: Self.alice)])
        #expect(after.holdsToExpire.isEmpty)
    }

    @Test func memoryBehindStorageOrALostChannelDecidesNothingAndForgetsEverything() throws {
        var machine = machine()
        let hold = Self.reserve(1)
        _ = machine.receive(Self.incoming([hold]), subscription: 1)
        _ = try write(&machine)
        _ = machine.committed()

        // A payment of a reservation memory never saw, which storage holds live.
        let stranger = UUID()
        _ = machine.receive(Self.incoming([Self.pay(stranger)]), subscription: 1)
        guard case .lookUpReservations([stranger]) = machine.startAttempt(now: start) else { throw TestFailure("no look-up") }
        guard case .fail(.stale) = machine.reservationsFound([.init(id: stranger, user: Self.alice, status: .held)], now: start) else {
            throw TestFailure("decided on memory behind storage")
        }
        guard case .apply(.batch) = machine.attemptFailed(.stale("behind")) else { throw TestFailure("not decided again") }
        #expect(machine.state.schedulesToLoad(for: [hold], now: start) == [Self.schedule], "memory forgotten")

        _ = machine.startAttempt(now: start)
        _ = machine.completedFound([:], now: start)
        _ = machine.schedulesLoaded([Self.schedule: (id: 7, seats: Self.seats)], now: start)
        guard case .write(let writes, _, _, _) = machine.reservationsFound([], now: start) else { throw TestFailure("no write") }
        #expect(writes.outcomes.map(\.failure) == [.reservationNotFound])
        guard case .stop = machine.attemptFailed(.notOwned) else { throw TestFailure("went on without its channel") }
        #expect(machine.state.schedulesToLoad(for: [hold], now: start) == [Self.schedule])
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
