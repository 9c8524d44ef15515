public import ConcertDomain
import ConcertWire
public import Foundation

/// What one batch of a partition changes, gathered from its outcomes and written with one
/// statement (`PartitionStore.write`), whatever the batch's size.
///
/// A reservation made in the batch is inserted once with its final status (held, paid or
/// expired); an older one gets one status update; every seat touched is written once, with
/// the state memory has at the end of the batch.
public struct PartitionWrites: Sendable {
    /// Reservations made in this batch, in order, with their latest status.
    public private(set) var newReservations: [Reservation] = []
    private var newIndex: [UUID: Int] = [:]
    /// Status changes of reservations made before this batch: the status they must have (held or
    /// paid) and the one they get.
    public private(set) var statusChanges: [UUID: (from: Reservation.Status, to: Reservation.Status)] = [:]
    /// Seats whose row must be written.
    public private(set) var touchedSeats: [ScheduleKey: Set<SeatNumber>] = [:]
    /// Payments: the receipt and who paid.
    public private(set) var payments: [(receipt: PaymentReceipt, user: UserID)] = []
    /// Refunds: each credits its user's wallet once.
    public private(set) var refunds: [RefundReceipt] = []
    /// Queue tokens a payment ended: (concert, user).
    public private(set) var endedTokens: [(concert: ConcertID, user: UserID)] = []
    /// Dates cancelled.
    public private(set) var cancelledSchedules: [ScheduleKey] = []
    /// Dates given new seats (written before the rest, in their own statements).
    public private(set) var seatMaps: [Command.SetSeatMap] = []
    /// Dates in use given new prices (written like `seatMaps`).
    public private(set) var prices: [Command.SetSeatMap] = []
    /// Every command's outcome.
    public private(set) var outcomes: [Outcome] = []
    /// Each outcome's `result` JSON (`Outcome.resultJSON`), encoded once for the write and the reply.
    public private(set) var results: [String?] = []

    public init() {}

    /// Takes one decided command.
    public mutating func add(_ outcome: Outcome) {
        for effect in outcome.effects {
            switch effect {
            case .hold(let reservation):
                newIndex[reservation.id] = newReservations.count
                newReservations.append(reservation)
                touch(reservation)
            case .end(let reservation):
                setStatus(reservation, from: .held, to: reservation.status)
                touch(reservation)
            case .sell(let reservation, let receipt):
                setStatus(reservation, from: .held, to: .paid)
                touch(reservation)
                payments.append((receipt, reservation.userID))
                endedTokens.append((reservation.schedule.concertID, reservation.userID))
            case .refund(let reservation, let receipt):
                setStatus(reservation, from: .paid, to: .refunded)
                touch(reservation)
                refunds.append(receipt)
            case .cancel(let schedule):
                cancelledSchedules.append(schedule)
            case .setSeats(let map):
                seatMaps.append(map)
            case .setPrices(let map):
                prices.append(map)
            }
        }
        outcomes.append(outcome)
        results.append(outcome.resultJSON)
    }

    /// True when the batch changes a date's seats or prices: memory is loaded again after it.
    public var changesSeatMaps: Bool { !seatMaps.isEmpty || !prices.isEmpty }

    /// Holds made in this batch that are still held at its end (their expiry must be scheduled), by schedule.
    public var holdsToExpire: [ScheduleKey: [UUID]] {
        var holds: [ScheduleKey: [UUID]] = [:]
        for reservation in newReservations where reservation.status == .held {
            holds[reservation.schedule, default: []].append(reservation.id)
        }
        return holds
    }

    /// A reservation of this batch is inserted with its final status; an older one changes from
    /// the status it had before the batch (a second change in one batch keeps the first's).
    private mutating func setStatus(_ reservation: Reservation, from old: Reservation.Status, to status: Reservation.Status) {
        if let position = newIndex[reservation.id] {
            newReservations[position].status = status
        } else {
            let from = statusChanges[reservation.id]?.from ?? old
            statusChanges[reservation.id] = (from, status)
        }
    }

    private mutating func touch(_ reservation: Reservation) {
        touchedSeats[reservation.schedule, default: []].formUnion(reservation.seatNumbers)
    }
}
