import ConcertDomain
import Foundation
import Testing

@testable import ConcertWire

/// The hand-written JSON of the hot path says what `JSONEncoder.commands` would.
@Suite struct JSONTextTests {
    let reservation = Reservation(
        id: UUID(uuidString: "6F1C2B8E-3D4A-4C5B-9E7F-1A2B3C4D5E6F")!,
        schedule: ScheduleKey(concertID: ConcertID(3)!, date: ScheduleDate("2026-12-24")!),
        seat: SeatNumber(17)!,
        userID: UserID("alice")!,
        price: 110_000,
        status: .held,
        heldUntil: Date(timeIntervalSince1970: 1_795_600_300.75)
    )

    /// The same JSON value, with UUIDs compared without regard to case (the encoder writes them upper-case).
    /// `ignoring` names members the hand-written JSON adds for clients (a constant `status`).
    func equivalent(_ handWritten: String, _ encoded: Data, ignoring: Set<String> = []) throws -> Bool {
        func normalized(_ value: Any) -> Any {
            switch value {
            case let text as String: UUID(uuidString: text).map { $0.lowercasedString } ?? text
            case let object as [String: Any]: object.mapValues(normalized)
            case let array as [Any]: array.map(normalized)
            default: value
            }
        }
        var mine = normalized(try JSONSerialization.jsonObject(with: Data(handWritten.utf8))) as! [String: Any]
        for name in ignoring { mine[name] = nil }
        let theirs = normalized(try JSONSerialization.jsonObject(with: encoded))
        return NSDictionary(dictionary: mine).isEqual(to: theirs as! [String: Any])
    }

    @Test func resultsAndReceiptsMatchTheEncoder() throws {
        let seats = reservation.seats.map { SeatResult($0, place: SeatMap.Place(section: nil, row: nil, seat: nil)) }
        let result = ReservationResult(reservation, seats: seats)
        #expect(try equivalent(result.json, JSONEncoder.commands.encode(result)))
        #expect(
            result.json
                == #"{"concertId":3,"date":"2026-12-24","heldUntil":"2026-11-25T09:51:40Z","price":110000,"reservationId":"6f1c2b8e-3d4a-4c5b-9e7f-1a2b3c4d5e6f","seatNumber":17,"seats":[{"number":17,"price":110000}]}"#
        )
        let receipt = PaymentReceipt(
            paymentId: UUID(),
            reservation: reservation,
            seats: seats,
            balanceAfter: 5,
            paidAt: Date(timeIntervalSince1970: 1_795_600_100)
        )
        #expect(try equivalent(receipt.json, JSONEncoder.commands.encode(receipt)))
        #expect(try JSONDecoder.commands.decode(PaymentReceipt.self, from: Data(receipt.json.utf8)) == receipt)

