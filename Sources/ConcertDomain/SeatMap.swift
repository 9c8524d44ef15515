public import Foundation

/// The seats of one schedule and the live reservations on them: the memory a partition worker
/// keeps of a schedule it owns.
///
/// Mutated in place by `PartitionState`; every change is also written to a change log, so that
/// a batch whose transaction rolled back can be undone without copying the map. A hold past
/// its deadline counts as free (lazy expiry), so a late or lost expiry message never keeps a
/// seat. Only held and paid reservations are kept, so the map never grows beyond its seats.
///
/// Seats live in an array indexed by number, each knowing its row; every row keeps how many of
/// its seats no reservation is on and a lower bound of its holds' deadlines, so that choosing
/// the best free block (`bestAvailable`) skips full rows without looking at their seats.
public struct SeatMap: Sendable {
    /// One seat: its price and, while held or sold, the reservation on it.
    public struct Seat: Sendable, Hashable {
        /// The seat's number.
        public let number: SeatNumber
        /// The seat's price: what the next reservation of it pays.
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

    /// Where a seat is, as a buyer reads it.
    public struct Place: Sendable, Hashable, Codable {
        /// The section's name (`nil` for a date without a map).
        public let section: String?
        /// The row's label within its section.
        public let row: String?
        /// The seat's label within its row: its position, from 1.
        public let seat: String?

        public init(section: String?, row: String?, seat: String?) {
            self.section = section
            self.row = row
            self.seat = seat
        }
    }

    /// What "best available" is asked to find: `quantity` seats, adjacent in one row unless
    /// `together` is false and no such block exists, within a section and a price if given.
    public struct Request: Sendable, Hashable, Codable {
        public let quantity: Int
        public let section: String?
        public let maxPrice: Won?
        public let together: Bool

        public init(quantity: Int, section: String? = nil, maxPrice: Won? = nil, together: Bool = true) {
            self.quantity = quantity
            self.section = section
            self.maxPrice = maxPrice
            self.together = together
        }
    }

    /// One change, with what was there before: what `revert` needs.
    public enum Change: Sendable, Equatable {
        /// A seat's reservation was set; `previous` is the one it had (`nil`: free).
        case seat(SeatNumber, previous: UUID?)
        /// A reservation was set or removed; `previous` is what the map held under its id (`nil`: nothing).
        case reservation(UUID, previous: Reservation?)
        /// The date was cancelled; `previous` is whether it was before.
        case cancelled(previous: Bool)
    }

    /// A seat slot; `price < 0` marks a number the schedule has no seat of.
    struct Slot: Sendable {
        var price: Int64
        var reservationID: UUID?
        /// Index into `rows`, or −1 for a seat in no row.
        var row: Int32
    }

    /// The schedule whose seats these are.
    public let schedule: ScheduleKey
    /// The rows, in seat order (which is "best first").
    public let rows: [Row]
    /// True once the date is cancelled: nothing of it can be reserved any more.
    public private(set) var isCancelled: Bool
    /// Seats by number − 1.
    private var slots: [Slot]
    /// Per row: its seats no reservation is on.
    private var unreserved: [Int]
    /// Per row: no hold recorded on it ends before this (seconds since 1970; a lower bound,
    /// `.infinity` for none). Past it, a hold of the row may have lapsed: its seat is free though
    /// a reservation is still on it, so the row's seats must be looked at.
    private var earliestDeadline: [Double]
    /// Live reservations (held or paid) by id.
    public private(set) var reservations: [UUID: Reservation]
    /// The live reservations of each user, for the per-user seat limit.
    private var reservationsByUser: [UserID: Set<UUID>] = [:]

