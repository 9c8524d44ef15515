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
    func equivalent(_ handWritten: String, _ encoded: Data) throws -> Bool {
        func normalized(_ value: Any) -> Any {
            switch value {
            case let text as String: UUID(uuidString: text).map { $0.lowercasedString } ?? text
            case let object as [String: Any]: object.mapValues(normalized)
            case let array as [Any]: array.map(normalized)
            default: value
            }
        }
        let mine = normalized(try JSONSerialization.jsonObject(with: Data(handWritten.utf8)))
        let theirs = normalized(try JSONSerialization.jsonObject(with: encoded))
        return NSDictionary(dictionary: mine as! [String: Any]).isEqual(to: theirs as! [String: Any])
    }

    @Test func resultsAndReceiptsMatchTheEncoder() throws {
        let result = ReservationResult(reservation)
        #expect(try equivalent(result.json, JSONEncoder.commands.encode(result)))
        #expect(
            result.json
                == #"{"concertId":3,"date":"2026-12-24","heldUntil":"2026-11-25T09:51:40Z","price":110000,"reservationId":"6f1c2b8e-3d4a-4c5b-9e7f-1a2b3c4d5e6f","seatNumber":17}"#
        )
        let receipt = PaymentReceipt(paymentId: UUID(), reservation: reservation, balanceAfter: 5, paidAt: Date(timeIntervalSince1970: 1_795_600_100))
        #expect(try equivalent(receipt.json, JSONEncoder.commands.encode(receipt)))
        #expect(try JSONDecoder.commands.decode(PaymentReceipt.self, from: Data(receipt.json.utf8)) == receipt)
    }

    @Test func envelopesMatchTheEncoderAndDecodeBack() throws {
        let commands: [Command] = [
            .reserveSeat(.init(concertId: ConcertID(1)!, date: ScheduleDate("2026-12-24")!, seatNumber: SeatNumber(9)!)),
            .pay(.init(reservationId: UUID())),
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
