public import Foundation

/// The seats of one schedule and the live reservations on them: the memory a partition worker
/// keeps of a schedule it owns.
///
/// Mutated in place by `PartitionState`; every change is also written to a change log, so that
/// a batch whose transaction rolled back can be undone without copying the map. A hold past
/// its deadline counts as free (lazy expiry), so a late or lost expiry message never keeps a
/// seat. Expired reservations are forgotten at once: only held and paid ones are kept, so the
/// map never grows beyond its seats.
public struct SeatMap: Sendable {
    /// One seat: its price and, while held or sold, the reservation on it.
    public struct Seat: Sendable, Hashable {
        /// The seat's number.
        public let number: SeatNumber
        /// The seat's price.
        public let price: Won
        /// The live (held or paid) reservation on the seat, if any.
        public var reservationID: UUID?

        /// A seat of `number` at `price`.
        ///
        /// - Parameters:
        ///   - number: The seat's number.
        ///   - price: The seat's price.
        ///   - reservationID: The live reservation on it, or `nil` while it is free.
        public init(number: SeatNumber, price: Won, reservationID: UUID? = nil) {
            self.number = number
            self.price = price
            self.reservationID = reservationID
        }
    }

    /// One row of seats as the venue's map laid it out: seats `first` … `first + count − 1`.
    /// A date given no map (the demo seed's) is one row of all its seats, without names.
    public struct Row: Sendable, Hashable {
        /// The section's name, or `nil` for a date without a map.
        public let section: String?
        /// The row's label within its section, or `nil` for a date without a map.
        public let label: String?
        /// The row's first seat.
        public let first: SeatNumber
        /// How many seats the row has.
        public let count: Int

        /// A row of `count` seats from `first`.
        ///
        /// - Parameters:
        ///   - section: The section's name.
        ///   - label: The row's label within the section.
        ///   - first: The row's first seat.
        ///   - count: How many seats it has.
        public init(section: String?, label: String?, first: SeatNumber, count: Int) {
            self.section = section
            self.label = label
            self.first = first
            self.count = count
        }
    }

    /// One change, with what was there before: what `revert` needs.
    public enum Change: Sendable, Equatable {
        /// A seat's reservation was set; `previous` is the one it had (`nil`: free).
        case seat(SeatNumber, previous: UUID?)
        /// A reservation was set or removed; `previous` is what the map held under its id (`nil`: nothing).
        case reservation(UUID, previous: Reservation?)
    }

    /// The schedule whose seats these are.
    public let schedule: ScheduleKey
    /// The schedule's seats by number.
    public private(set) var seats: [SeatNumber: Seat]
    /// The rows, in seat order.
    public let rows: [Row]
    /// Live reservations (held or paid) by id.
    public private(set) var reservations: [UUID: Reservation]
    /// The live reservations of each user, for the per-user seat limit.
    private var reservationsByUser: [UserID: Set<UUID>] = [:]

    /// Builds the map from stored seats and the live reservations on them.
    ///
    /// - Parameters:
    ///   - schedule: The schedule.
    ///   - seats: Its seats, each with the live reservation on it if any; of seats with the same number the first is kept.
    ///   - reservations: The live reservations on them; those recorded as expired are left out.
    ///   - rows: How the seats are laid out in rows; `nil`: one row of every seat.
    public init(schedule: ScheduleKey, seats: [Seat], reservations: [Reservation] = [], rows: [Row]? = nil) {
        self.schedule = schedule
        self.seats = Dictionary(seats.map { ($0.number, $0) }) { first, _ in first }
        self.rows = rows ?? seats.map(\.number).min().map { [Row(section: nil, label: nil, first: $0, count: seats.count)] } ?? []
        self.reservations = [:]
        for reservation in reservations where reservation.status != .expired {
            setReservation(reservation.id, reservation)
        }
    }

    /// True when `map` lays out the same sections, rows and seats as this map (its prices may differ).
    ///
    /// - Parameters:
    ///   - map: A seat map for this schedule.
    /// - Returns: `true` when every row has the same section, label, first seat and seat count, in the same order.
    public func hasLayout(of map: Command.SetSeatMap) -> Bool {
        let placed = map.placedRows
        return placed.count == rows.count
            && zip(placed, rows).allSatisfy { new, old in
                new.section == old.section && new.label == old.label && new.firstSeat == old.first.rawValue && new.seats == old.count
            }
    }