    /// Builds the map from stored seats and the live reservations on them.
    ///
    /// - Parameters:
    ///   - schedule: The schedule.
    ///   - seats: Its seats, each with the live reservation on it if any; of seats with the same number the first is kept.
    ///   - reservations: The live reservations on them; those not held or paid are left out.
    ///   - rows: How the seats are laid out in rows; `nil`: one row of every seat.
    ///   - cancelled: True when the date is cancelled.
    public init(schedule: ScheduleKey, seats: [Seat], reservations: [Reservation] = [], rows: [Row]? = nil, cancelled: Bool = false) {
        self.schedule = schedule
        isCancelled = cancelled
        let highest = seats.map(\.number.rawValue).max() ?? 0
        let lowest = seats.map(\.number.rawValue).min() ?? 1
        let layout = rows ?? (SeatNumber(lowest).map { [Row(section: nil, label: nil, first: $0, count: highest - lowest + 1)] } ?? [])
        self.rows = layout
        var slots = [Slot](repeating: Slot(price: -1, reservationID: nil, row: -1), count: highest)
        for seat in seats where slots[seat.number.rawValue - 1].price < 0 {
            slots[seat.number.rawValue - 1].price = seat.price.amount
            slots[seat.number.rawValue - 1].reservationID = seat.reservationID
        }
        var unreserved = [Int](repeating: 0, count: layout.count)
        for (index, row) in layout.enumerated() {
            for number in row.first.rawValue..<(row.first.rawValue + row.count) where number <= highest && slots[number - 1].price >= 0 {
                slots[number - 1].row = Int32(index)
                if slots[number - 1].reservationID == nil { unreserved[index] += 1 }
            }
        }
        self.slots = slots
        self.unreserved = unreserved
        earliestDeadline = [Double](repeating: .infinity, count: layout.count)
        self.reservations = [:]
        for reservation in reservations where reservation.status.isLive {
            setReservation(reservation.id, reservation)
        }
    }

    // MARK: - Reading

    /// The seat of `number`, or `nil` when the schedule has none.
    ///
    /// - Parameters:
    ///   - number: The seat's number.
    /// - Returns: The seat with its price and the reservation on it.
    public func seat(_ number: SeatNumber) -> Seat? {
        let index = number.rawValue - 1
        guard index < slots.count, slots[index].price >= 0 else { return nil }
        return Seat(number: number, price: Won(slots[index].price), reservationID: slots[index].reservationID)
    }

    /// How many seats the schedule has.
    public var seatCount: Int { slots.reduce(0) { $0 + ($1.price >= 0 ? 1 : 0) } }

    /// Where a seat is: its section, row and label within the row (all `nil` for a date without a map).
    ///
    /// - Parameters:
    ///   - number: The seat.
    /// - Returns: The place; all `nil` for a seat in no named row.
    public func place(of number: SeatNumber) -> Place {
        let index = number.rawValue - 1
        guard index < slots.count, slots[index].row >= 0 else { return Place(section: nil, row: nil, seat: nil) }
        let row = rows[Int(slots[index].row)]
        guard row.section != nil || row.label != nil else { return Place(section: nil, row: nil, seat: nil) }
        return Place(section: row.section, row: row.label, seat: String(number.rawValue - row.first.rawValue + 1))
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
        seat(number) != nil && liveReservation(onSeat: number, at: now) == nil
    }

    /// Seats that can be reserved at `now`, in number order.
    ///
    /// - Parameters:
    ///   - now: The current time.
    /// - Returns: The free seats, sorted by number.
    public func freeSeats(at now: Date) -> [Seat] {
        slots.indices.compactMap { index in
            guard let number = SeatNumber(index + 1), isFree(number, at: now) else { return nil }
            return seat(number)
        }
    }

    /// The live reservation on a seat at `now`: held and not past its deadline, or paid.
    ///
    /// - Parameters:
    ///   - number: The seat.
    ///   - now: The current time.
    /// - Returns: The reservation, or `nil` when the seat is free at `now` (or does not exist).
    public func liveReservation(onSeat number: SeatNumber, at now: Date) -> Reservation? {
        let index = number.rawValue - 1
        guard index < slots.count, let id = slots[index].reservationID, let reservation = reservations[id] else { return nil }
        return reservation.effectiveStatus(at: now) == .expired ? nil : reservation
    }

    /// How many seats `user` holds (unexpired) or bought in this schedule at `now`.
    ///
    /// - Parameters:
    ///   - user: The user.
    ///   - now: The current time.
    /// - Returns: The seats of the user's reservations in this schedule that are paid, or held with a deadline after `now`.
    public func liveSeats(of user: UserID, at now: Date) -> Int {
        reservationsByUser[user]?.reduce(0) { count, id in
            guard let reservation = reservations[id], reservation.effectiveStatus(at: now) != .expired else { return count }
            return count + reservation.seats.count
        } ?? 0
    }

