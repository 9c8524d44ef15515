public import Foundation

// What a batch needs loaded before it is decided, and installing it: seat maps, reservations.
extension PartitionState {
    /// The schedule of a command: a reservation's own concert and date, for any other command the one its partition key
    /// names (an expiry's holds may name others: see `schedulesToLoad`).
    ///
    /// - Parameters:
    ///   - envelope: The command.
    /// - Returns: The schedule, or `nil` when the partition key is not one `ScheduleKey(partitionKey:)` parses.
    public static func schedule(of envelope: CommandEnvelope) -> ScheduleKey? {
        switch envelope.command {
        case .reserveSeat(let reserve): return ScheduleKey(concertID: reserve.concertId, date: reserve.date)
        case .setSeatMap(let map): return map.schedule
        case .cancelDate(let cancel): return cancel.schedule
        case .pay, .expireHold, .release, .refund: return ScheduleKey(partitionKey: envelope.partitionKey)
        }
    }

    /// The schedules of the holds an expiry ends.
    static func schedules(of expire: Command.ExpireHold, in envelope: CommandEnvelope) -> [(ScheduleKey, [UUID])] {
        expire.holds.compactMap { holds in
            let key = holds.partitionKey.isEmpty ? ScheduleKey(partitionKey: envelope.partitionKey) : ScheduleKey(partitionKey: holds.partitionKey)
            return key.map { ($0, holds.reservationIds) }
        }
    }

    /// Schedules the commands concern that are neither in memory nor known, since less than
    /// `missingFor` before `now`, to be missing.
    ///
    /// - Parameters:
    ///   - envelopes: The batch's commands.
    ///   - now: The current time.
    /// - Returns: The schedules to load from storage and hand to `install`, each once, in the order the commands name them.
    public func schedulesToLoad(for envelopes: [CommandEnvelope], now: Date) -> [ScheduleKey] {
        var keys: [ScheduleKey] = []
        for envelope in envelopes {
            let concerned: [ScheduleKey]
            if case .expireHold(let expire) = envelope.command {
                concerned = Self.schedules(of: expire, in: envelope).map(\.0)
            } else {
                concerned = Self.schedule(of: envelope).map { [$0] } ?? []
            }
            for key in concerned where index[key] == nil && !keys.contains(key) {
                if let since = missing[key], now.timeIntervalSince(since) < Self.missingFor { continue }
                keys.append(key)
            }
        }
        return keys
    }

    /// Takes a schedule loaded from storage at `now` (`nil`: it does not exist).
    ///
    /// A map replaces the one in memory for `key`, if any. A missing schedule is remembered; when `missingLimit` are
    /// remembered, those remembered for `missingFor` or longer are forgotten first, and all of them if that frees no room.
    ///
    /// - Parameters:
    ///   - key: The schedule.
    ///   - map: Its seat map, or `nil` when storage has no such schedule.
    ///   - now: When storage answered, which dates a `nil` answer; with the default, a `nil` answer is stale at once and
    ///     the schedule is loaded again for the next command that names it.
    public mutating func install(_ key: ScheduleKey, _ map: SeatMap?, now: Date = .distantPast) {
        guard let map else {
            if missing.count >= Self.missingLimit {
                missing = missing.filter { now.timeIntervalSince($0.value) < Self.missingFor }
                if missing.count >= Self.missingLimit { missing.removeAll() }
            }
            missing[key] = now
            return
        }
        missing[key] = nil
        if let existing = index[key] {
            maps[existing] = map
        } else {
            index[key] = maps.count
            maps.append(map)
        }
    }

    /// How many schedules memory remembers as missing.
    public var rememberedMissingSchedules: Int { missing.count }

    /// The seat map of a schedule in memory.
    ///
    /// - Parameters:
    ///   - key: The schedule.
    /// - Returns: Its seat map, or `nil` when the schedule is not in memory.
    public func seatMap(_ key: ScheduleKey) -> SeatMap? {
        index[key].map { maps[$0] }
    }

    /// The occupant each seat changed since the last `commit()` had before the change (what
    /// storage holds if this worker is the partition's only writer), by schedule. A seat not in
    /// the answer has not changed: its occupant in `seatMap` is the stored one.
    ///
    /// - Returns: For each schedule with changed seats, each such seat's reservation before its first change (`nil`: free).
    public func seatsBeforeBatch() -> [ScheduleKey: [SeatNumber: UUID?]] {
        guard !log.isEmpty else { return [:] }
        var keys: [Int: ScheduleKey] = [:]
        for (key, slot) in index { keys[slot] = key }
        var before: [ScheduleKey: [SeatNumber: UUID?]] = [:]
        for (slot, change) in log {
            guard case .seat(let number, let previous) = change, let key = keys[slot] else { continue }
            if before[key]?[number] == nil { before[key, default: [:]][number] = .some(previous) }
        }
        return before
    }

    /// Reservations that payments, releases, refunds or expiries refer to and memory does not hold
    /// live: their facts must be looked up (to answer; for an expiry, to be sure memory is not
    /// behind storage).
    ///
    /// - Parameters:
    ///   - envelopes: The batch's commands, their schedules installed.
    /// - Returns: The reservation ids, each once, to look up in storage and hand to `remember`.
    public func reservationsToLookUp(for envelopes: [CommandEnvelope]) -> [UUID] {
        var ids: [UUID] = []
        for envelope in envelopes {
            if case .expireHold(let expire) = envelope.command {
                for (key, holds) in Self.schedules(of: expire, in: envelope) {
                    guard let slot = index[key] else { continue }
                    for id in holds where maps[slot].reservations[id] == nil && facts[id] == nil && !ids.contains(id) { ids.append(id) }
                }
                continue
            }
            guard let id = Self.reservation(named: envelope.command), facts[id] == nil else { continue }
            let live = Self.schedule(of: envelope).flatMap { index[$0] }.map { maps[$0].reservations[id] != nil } ?? false
            if !live, !ids.contains(id) { ids.append(id) }
        }
        return ids
    }

    /// The reservation a payment, a release or a refund names.
    static func reservation(named command: Command) -> UUID? {
        switch command {
        case .pay(let pay): pay.reservationId
        case .release(let release): release.reservationId
        case .refund(let refund): refund.reservationId
        case .reserveSeat, .expireHold, .setSeatMap, .cancelDate: nil
        }
    }

    /// Takes what storage said about reservations not live in memory (for this batch).
    ///
    /// - Parameters:
    ///   - found: What storage holds of the reservations `reservationsToLookUp` named.
    public mutating func remember(_ found: [ReservationFacts]) {
        for fact in found { facts[fact.id] = fact }
    }

    /// True when storage holds live (held or paid) a reservation memory does not: another writer
    /// made it, and memory must be loaded again before deciding (a single writer never sees this).
    ///
    /// - Parameters:
    ///   - found: What storage holds of the reservations `reservationsToLookUp` named.
    /// - Returns: `true` when some reservation in `found` is held or paid and no map in memory has it.
    public func isBehind(_ found: [ReservationFacts]) -> Bool {
        found.contains { fact in
            fact.status.isLive && !maps.contains { $0.reservations[fact.id] != nil }
        }
    }
}
