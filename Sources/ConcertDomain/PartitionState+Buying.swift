public import Foundation

// A buyer's decisions: holding seats (chosen or best available), paying, letting a hold go, and
// the expiry of holds nobody paid.
extension PartitionState {
    /// Holds every seat asked for in one reservation, or none: chosen by number, or the best free
    /// block the map finds. A lapsed hold still recorded on a seat is expired in the same batch.
    mutating func reserveSeats(_ envelope: CommandEnvelope, _ reserve: Command.ReserveSeat, now: Date) -> Outcome {
        let key = ScheduleKey(concertID: reserve.concertId, date: reserve.date)
        guard let slot = index[key], !maps[slot].isCancelled else { return Outcome(envelope, .failure(.scheduleNotFound)) }
        let numbers: [SeatNumber]
        switch reserve.selection {
        case .seats(let asked):
            // Several seats asked for: the refusal names the ones at fault (one seat names itself).
            let missing = asked.filter { maps[slot].seat($0) == nil }
            if !missing.isEmpty { return Outcome(envelope, .failure(.seatNotFound), detail: asked.count > 1 ? .seats(missing) : nil) }
            let taken = asked.filter { maps[slot].liveReservation(onSeat: $0, at: now) != nil }
            if !taken.isEmpty { return Outcome(envelope, .failure(.seatUnavailable), detail: asked.count > 1 ? .seats(taken) : nil) }
            if exceedsLimit(envelope.userId, adding: asked.count, in: slot, now: now) { return Outcome(envelope, .failure(.seatLimitReached)) }
            numbers = asked
        case .best(let request):
            if exceedsLimit(envelope.userId, adding: request.quantity, in: slot, now: now) {
                return Outcome(envelope, .failure(.seatLimitReached))
            }
            guard let found = maps[slot].bestAvailable(request, at: now) else {
                let free = maps[slot].freeCount(section: request.section, maxPrice: request.maxPrice, at: now)
                return Outcome(envelope, .failure(.seatsUnavailable), detail: .freeSeats(free))
            }
            numbers = found
        }
        var effects: [Effect] = []
        for number in numbers {
            guard let lapsed = maps[slot].seat(number)?.reservationID, let expired = maps[slot].end(lapsed, as: .expired, log: &scratch) else {
                continue
            }
            effects.append(.end(expired))
            noteEnded(expired)
        }
        // The reservation id is the command id: a replayed command can never make a second one.
        let reservation = Reservation(
            id: envelope.id,
            schedule: key,
            seats: numbers.compactMap { number in maps[slot].seat(number).map { Reservation.Seat(number: number, price: $0.price) } },
            userID: envelope.userId,
            status: .held,
            heldUntil: now.addingTimeInterval(settings.holdDuration)
        )
        maps[slot].hold(reservation, log: &scratch)
        flush(slot)
        effects.append(.hold(reservation))
        let result = ReservationResult(reservation, seats: SeatResult.seats(of: reservation, on: maps[slot]))
        return Outcome(envelope, .success(.reservation(result)), effects: effects)
    }

    /// True when `count` more seats would take the user past the per-user limit (it counts seats).
    private func exceedsLimit(_ user: UserID, adding count: Int, in slot: Int, now: Date) -> Bool {
        guard let limit = settings.maximumSeatsPerUser else { return false }
        return maps[slot].liveSeats(of: user, at: now) + count > limit
    }

    mutating func payment(_ envelope: CommandEnvelope, _ id: UUID, now: Date) -> Decision {
        // The same user's balance or the same reservation must not be decided on while a debit is in flight.
        if paying.values.contains(where: { $0.envelope.userId == envelope.userId || $0.reservation.id == id }) { return .awaitingDebits }
        guard let key = Self.schedule(of: envelope), let slot = index[key], let reservation = maps[slot].reservations[id] else {
            // Not live in memory: ended, or never made.
            let failure: FailureCode =
                switch facts[id] {
                case nil: .reservationNotFound
                case let fact? where fact.user != envelope.userId: .notReservationOwner
                case let fact?:
                    switch fact.status {
                    case .paid: .alreadyPaid
                    case .refunded: .alreadyRefunded
                    case .released: .reservationReleased
                    case .held, .expired: .holdExpired
                    }
                }
            return .decided(Outcome(envelope, .failure(failure)))
        }
        guard reservation.userID == envelope.userId else { return .decided(Outcome(envelope, .failure(.notReservationOwner))) }
        switch reservation.effectiveStatus(at: now) {
        case .paid:
            return .decided(Outcome(envelope, .failure(.alreadyPaid)))
        case .held:
            paying[envelope.id] = (envelope, reservation)
            return .debit(Debit(commandID: envelope.id, user: envelope.userId, amount: reservation.price))
        case .expired, .released, .refunded:
            return .decided(Outcome(envelope, .failure(.holdExpired), effects: expireLapsed(id, in: slot)))
        }
    }

    /// Lets a hold go: its seats are free at once. Releasing a released reservation again changes
    /// nothing and succeeds; a paid, refunded or lapsed one is refused.
    mutating func release(_ envelope: CommandEnvelope, _ id: UUID, now: Date) -> Outcome {
        guard let key = Self.schedule(of: envelope) else { return Outcome(envelope, .failure(.reservationNotFound)) }
        guard let slot = index[key], let reservation = maps[slot].reservations[id] else {
            switch facts[id] {
            case nil: return Outcome(envelope, .failure(.reservationNotFound))
            case let fact? where fact.user != envelope.userId: return Outcome(envelope, .failure(.notReservationOwner))
            case let fact?:
                switch fact.status {
                case .released: return Outcome(envelope, .success(.release(ReleaseResult(reservationId: id, schedule: key))))
                case .paid: return Outcome(envelope, .failure(.alreadyPaid))
                case .refunded: return Outcome(envelope, .failure(.alreadyRefunded))
                case .held, .expired: return Outcome(envelope, .failure(.holdExpired))
                }
            }
        }
        guard reservation.userID == envelope.userId else { return Outcome(envelope, .failure(.notReservationOwner)) }
        switch reservation.effectiveStatus(at: now) {
        case .paid:
            return Outcome(envelope, .failure(.alreadyPaid))
        case .held:
            guard let released = maps[slot].end(id, as: .released, log: &scratch) else { return Outcome(envelope, .failure(.holdExpired)) }
            flush(slot)
            noteEnded(released)
            return Outcome(envelope, .success(.release(ReleaseResult(released, freed: true))), effects: [.end(released)])
        case .expired, .released, .refunded:
            return Outcome(envelope, .failure(.holdExpired), effects: expireLapsed(id, in: slot))
        }
    }

    /// Expires a held reservation past its deadline: the effect to persist, or none.
    private mutating func expireLapsed(_ id: UUID, in slot: Int) -> [Effect] {
        guard let expired = maps[slot].end(id, as: .expired, log: &scratch) else { return [] }
        flush(slot)
        noteEnded(expired)
        return [.end(expired)]
    }

    mutating func expireHolds(_ envelope: CommandEnvelope, _ expire: Command.ExpireHold) -> Outcome {
        var effects: [Effect] = []
        for (key, ids) in Self.schedules(of: expire, in: envelope) {
            guard let slot = index[key] else { continue }
            for id in ids {
                guard let expired = maps[slot].end(id, as: .expired, log: &scratch) else { continue }
                effects.append(.end(expired))
                noteEnded(expired)
            }
            flush(slot)
        }
        // Paid, already ended or unknown: nothing to do, and that is the outcome.
        return Outcome(envelope, .success(.none), effects: effects)
    }
}
