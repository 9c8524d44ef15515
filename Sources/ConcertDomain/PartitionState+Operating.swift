public import Foundation

// An operator's decisions: a date's seat map, a refund, a cancelled date. Each is applied alone
// (`Command.isApart`), so no payment of the same batch decides on a wallet a refund credits.
extension PartitionState {
    /// A date none of whose seats is held (a lapsed hold not yet expired counts) or sold gets the
    /// new seats; a date in use gets only new prices, from a map of the same layout. Memory is
    /// loaded again after the commit (`BatchStateMachine` forgets after a seat map).
    func setSeatMap(_ envelope: CommandEnvelope, _ map: Command.SetSeatMap) -> Outcome {
        let slot = index[map.schedule]
        if let slot, !maps[slot].reservations.isEmpty || maps[slot].isCancelled {
            guard maps[slot].hasLayout(of: map), !maps[slot].isCancelled else { return Outcome(envelope, .failure(.scheduleInUse)) }
            let result = SeatMapResult(concertId: map.concertId, date: map.date, seats: map.seatCount, created: false, pricesOnly: true)
            return Outcome(envelope, .success(.seatMap(result)), effects: [.setPrices(map)])
        }
        let result = SeatMapResult(concertId: map.concertId, date: map.date, seats: map.seatCount, created: slot == nil)
        return Outcome(envelope, .success(.seatMap(result)), effects: [.setSeats(map)])
    }

    /// Refunds a paid reservation: the wallet is credited exactly what was paid, once, and the
    /// seats are on sale again. A second refund of it is recognised (`ALREADY_REFUNDED`).
    mutating func refund(_ envelope: CommandEnvelope, _ id: UUID, now: Date) -> Outcome {
        guard let key = Self.schedule(of: envelope), let slot = index[key], let reservation = maps[slot].reservations[id] else {
            switch facts[id]?.status {
            case nil: return Outcome(envelope, .failure(.reservationNotFound))
            case .refunded?: return Outcome(envelope, .failure(.alreadyRefunded))
            case .held?, .paid?, .expired?, .released?: return Outcome(envelope, .failure(.notPaid))
            }
        }
        guard reservation.status == .paid else { return Outcome(envelope, .failure(.notPaid)) }
        let receipt = refundPaid(reservation, refundID: envelope.id, in: slot, now: now)
        return Outcome(envelope, .success(.refund(receipt.receipt)), effects: [receipt.effect])
    }

    /// Cancels a date: every hold released (a lapsed one expired), every paid reservation
    /// refunded, nothing more reservable. A date cancelled before stays so, and nothing is done again.
    mutating func cancelDate(_ envelope: CommandEnvelope, _ schedule: ScheduleKey, now: Date) -> Outcome {
        guard let slot = index[schedule] else { return Outcome(envelope, .failure(.scheduleNotFound)) }
        if maps[slot].isCancelled {
            let result = CancellationResult(schedule: schedule, released: 0, refunded: 0, refundedAmount: 0, alreadyCancelled: true)
            return Outcome(envelope, .success(.cancellation(result)))
        }
        var effects: [Effect] = []
        var released = 0
        var refunds: [RefundReceipt] = []
        // In id order, so that a decision made again after a rollback makes the same effects.
        for reservation in maps[slot].reservations.values.sorted(by: { $0.id.uuidString < $1.id.uuidString }) {
            switch reservation.effectiveStatus(at: now) {
            case .paid:
                let refund = refundPaid(reservation, refundID: Self.refundID(envelope.id, reservation.id), in: slot, now: now)
                refunds.append(refund.receipt)
                effects.append(refund.effect)
            case .held:
                guard let ended = maps[slot].end(reservation.id, as: .released, log: &scratch) else { continue }
                released += 1
                noteEnded(ended)
                effects.append(.end(ended))
            case .expired, .released, .refunded:
                guard let ended = maps[slot].end(reservation.id, as: .expired, log: &scratch) else { continue }
                noteEnded(ended)
                effects.append(.end(ended))
            }
        }
        maps[slot].cancel(log: &scratch)
        flush(slot)
        effects.append(.cancel(schedule))
        let result = CancellationResult(
            schedule: schedule,
            released: released,
            refunded: refunds.count,
            refundedAmount: Won(refunds.reduce(0) { $0 + $1.amount.amount }),
            alreadyCancelled: false
        )
        return Outcome(envelope, .success(.cancellation(result)), effects: effects)
    }

    /// Ends a paid reservation as refunded; its receipt and the effect to persist.
    private mutating func refundPaid(_ reservation: Reservation, refundID: UUID, in slot: Int, now: Date) -> (receipt: RefundReceipt, effect: Effect)
    {
        let refunded = maps[slot].end(reservation.id, as: .refunded, log: &scratch) ?? reservation
        flush(slot)
        noteEnded(refunded)
        let receipt = RefundReceipt(refundId: refundID, reservation: refunded, refundedAt: now)
        return (receipt, .refund(refunded, receipt))
    }

    /// The id of a cancelled date's refund of one reservation: the cancellation's id and the
    /// reservation's combined, the same however often the cancellation is decided, and distinct
    /// for each reservation.
    static func refundID(_ command: UUID, _ reservation: UUID) -> UUID {
        var bytes = withUnsafeBytes(of: command.uuid) { Array($0) }
        withUnsafeBytes(of: reservation.uuid) { other in
            for index in 0..<16 { bytes[index] ^= other[index] }
        }
        bytes[6] = 0x80 | (bytes[6] & 0x0F)  // version 8
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // variant 10
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11],
                bytes[12], bytes[13], bytes[14], bytes[15]
            )
        )
    }
}
