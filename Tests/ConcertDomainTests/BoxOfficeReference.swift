import ConcertDomain
import Foundation

/// What PostgreSQL would hold after the effects: every reservation with its status, the wallets
/// and their ledgers, the refunds.
struct StoredBoxOffice {
    typealias Tests = PartitionStatePropertyTests
    var all: [UUID: Reservation] = [:]
    var balances: [UserID: Won] = Dictionary(uniqueKeysWithValues: Tests.users.enumerated().map { ($1, Won(Int64($0) * 3000)) })
    /// Every change to each wallet: the first charge, debits, refunds.
    var ledger: [UserID: [Int64]] = Dictionary(uniqueKeysWithValues: Tests.users.enumerated().map { ($1, [Int64($0) * 3000]) })
    var refunds: [UUID: [Won]] = [:]
    var paidAmounts: [UUID: Won] = [:]
    var cancelled = false

    var live: [UUID: Reservation] { all.filter { $0.value.status.isLive } }

    func seatMap() -> SeatMap {
        let seats = (1...Tests.seatCount).map { number in
            SeatMap.Seat(
                number: SeatNumber(number)!,
                price: Tests.price(of: number),
                reservationID: live.values.first { $0.seatNumbers.contains(SeatNumber(number)!) }?.id
            )
        }
        let rows = Tests.layout.map { SeatMap.Row(section: $0.section, label: $0.row, first: SeatNumber($0.first)!, count: $0.count) }
        return SeatMap(schedule: Tests.schedule, seats: seats, reservations: Array(live.values), rows: rows, cancelled: cancelled)
    }

    func facts(_ id: UUID) -> PartitionState.ReservationFacts? {
        all[id].map { PartitionState.ReservationFacts(id: $0.id, user: $0.userID, status: $0.status) }
    }

    mutating func debit(_ user: UserID, _ amount: Won) -> PartitionState.DebitResult {
        guard let balance = balances[user], balance >= amount else { return .insufficient }
        balances[user] = balance - amount
        ledger[user, default: []].append(-amount.amount)
        return .debited(balanceAfter: balance - amount)
    }

    mutating func apply(_ effect: Effect) {
        switch effect {
        case .hold(let reservation): all[reservation.id] = reservation
        case .end(let reservation): all[reservation.id]?.status = reservation.status
        case .sell(let reservation, let receipt):
            all[reservation.id]?.status = .paid
            paidAmounts[reservation.id] = receipt.amount
        case .refund(let reservation, let receipt):
            all[reservation.id]?.status = .refunded
            balances[receipt.userId, default: 0] = balances[receipt.userId, default: 0] + receipt.amount
            ledger[receipt.userId, default: []].append(receipt.amount.amount)
            refunds[reservation.id, default: []].append(receipt.amount)
        case .cancel: cancelled = true
        case .setSeats, .setPrices: break  // the same seats and prices again: nothing the model follows changes
        }
    }
}

/// The rules, applied naively, one command at a time: every reservation kept, every check a scan
/// of everything, best available found by looking at every seat of every row.
struct BoxOfficeReference {
    typealias Tests = PartitionStatePropertyTests
    let limit: Int?
    var reservations: [UUID: Reservation] = [:]
    var balances: [UserID: Won] = Dictionary(uniqueKeysWithValues: Tests.users.enumerated().map { ($1, Won(Int64($0) * 3000)) })
    var cancelled = false

    /// What a command must come to: its failure, the seats a reservation gets, the free count a refusal tells.
    struct Expected: CustomStringConvertible {
        var failure: FailureCode?
        var seats: [SeatNumber] = []
        var free: Int?

        var description: String { "\(failure.map(\.rawValue) ?? "success") seats \(seats.map(\.rawValue)) free \(free.map(String.init) ?? "-")" }
    }

    func live(onSeat seat: SeatNumber, at now: Date) -> Reservation? {
        reservations.values.first { $0.seatNumbers.contains(seat) && $0.effectiveStatus(at: now).isLive }
    }

    func liveSeats(of user: UserID, at now: Date) -> Int {
        reservations.values.filter { $0.userID == user && $0.effectiveStatus(at: now).isLive }.reduce(0) { $0 + $1.seats.count }
    }

    func available(_ seat: Int, maxPrice: Won?, at now: Date) -> Bool {
        (1...Tests.seatCount).contains(seat) && live(onSeat: SeatNumber(seat)!, at: now) == nil
            && maxPrice.map { Tests.price(of: seat) <= $0 } ?? true
    }

    /// Best available, naively: every row's runs of available seats, in order.
    func best(_ request: SeatMap.Request, at now: Date) -> [SeatNumber]? {
        let rows = Tests.layout.filter { request.section == nil || $0.section == request.section }
        var fallback: [SeatNumber]?
        for row in rows {
            let seats = Array(row.first..<(row.first + row.count))
            var index = 0
            while index < seats.count {
                guard available(seats[index], maxPrice: request.maxPrice, at: now) else {
                    index += 1
                    continue
                }
                var end = index
                while end < seats.count && available(seats[end], maxPrice: request.maxPrice, at: now) { end += 1 }
                let run = Array(seats[index..<end])
                if run.count >= request.quantity {
                    let block = run.prefix(request.quantity).map { SeatNumber($0)! }
                    // A block that leaves one seat alone is the last resort.
                    if run.count != request.quantity + 1 { return block }
                    if fallback == nil { fallback = block }
                }
                index = end
            }
        }
        if let fallback { return fallback }
        guard !request.together else { return nil }
        let apart = rows.flatMap { Array($0.first..<($0.first + $0.count)) }.filter { available($0, maxPrice: request.maxPrice, at: now) }
        return apart.count >= request.quantity ? apart.prefix(request.quantity).map { SeatNumber($0)! } : nil
    }

