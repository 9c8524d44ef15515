public import ConcertDomain

// The stored and served `result` JSON of a command, written by hand (every commit writes one).

extension ReservationResult {
    /// `{"concertId","date","heldUntil","price","reservationId","seatNumber"}`.
    public var json: String {
        var json = JSONText(capacity: 160)
        json.add("concertId", concertId.rawValue)
        json.add("date", date.description)
        json.add("heldUntil", heldUntil)
        json.add("price", price.amount)
        json.add("reservationId", reservationId)
        json.add("seatNumber", Int64(seatNumber.rawValue))
        return json.finish()
    }
}

extension PaymentReceipt {
    /// `{"amount","balanceAfter","concertId","date","paidAt","paymentId","reservationId","seatNumber"}`.
    public var json: String {
        var json = JSONText(capacity: 240)
        json.add("amount", amount.amount)
        json.add("balanceAfter", balanceAfter.amount)
        json.add("concertId", concertId.rawValue)
        json.add("date", date.description)
        json.add("paidAt", paidAt)
        json.add("paymentId", paymentId)
        json.add("reservationId", reservationId)
        json.add("seatNumber", Int64(seatNumber.rawValue))
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
    /// The `result` JSON of a success that has one, encoded once (it is stored and served as it is).
    /// `nil` for a failure and for a success with nothing to report (an expiry).
    public var resultJSON: String? {
        switch result {
        case .success(.reservation(let reservation)): reservation.json
        case .success(.payment(let receipt)): receipt.json
        case .success(.seatMap(let map)): map.json
        case .success(.none), .failure: nil
        }
    }
}