    // MARK: - Best available

    /// The best seats for `request` at `now`: the first block of `quantity` adjacent free seats
    /// in one row, rows and seats in the map's order (best first), within the section and price
    /// asked. A block that would leave a single free seat between taken ones (or a row's end) is
    /// taken only when no block anywhere avoids it. Without a block, and with `together` false,
    /// the first `quantity` free seats in order.
    ///
    /// Rows with fewer unreserved seats than asked and no hold that may have lapsed are skipped
    /// without looking at their seats, so a sell-out's cost per order stays about the number of
    /// rows. (`mutating` only to tighten a scanned row's lower bound of its holds' deadlines.)
    ///
    /// - Parameters:
    ///   - request: How many seats, where, up to what price, whether apart.
    ///   - now: The current time: a hold past its deadline counts as free.
    /// - Returns: The seats in number order, or `nil` when none fit.
    public mutating func bestAvailable(_ request: Request, at now: Date) -> [SeatNumber]? {
        let quantity = request.quantity
        guard quantity > 0, !isCancelled else { return nil }
        let moment = now.timeIntervalSince1970
        var fallback: [SeatNumber]?
        for (index, row) in rows.enumerated() {
            if let section = request.section, row.section != section { continue }
            if unreserved[index] < quantity && earliestDeadline[index] > moment { continue }
            var runStart = -1
            var deadline = Double.infinity
            for offset in 0...row.count {
                let number = row.first.rawValue + offset
                var available = false
                if offset < row.count {
                    available = isAvailable(number, request.maxPrice, at: now, deadline: &deadline)
                }
                if available {
                    if runStart < 0 { runStart = offset }
                    continue
                }
                guard runStart >= 0 else { continue }
                let length = offset - runStart
                if length >= quantity {
                    let block = (runStart..<(runStart + quantity)).compactMap { SeatNumber(row.first.rawValue + $0) }
                    if length != quantity + 1 { return block }
                    if fallback == nil { fallback = block }
                }
                runStart = -1
            }
            // The whole row was looked at: its holds' earliest deadline is known exactly now.
            earliestDeadline[index] = deadline
        }
        if let fallback { return fallback }
        guard !request.together else { return nil }
        var apart: [SeatNumber] = []
        var ignored = Double.infinity
        for row in rows where request.section == nil || row.section == request.section {
            for number in row.first.rawValue..<(row.first.rawValue + row.count)
            where isAvailable(number, request.maxPrice, at: now, deadline: &ignored) {
                guard let seat = SeatNumber(number) else { continue }
                apart.append(seat)
                if apart.count == quantity { return apart }
            }
        }
        return nil
    }

    /// How many seats within a section and price are free at `now` (what a refused request is told).
    ///
    /// - Parameters:
    ///   - section: Only this section's seats, or all.
    ///   - maxPrice: Only seats at most this price, or all.
    ///   - now: The current time.
    /// - Returns: The count.
    public func freeCount(section: String?, maxPrice: Won?, at now: Date) -> Int {
        guard !isCancelled else { return 0 }
        let moment = now.timeIntervalSince1970
        var count = 0
        var ignored = Double.infinity
        for (index, row) in rows.enumerated() where section == nil || row.section == section {
            if maxPrice == nil && earliestDeadline[index] > moment {
                count += unreserved[index]
                continue
            }
            for number in row.first.rawValue..<(row.first.rawValue + row.count)
            where isAvailable(number, maxPrice, at: now, deadline: &ignored) {
                count += 1
            }
        }
        return count
    }