    /// True when the seat can be reserved at `now`.
    ///
    /// - Parameters:
    ///   - number: The seat.
    ///   - now: The current time.
    /// - Returns: `false` when the schedule has no such seat or a live reservation is on it at `now`.
    public func isFree(_ number: SeatNumber, at now: Date) -> Bool {
        guard let seat = seats[number] else { return false }
        return liveReservation(on: seat, at: now) == nil
    }

    /// Seats that can be reserved at `now`, in number order.
    ///
    /// - Parameters:
    ///   - now: The current time.
    /// - Returns: The free seats, sorted by number.
    public func freeSeats(at now: Date) -> [Seat] {
        seats.values.filter { liveReservation(on: $0, at: now) == nil }.sorted { $0.number < $1.number }
    }

    /// The live reservation on a seat at `now`: held and not past its deadline, or paid.
    ///
    /// - Parameters:
    ///   - seat: The seat.
    ///   - now: The current time.
    /// - Returns: The reservation, or `nil` when the seat is free at `now`.
    public func liveReservation(on seat: Seat, at now: Date) -> Reservation? {
        guard let id = seat.reservationID, let reservation = reservations[id] else { return nil }
        return reservation.effectiveStatus(at: now) == .expired ? nil : reservation
    }

    /// How many seats `user` holds (unexpired) or bought in this schedule at `now`.
    ///
    /// - Parameters:
    ///   - user: The user.
    ///   - now: The current time.
    /// - Returns: The number of the user's reservations in this schedule that are paid, or held with a deadline after `now`.
    public func liveSeats(of user: UserID, at now: Date) -> Int {
        reservationsByUser[user]?.reduce(0) { count, id in
            count + (reservations[id].map { $0.effectiveStatus(at: now) != .expired } == true ? 1 : 0)
        } ?? 0
    }

    // MARK: - Changes (each logged, so that it can be reverted)

    /// Puts `reservation` (held) on its seat.
    mutating func hold(_ reservation: Reservation, log: inout [Change]) {
        setSeat(reservation.seat, to: reservation.id, log: &log)
        setReservation(reservation.id, reservation, log: &log)
    }

    /// Marks a live reservation expired: it is forgotten, and its seat freed if it still holds it.
    /// Returns the reservation as expired, or `nil` when it was not live.
    @discardableResult
    mutating func expire(_ id: UUID, log: inout [Change]) -> Reservation? {
        guard var reservation = reservations[id], reservation.status == .held else { return nil }
        reservation.status = .expired
        if seats[reservation.seat]?.reservationID == id { setSeat(reservation.seat, to: nil, log: &log) }
        setReservation(id, nil, log: &log)
        return reservation
    }

    /// Marks a held reservation paid (its seat is sold).
    mutating func markPaid(_ id: UUID, log: inout [Change]) -> Reservation? {
        guard var reservation = reservations[id], reservation.status == .held else { return nil }
        reservation.status = .paid
        setReservation(id, reservation, log: &log)
        return reservation
    }

    /// Undoes one logged change.
    mutating func revert(_ change: Change) {
        switch change {
        case .seat(let number, let previous):
            seats[number]?.reservationID = previous
        case .reservation(let id, let previous):
            setReservation(id, previous)
        }
    }

    private mutating func setSeat(_ number: SeatNumber, to reservation: UUID?, log: inout [Change]) {
        log.append(.seat(number, previous: seats[number]?.reservationID))
        seats[number]?.reservationID = reservation
    }

    private mutating func setReservation(_ id: UUID, _ reservation: Reservation?, log: inout [Change]) {
        log.append(.reservation(id, previous: reservations[id]))
        setReservation(id, reservation)
    }

    /// Sets or removes a reservation, keeping the per-user index in step.
    private mutating func setReservation(_ id: UUID, _ reservation: Reservation?) {
        if let old = reservations[id] {
            reservationsByUser[old.userID]?.remove(id)
            if reservationsByUser[old.userID]?.isEmpty == true { reservationsByUser[old.userID] = nil }
        }
        reservations[id] = reservation
        if let reservation { reservationsByUser[reservation.userID, default: []].insert(id) }
    }
}
