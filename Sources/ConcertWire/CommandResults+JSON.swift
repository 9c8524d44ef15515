public import ConcertDomain

// The stored and served `result` JSON of a command, written by hand (every commit writes one).

extension SeatResult {
    /// `{"number","price","row"?,"seat"?,"section"?}`.
    public var json: String {
        var json = JSONText(capacity: 80)
        json.add("number", Int64(number.rawValue))
        json.add("price", price.amount)
        if let row { json.add("row", row) }
        if let seat { json.add("seat", seat) }
        if let section { json.add("section", section) }
        return json.finish()
    }

    /// A JSON array of seats.
    static func array(_ seats: [SeatResult]) -> String {
        "[" + seats.map(\.json).joined(separator: ",") + "]"
    }
}

extension ReservationResult {
    /// `{"concertId","date","heldUntil","price","reservationId","seatNumber"?,"seats"}`: `price` is
    /// the total; `seatNumber` only for a single seat (as results had it before several).
    public var json: String {
        var json = JSONText(capacity: 200 + 80 * seats.count)
        json.add("concertId", concertId.rawValue)
        json.add("date", date.description)
        json.add("heldUntil", heldUntil)
        json.add("price", price.amount)
        json.add("reservationId", reservationId)
        if let seatNumber { json.add("seatNumber", Int64(seatNumber.rawValue)) }
        json.add("seats", json: SeatResult.array(seats))
        return json.finish()
    }
}

extension PaymentReceipt {
    /// `{"amount","balanceAfter","concertId","date","paidAt","paymentId","reservationId","seatNumber"?,"seats"}`.
    public var json: String {
        var json = JSONText(capacity: 260 + 80 * seats.count)
        json.add("amount", amount.amount)
        json.add("balanceAfter", balanceAfter.amount)
        json.add("concertId", concertId.rawValue)
        json.add("date", date.description)
        json.add("paidAt", paidAt)
        json.add("paymentId", paymentId)
        json.add("reservationId", reservationId)
        if let seatNumber { json.add("seatNumber", Int64(seatNumber.rawValue)) }
        json.add("seats", json: SeatResult.array(seats))
        return json.finish()
    }
}

extension ReleaseResult {
    /// `{"concertId","date","reservationId","seatNumbers","status":"released"}`.
    public var json: String {
        var json = JSONText(capacity: 160)
        json.add("concertId", concertId.rawValue)
        json.add("date", date.description)
        json.add("reservationId", reservationId)
        json.add("seatNumbers", json: "[" + seatNumbers.map { String($0.rawValue) }.joined(separator: ",") + "]")
        json.add("status", "released")
        return json.finish()
    }
}

extension RefundReceipt {
    /// `{"amount","concertId","date","refundId","refundedAt","reservationId","seatNumbers","status":"refunded","userId"}`.
    public var json: String {
        var json = JSONText(capacity: 280)
        json.add("amount", amount.amount)
        json.add("concertId", concertId.rawValue)
        json.add("date", date.description)
        json.add("refundId", refundId)
        json.add("refundedAt", refundedAt)
        json.add("reservationId", reservationId)
        json.add("seatNumbers", json: "[" + seatNumbers.map { String($0.rawValue) }.joined(separator: ",") + "]")
        json.add("status", "refunded")
        json.add("userId", userId.rawValue)
        return json.finish()
    }
}

extension CancellationResult {
    /// `{"alreadyCancelled","concertId","date","refunded","refundedAmount","released"}`.
    public var json: String {
        var json = JSONText(capacity: 160)
        json.add("alreadyCancelled", json: alreadyCancelled ? "true" : "false")
        json.add("concertId", concertId.rawValue)
        json.add("date", date.description)
        json.add("refunded", Int64(refunded))
        json.add("refundedAmount", refundedAmount.amount)
        json.add("released", Int64(released))
        return json.finish()
    }
}

extension SeatMapResult {
    /// `{"concertId","created","date","pricesOnly","seats"}`.
    public var json: String {
        var json = JSONText(capacity: 100)
        json.add("concertId", concertId.rawValue)
        json.add("created", json: created ? "true" : "false")
        json.add("date", date.description)
        json.add("pricesOnly", json: pricesOnly ? "true" : "false")
        json.add("seats", Int64(seats))
        return json.finish()
    }
}

extension Outcome {
    /// The `result` JSON of a success that has one, or the detail of a failure that has one
    /// (`{"seatNumbers":[…]}`, `{"freeSeats":N}`), encoded once: it is stored and served as it is.
    /// `nil` for a success with nothing to report (an expiry) and a failure with nothing more to say.
    public var resultJSON: String? {
        switch result {
        case .success(.reservation(let reservation)): reservation.json
        case .success(.payment(let receipt)): receipt.json
        case .success(.seatMap(let map)): map.json
        case .success(.release(let release)): release.json
        case .success(.refund(let receipt)): receipt.json
        case .success(.cancellation(let cancellation)): cancellation.json
        case .success(.none): nil
        case .failure: detail?.json
        }
    }
}

extension Outcome.FailureDetail {
    /// `{"seatNumbers":[…]}` or `{"freeSeats":N}`.
    public var json: String {
        var json = JSONText(capacity: 64)
        switch self {
        case .seats(let numbers): json.add("seatNumbers", json: "[" + numbers.map { String($0.rawValue) }.joined(separator: ",") + "]")
        case .freeSeats(let count): json.add("freeSeats", Int64(count))
        }
        return json.finish()
    }
}