    /// True when seat `number` exists, costs at most `maxPrice` and is free at `now`; lowers
    /// `deadline` to the end of a hold recorded on it, lapsed or not (a lapsed hold still counts
    /// against its row's unreserved seats, so the row must be looked at while it is there).
    private func isAvailable(_ number: Int, _ maxPrice: Won?, at now: Date, deadline: inout Double) -> Bool {
        let index = number - 1
        guard index < slots.count, slots[index].price >= 0 else { return false }
        if let id = slots[index].reservationID, let reservation = reservations[id] {
            guard reservation.status == .held else { return false }
            deadline = min(deadline, reservation.heldUntil.timeIntervalSince1970)
            if reservation.effectiveStatus(at: now) == .held { return false }
        }
        return maxPrice.map { slots[index].price <= $0.amount } ?? true
    }

    // MARK: - Changes (each logged, so that it can be reverted)

    /// Puts `reservation` (held) on its seats.
    mutating func hold(_ reservation: Reservation, log: inout [Change]) {
        for seat in reservation.seats { setSeat(seat.number, to: reservation.id, log: &log) }
        setReservation(reservation.id, reservation, log: &log)
    }

    /// Ends a live reservation in `status`: it is forgotten, and its seats freed where they still
    /// hold it. Only a held one can be expired or released, only a paid one refunded.
    /// Returns the reservation in its new status, or `nil` when it was not live in the status required.
    @discardableResult
    mutating func end(_ id: UUID, as status: Reservation.Status, log: inout [Change]) -> Reservation? {
        let required: Reservation.Status = status == .refunded ? .paid : .held
        guard var reservation = reservations[id], reservation.status == required else { return nil }
        reservation.status = status
        for seat in reservation.seats where slots[seat.number.rawValue - 1].reservationID == id {
            setSeat(seat.number, to: nil, log: &log)
        }
        setReservation(id, nil, log: &log)
        return reservation
    }

    /// Marks a held reservation paid (its seats are sold).
    mutating func markPaid(_ id: UUID, log: inout [Change]) -> Reservation? {
        guard var reservation = reservations[id], reservation.status == .held else { return nil }
        reservation.status = .paid
        setReservation(id, reservation, log: &log)
        return reservation
    }

    /// Marks the date cancelled.
    mutating func cancel(log: inout [Change]) {
        log.append(.cancelled(previous: isCancelled))
        isCancelled = true
    }

    /// Undoes one logged change.
    mutating func revert(_ change: Change) {
        switch change {
        case .seat(let number, let previous):
            assign(number.rawValue - 1, previous)
        case .reservation(let id, let previous):
            setReservation(id, previous)
        case .cancelled(let previous):
            isCancelled = previous
        }
    }

    private mutating func setSeat(_ number: SeatNumber, to reservation: UUID?, log: inout [Change]) {
        log.append(.seat(number, previous: slots[number.rawValue - 1].reservationID))
        assign(number.rawValue - 1, reservation)
    }

    /// Sets a slot's reservation, keeping its row's count of unreserved seats.
    private mutating func assign(_ index: Int, _ reservation: UUID?) {
        let before = slots[index].reservationID
        slots[index].reservationID = reservation
        let row = Int(slots[index].row)
        guard row >= 0 else { return }
        if before == nil && reservation != nil { unreserved[row] -= 1 }
        if before != nil && reservation == nil { unreserved[row] += 1 }
    }

    private mutating func setReservation(_ id: UUID, _ reservation: Reservation?, log: inout [Change]) {
        log.append(.reservation(id, previous: reservations[id]))
        setReservation(id, reservation)
    }

    /// Sets or removes a reservation, keeping the per-user index and the rows' deadline bounds in step.
    private mutating func setReservation(_ id: UUID, _ reservation: Reservation?) {
        if let old = reservations[id] {
            reservationsByUser[old.userID]?.remove(id)
            if reservationsByUser[old.userID]?.isEmpty == true { reservationsByUser[old.userID] = nil }
        }
        reservations[id] = reservation
        guard let reservation else { return }
        reservationsByUser[reservation.userID, default: []].insert(id)
        if reservation.status == .held {
            let deadline = reservation.heldUntil.timeIntervalSince1970
            for seat in reservation.seats {
                let index = seat.number.rawValue - 1
                guard index < slots.count, slots[index].row >= 0 else { continue }
                let row = Int(slots[index].row)
                earliestDeadline[row] = min(earliestDeadline[row], deadline)
            }
        }
    }
}
