import ConcertDomain
import Foundation
import Testing

@Suite struct SeatMapTests {
    static let schedule = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate("2026-12-24")!)
    static let alice = UserID("alice")!
    static let bob = UserID("bob")!
    let start = Date(timeIntervalSince1970: 1_795_600_000)

    func map(seats: Int = 3) -> SeatMap {
        SeatMap(schedule: Self.schedule, seats: (1...seats).map { SeatMap.Seat(number: SeatNumber($0)!, price: Won(Int64($0) * 1000)) })
    }

    @Test func aHeldSeatIsUnavailableUntilItsDeadline() throws {
        var seats = map()
        let seven = SeatNumber(2)!
        let hold = try seats.reserve(seven, for: Self.alice, reservationID: UUID(), at: start, holdDuration: 300).get()
        #expect(hold.reservation.status == .held)
        #expect(hold.reservation.price == 2000)
        #expect(hold.reservation.heldUntil == start.addingTimeInterval(300))
        #expect(seats.reserve(seven, for: Self.bob, reservationID: UUID(), at: start.addingTimeInterval(299), holdDuration: 300) == .failure(.seatUnavailable))
        #expect(!seats.isFree(seven, at: start.addingTimeInterval(299)))
        #expect(seats.freeSeats(at: start).map(\.number.rawValue) == [1, 3])

        // Past the deadline the seat reads free and can be held again, even without an expiry message.
        #expect(seats.isFree(seven, at: start.addingTimeInterval(300)))
        let second = try seats.reserve(seven, for: Self.bob, reservationID: UUID(), at: start.addingTimeInterval(301), holdDuration: 300).get()
        #expect(second.expired?.id == hold.reservation.id)
        #expect(second.expired?.status == .expired)
    }

    @Test func unknownSeatsAreNotFound() {
        var seats = map()
        #expect(seats.reserve(SeatNumber(4)!, for: Self.alice, reservationID: UUID(), at: start, holdDuration: 300) == .failure(.seatNotFound))
    }

    @Test func paymentRules() throws {
        var seats = map()
        let id = try seats.reserve(SeatNumber(1)!, for: Self.alice, reservationID: UUID(), at: start, holdDuration: 300).get().reservation.id
        #expect(seats.payable(UUID(), by: Self.alice, at: start) == .failure(.reservationNotFound))
        #expect(seats.payable(id, by: Self.bob, at: start) == .failure(.notReservationOwner))
        #expect(seats.payable(id, by: Self.alice, at: start.addingTimeInterval(300)) == .failure(.holdExpired))
        #expect(try seats.payable(id, by: Self.alice, at: start.addingTimeInterval(299)).get().id == id)
        #expect(seats.markPaid(id)?.status == .paid)
        #expect(seats.payable(id, by: Self.alice, at: start) == .failure(.alreadyPaid))
        // A late expiry of a paid hold does nothing; the seat stays sold, even after the deadline.
        #expect(seats.expire(id) == nil)
        #expect(!seats.isFree(SeatNumber(1)!, at: start.addingTimeInterval(10_000)))
    }

    @Test func expiryReleasesAnUnpaidHoldOnce() throws {
        var seats = map()
        let id = try seats.reserve(SeatNumber(1)!, for: Self.alice, reservationID: UUID(), at: start, holdDuration: 300).get().reservation.id
        #expect(seats.expire(id)?.status == .expired)
        #expect(seats.expire(id) == nil)
        #expect(seats.isFree(SeatNumber(1)!, at: start))
        #expect(seats.payable(id, by: Self.alice, at: start) == .failure(.holdExpired))
    }

    /// Property: whatever sequence of reservations, expiries, payments and clock steps, a seat is
    /// sold at most once, has at most one live reservation, and a paid reservation never changes.
    @Test(arguments: 0..<40)
    func noSequenceOfCommandsDoubleBooksASeat(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var seats = map(seats: 4)
        let users = (0..<5).map { UserID("user\($0)")! }
        var known: [UUID] = []
        var paid: [UUID: Reservation] = [:]
        var now = start
        for _ in 0..<300 {
            switch random.next() % 4 {
            case 0, 1:
                let id = UUID()
                let seat = SeatNumber(Int(random.next() % 5) + 1)!  // seat 5 does not exist
                if case .success = seats.reserve(seat, for: users[Int(random.next() % 5)], reservationID: id, at: now, holdDuration: 30) {
                    known.append(id)
                }
            case 2 where !known.isEmpty:
                let id = known[Int(random.next() % UInt64(known.count))]
                let user = users[Int(random.next() % 5)]
                if case .success = seats.payable(id, by: user, at: now), let reservation = seats.markPaid(id) {
                    #expect(paid[id] == nil, "paid twice")
                    paid[id] = reservation
                }
            case 3 where !known.isEmpty:
                _ = seats.expire(known[Int(random.next() % UInt64(known.count))])
            default:
                now = now.addingTimeInterval(Double(random.next() % 20))
            }

            var liveBySeat: [SeatNumber: Int] = [:]
            for reservation in seats.reservations.values where reservation.effectiveStatus(at: now) != .expired {
                liveBySeat[reservation.seat, default: 0] += 1
            }
            #expect(liveBySeat.values.allSatisfy { $0 <= 1 }, "a seat with two live reservations")
            for (id, reservation) in paid {
                #expect(seats.reservations[id] == reservation, "a paid reservation changed")
                #expect(!seats.isFree(reservation.seat, at: now), "a sold seat became free")
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