    mutating func apply(_ envelope: CommandEnvelope, now: Date) -> Expected {
        switch envelope.command {
        case .setSeatMap(let map):
            if cancelled { return Expected(failure: .scheduleInUse) }
            if map == Tests.sameSeatMap { return Expected() }
            return Expected(failure: reservations.values.contains { $0.status.isLive } ? .scheduleInUse : nil)
        case .reserveSeat(let reserve):
            return reserveSeats(envelope, reserve.selection, now: now)
        case .pay(let pay):
            guard let reservation = reservations[pay.reservationId] else { return Expected(failure: .reservationNotFound) }
            guard reservation.userID == envelope.userId else { return Expected(failure: .notReservationOwner) }
            switch reservation.effectiveStatus(at: now) {
            case .paid: return Expected(failure: .alreadyPaid)
            case .refunded: return Expected(failure: .alreadyRefunded)
            case .released: return Expected(failure: .reservationReleased)
            case .expired:
                reservations[pay.reservationId]?.status = .expired
                return Expected(failure: .holdExpired)
            case .held:
                guard let balance = balances[envelope.userId], balance >= reservation.price else { return Expected(failure: .insufficientBalance) }
                balances[envelope.userId] = balance - reservation.price
                reservations[pay.reservationId]?.status = .paid
                return Expected()
            }
        case .release(let release):
            guard let reservation = reservations[release.reservationId] else { return Expected(failure: .reservationNotFound) }
            guard reservation.userID == envelope.userId else { return Expected(failure: .notReservationOwner) }
            switch reservation.effectiveStatus(at: now) {
            case .paid: return Expected(failure: .alreadyPaid)
            case .refunded: return Expected(failure: .alreadyRefunded)
            case .released: return Expected()
            case .expired:
                reservations[release.reservationId]?.status = .expired
                return Expected(failure: .holdExpired)
            case .held:
                reservations[release.reservationId]?.status = .released
                return Expected()
            }
        case .refund(let refund):
            guard let reservation = reservations[refund.reservationId] else { return Expected(failure: .reservationNotFound) }
            switch reservation.status {
            case .paid:
                reservations[refund.reservationId]?.status = .refunded
                balances[reservation.userID, default: 0] = balances[reservation.userID, default: 0] + reservation.price
                return Expected()
            case .refunded: return Expected(failure: .alreadyRefunded)
            case .held, .expired, .released: return Expected(failure: .notPaid)
            }
        case .expireHold(let expire):
            for id in expire.reservationIds where reservations[id]?.status == .held { reservations[id]?.status = .expired }
            return Expected()
        case .cancelDate:
            guard !cancelled else { return Expected() }
            for (id, reservation) in reservations {
                switch reservation.effectiveStatus(at: now) {
                case .paid:
                    reservations[id]?.status = .refunded
                    balances[reservation.userID, default: 0] = balances[reservation.userID, default: 0] + reservation.price
                case .held: reservations[id]?.status = .released
                case .expired where reservation.status == .held: reservations[id]?.status = .expired
                default: break
                }
            }
            cancelled = true
            return Expected()
        }
    }

    mutating func reserveSeats(_ envelope: CommandEnvelope, _ selection: Command.ReserveSeat.Selection, now: Date) -> Expected {
        if cancelled { return Expected(failure: .scheduleNotFound) }
        let chosen: [SeatNumber]
        switch selection {
        case .seats(let asked):
            if asked.contains(where: { $0.rawValue > Tests.seatCount }) { return Expected(failure: .seatNotFound) }
            if asked.contains(where: { live(onSeat: $0, at: now) != nil }) { return Expected(failure: .seatUnavailable) }
            if let limit, liveSeats(of: envelope.userId, at: now) + asked.count > limit { return Expected(failure: .seatLimitReached) }
            chosen = asked
        case .best(let request):
            if let limit, liveSeats(of: envelope.userId, at: now) + request.quantity > limit { return Expected(failure: .seatLimitReached) }
            guard let found = best(request, at: now) else {
                let rows = Tests.layout.filter { request.section == nil || $0.section == request.section }
                let free = rows.flatMap { Array($0.first..<($0.first + $0.count)) }.filter { available($0, maxPrice: request.maxPrice, at: now) }
                return Expected(failure: .seatsUnavailable, free: free.count)
            }
            chosen = found
        }
        // Lapsed holds on the chosen seats end as expired.
        for (id, reservation) in reservations
        where reservation.status == .held && reservation.effectiveStatus(at: now) == .expired
            && !Set(reservation.seatNumbers).isDisjoint(with: chosen)
        {
            reservations[id]?.status = .expired
        }
        reservations[envelope.id] = Reservation(
            id: envelope.id,
            schedule: Tests.schedule,
            seats: chosen.map { Reservation.Seat(number: $0, price: Tests.price(of: $0.rawValue)) },
            userID: envelope.userId,
            status: .held,
            heldUntil: now.addingTimeInterval(30)
        )
        return Expected(seats: chosen.sorted())
    }
}
