public import Foundation

/// The seats of one schedule and the reservations on them: the state a partition worker owns.
///
/// A pure state machine: the worker loads it from storage when it becomes active for the
/// partition, applies commands to it in order, and persists what each call says changed. It is
/// the only writer, so no locks are needed. A hold past its deadline counts as free (lazy
/// expiry), so a late or lost expiry message never keeps a seat.
public struct SeatMap: Sendable {
    /// One seat: its price and, while held or sold, the reservation on it.
    public struct Seat: Sendable, Hashable {
        public let number: SeatNumber
        public let price: Won
        /// The live (held or paid) reservation on the seat, if any.
        public var reservationID: UUID?

        public init(number: SeatNumber, price: Won, reservationID: UUID? = nil) {
            self.number = number
            self.price = price
            self.reservationID = reservationID
        }
    }

    /// What a successful reservation changed.
    public struct Hold: Sendable, Hashable {
        /// The new reservation, status `held`.
        public let reservation: Reservation
        /// The earlier hold on the seat that lapsed and was expired to make room, to be persisted too.
        public let expired: Reservation?
    }

    public let schedule: ScheduleKey
    public private(set) var seats: [SeatNumber: Seat]
    public private(set) var reservations: [UUID: Reservation]

    /// Builds the map from stored seats and the live reservations on them.
    public init(schedule: ScheduleKey, seats: [Seat], reservations: [Reservation] = []) {
        self.schedule = schedule
        self.seats = Dictionary(uniqueKeysWithValues: seats.map { ($0.number, $0) })
        self.reservations = Dictionary(uniqueKeysWithValues: reservations.map { ($0.id, $0) })
    }

    /// True when the seat can be reserved at `now`.
    public func isFree(_ number: SeatNumber, at now: Date) -> Bool {
        guard let seat = seats[number] else { return false }
        return liveReservation(on: seat, at: now) == nil
    }

    /// Seats that can be reserved at `now`, in number order.
    public func freeSeats(at now: Date) -> [Seat] {
        seats.values.filter { liveReservation(on: $0, at: now) == nil }.sorted { $0.number < $1.number }
    }

    /// Holds `number` for `user` until `now + holdDuration`.
    public mutating func reserve(
        _ number: SeatNumber,
        for user: UserID,
        reservationID: UUID,
        at now: Date,
        holdDuration: TimeInterval
    ) -> Result<Hold, FailureCode> {
        guard var seat = seats[number] else { return .failure(.seatNotFound) }
        if liveReservation(on: seat, at: now) != nil { return .failure(.seatUnavailable) }
        // A lapsed hold still recorded on the seat is expired now, in the same change.
        let lapsed = seat.reservationID.flatMap { markExpired($0) }
        let reservation = Reservation(
            id: reservationID,
            schedule: schedule,
            seat: number,
            userID: user,
            price: seat.price,
            status: .held,
            heldUntil: now.addingTimeInterval(holdDuration)
        )
        seat.reservationID = reservationID
        seats[number] = seat
        reservations[reservationID] = reservation
        return .success(Hold(reservation: reservation, expired: lapsed))
    }

    /// The expiry message of a hold: releases the seat if the reservation is still unpaid.
    /// Returns the expired reservation, or `nil` when nothing changed (paid, already expired, unknown).
    public mutating func expire(_ reservationID: UUID) -> Reservation? {
        markExpired(reservationID)
    }

    /// Checks that `user` may pay `reservationID` at `now`, and returns it.
    public func payable(_ reservationID: UUID, by user: UserID, at now: Date) -> Result<Reservation, FailureCode> {
        guard let reservation = reservations[reservationID] else { return .failure(.reservationNotFound) }
        guard reservation.userID == user else { return .failure(.notReservationOwner) }
        switch reservation.effectiveStatus(at: now) {
        case .paid: return .failure(.alreadyPaid)
        case .expired: return .failure(.holdExpired)
        case .held: return .success(reservation)
        }
    }

    /// Marks a payable reservation paid (the seat is sold), after the wallet was debited.
    public mutating func markPaid(_ reservationID: UUID) -> Reservation? {
        guard var reservation = reservations[reservationID], reservation.status == .held else { return nil }
        reservation.status = .paid
        reservations[reservationID] = reservation
        return reservation
    }

    /// Forgets expired reservations (their seats were released); keeps the map small over a long on-sale.
    public mutating func compact() {
        reservations = reservations.filter { $0.value.status != .expired }
    }

    private func liveReservation(on seat: Seat, at now: Date) -> Reservation? {
        guard let id = seat.reservationID, let reservation = reservations[id] else { return nil }
        return reservation.effectiveStatus(at: now) == .expired ? nil : reservation
    }

    private mutating func markExpired(_ reservationID: UUID) -> Reservation? {
        guard var reservation = reservations[reservationID], reservation.status == .held else { return nil }
        reservation.status = .expired
        reservations[reservationID] = reservation
        if seats[reservation.seat]?.reservationID == reservationID { seats[reservation.seat]?.reservationID = nil }
        return reservation
    }
}
