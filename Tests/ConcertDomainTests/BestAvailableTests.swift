import ConcertDomain
import Foundation
import Testing

/// "Best available" on a small hall: blocks in one row, best first, no single seat stranded
/// when another block avoids it, seats apart only when asked, within a section and a price.
@Suite struct BestAvailableTests {
    static let schedule = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate("2027-03-14")!)
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// Floor: rows 1 and 2 of 5 seats at 150 000 (seats 1–10); Balcony: one row of 4 at 90 000 (11–14).
    static func hall(taken: [Int] = [], heldUntil: Date = now.addingTimeInterval(300)) -> SeatMap {
        let holder = Reservation(
            id: UUID(),
            schedule: schedule,
            seats: taken.map { Reservation.Seat(number: SeatNumber($0)!, price: $0 <= 10 ? 150_000 : 90_000) },
            userID: UserID("someone")!,
            status: .held,
            heldUntil: heldUntil
        )
        let seats = (1...14).map { number in
            SeatMap.Seat(number: SeatNumber(number)!, price: number <= 10 ? 150_000 : 90_000, reservationID: taken.contains(number) ? holder.id : nil)
        }
        let rows = [
            SeatMap.Row(section: "Floor", label: "1", first: SeatNumber(1)!, count: 5),
            SeatMap.Row(section: "Floor", label: "2", first: SeatNumber(6)!, count: 5),
            SeatMap.Row(section: "Balcony", label: "A", first: SeatNumber(11)!, count: 4),
        ]
        return SeatMap(schedule: schedule, seats: seats, reservations: taken.isEmpty ? [] : [holder], rows: rows)
    }

    static func best(_ map: inout SeatMap, _ quantity: Int, section: String? = nil, maxPrice: Won? = nil, together: Bool = true) -> [Int]? {
        map.bestAvailable(SeatMap.Request(quantity: quantity, section: section, maxPrice: maxPrice, together: together), at: now)?.map(\.rawValue)
    }

    @Test func theFirstBlockInTheMapsOrderIsTaken() {
        var map = Self.hall()
        #expect(Self.best(&map, 2) == [1, 2])
        #expect(Self.best(&map, 5) == [1, 2, 3, 4, 5])
        #expect(Self.best(&map, 2, section: "Balcony") == [11, 12])
        #expect(Self.best(&map, 2, maxPrice: 100_000) == [11, 12])
        #expect(Self.best(&map, 6) == nil, "no row has six seats")
        #expect(Self.best(&map, 6, together: false) == [1, 2, 3, 4, 5, 6])
    }

    @Test func aBlockThatWouldStrandASingleSeatIsTheLastResort() {
        // Row 1: seat 1 taken, 2–5 free: four together leave none; three would strand one.
        var map = Self.hall(taken: [1])
        #expect(Self.best(&map, 4) == [2, 3, 4, 5])
        // Three: row 1's run of four would strand a seat, row 2's five leave two.
        #expect(Self.best(&map, 3) == [6, 7, 8])
        // Only blocks that strand one: taken as the last resort, best first.
        var tight = Self.hall(taken: [1, 6, 11, 12])
        #expect(Self.best(&tight, 3) == [2, 3, 4])
    }

    @Test func aLapsedHoldIsFreeAndAFullRowIsSkipped() {
        var lapsed = Self.hall(taken: [1, 2, 3, 4, 5], heldUntil: Self.now.addingTimeInterval(-1))
        #expect(Self.best(&lapsed, 5) == [1, 2, 3, 4, 5], "a hold past its deadline counts as free")
        var full = Self.hall(taken: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        #expect(Self.best(&full, 2) == [11, 12])
        #expect(full.freeCount(section: "Floor", maxPrice: nil, at: Self.now) == 0)
        #expect(full.freeCount(section: nil, maxPrice: nil, at: Self.now) == 4)
    }

    @Test func aCancelledDateHasNothingToOffer() throws {
        var state = PartitionState(settings: .init(holdDuration: 300))
        state.install(Self.schedule, Self.hall())
        let cancel = CommandEnvelope(
            id: UUID(),
            userId: .operator,
            partitionKey: Self.schedule.partitionKey,
            command: .cancelDate(.init(concertId: Self.schedule.concertID, date: Self.schedule.date)),
            submittedAt: Self.now
        )
        guard case .decided(let cancelled) = state.handle(cancel, now: Self.now) else { throw TestFailure("not decided") }
        #expect(cancelled.failure == nil)
        let reserve = CommandEnvelope(
            id: UUID(),
            userId: UserID("late")!,
            partitionKey: Self.schedule.partitionKey,
            command: .reserveSeat(.init(concertId: Self.schedule.concertID, date: Self.schedule.date, selection: .best(.init(quantity: 1)))),
            submittedAt: Self.now
        )
        guard case .decided(let refused) = state.handle(reserve, now: Self.now) else { throw TestFailure("not decided") }
        #expect(refused.failure == .scheduleNotFound)
    }
}