        // Several seats, placed on a seat map: no seatNumber, each seat with its section, row and label.
        let pair = Reservation(
            id: reservation.id,
            schedule: reservation.schedule,
            seats: [.init(number: SeatNumber(4)!, price: 99000), .init(number: SeatNumber(5)!, price: 99000)],
            userID: reservation.userID,
            status: .held,
            heldUntil: reservation.heldUntil
        )
        let placed = pair.seats.map { SeatResult($0, place: SeatMap.Place(section: "Balcony", row: "A", seat: String($0.number.rawValue - 3))) }
        let several = ReservationResult(pair, seats: placed)
        #expect(try equivalent(several.json, JSONEncoder.commands.encode(several)))
        #expect(
            several.json
                == #"{"concertId":3,"date":"2026-12-24","heldUntil":"2026-11-25T09:51:40Z","price":198000,"reservationId":"6f1c2b8e-3d4a-4c5b-9e7f-1a2b3c4d5e6f","seats":[{"number":4,"price":99000,"row":"A","seat":"1","section":"Balcony"},{"number":5,"price":99000,"row":"A","seat":"2","section":"Balcony"}]}"#
        )
        let refund = RefundReceipt(refundId: UUID(), reservation: pair, refundedAt: Date(timeIntervalSince1970: 1_795_600_200))
        #expect(try equivalent(refund.json, JSONEncoder.commands.encode(refund), ignoring: ["status"]))
        let release = ReleaseResult(pair, freed: true)
        #expect(try equivalent(release.json, JSONEncoder.commands.encode(release), ignoring: ["status"]))
        let cancellation = CancellationResult(schedule: pair.schedule, released: 2, refunded: 1, refundedAmount: 198000, alreadyCancelled: false)
        // A Bool member: compared as text (Foundation's dictionary equality on Linux tells false and false apart).
        #expect(cancellation.json == String(decoding: try JSONEncoder.commands.encode(cancellation), as: UTF8.self))
    }

    @Test func envelopesMatchTheEncoderAndDecodeBack() throws {
        let commands: [Command] = [
            .reserveSeat(.init(concertId: ConcertID(1)!, date: ScheduleDate("2026-12-24")!, seatNumber: SeatNumber(9)!)),
            .reserveSeat(.init(concertId: ConcertID(1)!, date: ScheduleDate("2026-12-24")!, selection: .seats([SeatNumber(9)!, SeatNumber(3)!]))),
            .reserveSeat(.init(concertId: ConcertID(1)!, date: ScheduleDate("2026-12-24")!, selection: .best(.init(quantity: 2)))),
            .reserveSeat(
                .init(
                    concertId: ConcertID(1)!,
                    date: ScheduleDate("2026-12-24")!,
                    selection: .best(.init(quantity: 4, section: "Floor \"A\"", maxPrice: 150_000, together: false))
                )
            ),
            .pay(.init(reservationId: UUID())),
            .release(.init(reservationId: UUID())),
            .refund(.init(reservationId: UUID())),
            .cancelDate(.init(concertId: ConcertID(1)!, date: ScheduleDate("2026-12-24")!)),
            .expireHold(.init(reservationIds: [UUID(), UUID()])),
        ]
        for command in commands {
            let envelope = CommandEnvelope(
                id: UUID(),
                userId: UserID("bob_1-x")!,
                partitionKey: "concert-1/2026-12-24",
                command: command,
                submittedAt: Date(timeIntervalSince1970: 1_795_600_000)
            )
            let text = String(decoding: envelope.encoded(), as: UTF8.self)
            #expect(try equivalent(text, JSONEncoder.commands.encode(envelope)))
            #expect(try CommandEnvelope.decode(envelope.encoded()) == envelope)
            // The hot forms are read by hand (a section with a quote is left to JSONDecoder, which reads it the same).
            if case .reserveSeat(let reserve) = command, case .best(let request) = reserve.selection, request.section != nil { continue }
            #expect(CommandEnvelope.readWritten(envelope.encoded()) == envelope, "\(text)")
        }
    }

    @Test func anExpiryOfEarlierBuildsStillDecodes() throws {
        let id = UUID()
        let old =
            #"{"id":"\#(UUID().uuidString)","partitionKey":"concert-1/2026-12-24","payload":{"reservationId":"\#(id.uuidString)"},"submittedAt":"2026-11-25T09:46:40Z","type":"ExpireHold","userId":"alice","version":1}"#
        let envelope = try CommandEnvelope.decode(Array(old.utf8))
        #expect(envelope.command == .expireHold(.init(reservationIds: [id])))
    }

    @Test func timesAreRFC3339ToTheSecondLikeTheEncoder() throws {
        let formatter = ISO8601DateFormatter()
        // Spread over 1970–2096 by a multiplicative step (Knuth's), milliseconds varying too.
        for step in 0..<2000 {
            let seconds = (UInt64(step) &* 2_654_435_761) % 4_000_000_000
            let date = Date(timeIntervalSince1970: Double(seconds) + Double(step * 37 % 1000) / 1000)
            #expect(RFC3339.string(date) == formatter.string(from: date))
        }
        #expect(RFC3339.string(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
    }

    @Test func stringsAreEscaped() {
        var json = JSONText()
        json.add("text", "quote \" backslash \\ newline \n tab \t bell \u{7} é")
        let text = json.finish()
        #expect(text == #"{"text":"quote \" backslash \\ newline \n tab \t bell \u0007 é"}"#)
        let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String]
        #expect(object?["text"] == "quote \" backslash \\ newline \n tab \t bell \u{7} é")
    }

    @Test func uuidsAreLowerCase() {
        let id = UUID()
        #expect(id.lowercasedString == id.uuidString.lowercased())
    }
}
