import Foundation
import Testing

@testable import ConcertDomain

@Suite struct ValueTypeTests {
    @Test(arguments: ["2026-12-24", "2028-02-29", "2000-01-01", "9999-12-31", "0001-01-01", "0152-11-28", "1600-02-29"])
    func realDatesParseAndPrintBack(_ text: String) {
        #expect(ScheduleDate(text)?.description == text)
    }

    @Test(arguments: [
        "2026-02-29", "2026-13-01", "2026-04-31", "26-12-24", "2026-1-5", "2026/12/24", "2026-12-24T00:00", "", "１２３４-01-01", "0000-01-01",
        "1900-02-29",
    ])
    func otherTextIsNotADate(_ text: String) {
        #expect(ScheduleDate(text) == nil)
    }

    @Test func datesFromEpochSeconds() {
        #expect(ScheduleDate(secondsSinceEpoch: 0).description == "1970-01-01")
        #expect(ScheduleDate(secondsSinceEpoch: 1_795_600_000).description == "2026-11-25")
        #expect(ScheduleDate(secondsSinceEpoch: 951_782_400).description == "2000-02-29")
        #expect(ScheduleDate("2026-12-24")! < ScheduleDate("2027-01-01")!)
    }

    @Test func idsAndAmountsAreValidatedWithTheFieldNamed() throws {
        #expect(throws: ValidationError(field: "concertId", reason: "must be a positive integer")) { try ConcertID.parse(0) }
        #expect(throws: ValidationError(field: "concertId", reason: "must be a positive integer")) { try ConcertID.parse("abc") }
        #expect(try ConcertID.parse("7").rawValue == 7)
        #expect(throws: ValidationError.self) { try SeatNumber.parse(0) }
        #expect(throws: ValidationError.self) { try SeatNumber.parse(nil) }
        #expect(throws: ValidationError.self) { try Won.charge(0) }
        #expect(throws: ValidationError.self) { try Won.charge(100_000_001) }
        #expect(try Won.charge(100_000_000) == 100_000_000)
    }

    @Test func partitionsAreStableAndSpread() {
        let key = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate("2026-12-24")!)
        #expect(key.partitionKey == "concert-1/2026-12-24")
        // Pinned: a change of hash would move schedules between partitions of a running system.
        #expect(ScheduleKey.fnv1a("concert-1/2026-12-24") == 0xde86_e6af_af99_786b)
        #expect(key.partition(of: 16) == 11)
        #expect(ScheduleKey.fnv1a("") == 0xcbf2_9ce4_8422_2325)
        #expect(ScheduleKey.fnv1a("a") == 0xaf63_dc4c_8601_ec8c)
        var used = Set<Int>()
        for concert in 1...3 {
            for day in 1...28 {
                let date = ScheduleDate(year: 2026, month: 12, day: day)!
                used.insert(ScheduleKey(concertID: ConcertID(Int64(concert))!, date: date).partition(of: 16))
            }
        }
        #expect(used.count == 16)
    }
}

@Suite struct WaitingRoomTests {
    @Test func theDrawPlacesEarlyArrivalsInSomeOrderAndLateOnesBehindInArrivalOrder() {
        let base = WaitingRoom.provisionalSeqBase
        let early = (1...100).map { base + Int64($0) }
        let late = (101...110).map { base + Int64($0) }
        var generator = SplitMix64(seed: 7)
        let drawn = WaitingRoom.draw(early: early, late: late, after: 40, using: &generator)
        #expect(drawn.map(\.provisional) == early + late)
        #expect(Set(drawn.prefix(100).map(\.place)) == Set(41...140))
        #expect(drawn.suffix(10).map(\.place) == Array(141...150))
        #expect(drawn.prefix(100).map(\.place) != Array(41...140), "not shuffled")
        #expect(WaitingRoom.draw(early: [], late: [], after: 3, using: &generator).isEmpty)
        #expect(WaitingRoom.draw(early: [base + 1], late: [], after: 3, using: &generator).map(\.place) == [4])
        #expect(WaitingRoom.isProvisional(base) && !WaitingRoom.isProvisional(base - 1))
    }

    @Test func positionIsSeqMinusAdmittedThrough() {
        #expect(WaitingRoom.position(seq: 17, admittedThrough: 0) == 17)
        #expect(WaitingRoom.position(seq: 17, admittedThrough: 16) == 1)
        #expect(WaitingRoom.position(seq: 17, admittedThrough: 40) == 0)
    }

    @Test func admissionsRespectCapacityAndRate() {
        let capacityTwo = WaitingRoom.Policy(capacity: 2, admitPerSecond: 0)
        #expect(WaitingRoom.admissions(active: 0, waiting: 4, policy: capacityTwo, elapsedSeconds: 1) == 2)
        #expect(WaitingRoom.admissions(active: 2, waiting: 4, policy: capacityTwo, elapsedSeconds: 1) == 0)
        #expect(WaitingRoom.admissions(active: 1, waiting: 4, policy: capacityTwo, elapsedSeconds: 1) == 1)
        let rated = WaitingRoom.Policy(capacity: 1000, admitPerSecond: 10)
        #expect(WaitingRoom.admissions(active: 0, waiting: 500, policy: rated, elapsedSeconds: 1) == 10)
        #expect(WaitingRoom.admissions(active: 0, waiting: 500, policy: rated, elapsedSeconds: 0.5) == 5)
        #expect(WaitingRoom.admissions(active: 0, waiting: 500, policy: rated, elapsedSeconds: 30) == 10)
        #expect(WaitingRoom.admissions(active: 0, waiting: 3, policy: rated, elapsedSeconds: 1) == 3)
    }

    @Test func waitEstimates() {
        #expect(WaitingRoom.estimatedWaitSeconds(position: 0, admissionsPerSecond: 5) == 0)
        #expect(WaitingRoom.estimatedWaitSeconds(position: 40, admissionsPerSecond: 1) == 40)
        #expect(WaitingRoom.estimatedWaitSeconds(position: 1, admissionsPerSecond: 100) == 1)
        #expect(WaitingRoom.estimatedWaitSeconds(position: 17, admissionsPerSecond: 0) == 17)
    }
}
