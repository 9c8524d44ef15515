import ConcertDomain
import ConcertWire
import Foundation
import Testing

@Suite struct CommandEnvelopeTests {
    let envelope = CommandEnvelope(
        id: UUID(uuidString: "6F1C2B8E-3D4A-4C5B-9E7F-1A2B3C4D5E6F")!,
        userId: UserID("alice")!,
        partitionKey: "concert-1/2026-12-24",
        command: .reserveSeat(.init(concertId: ConcertID(1)!, date: ScheduleDate("2026-12-24")!, seatNumber: SeatNumber(17)!)),
        submittedAt: Date(timeIntervalSince1970: 1_795_600_000)
    )

    @Test func roundTripsThroughJSON() throws {
        let body = envelope.encoded()
        #expect(try CommandEnvelope.decode(body) == envelope)
        let text = String(decoding: body, as: UTF8.self)
        #expect(text.contains(#""type":"ReserveSeat""#))
        #expect(text.contains(#""payload":{"concertId":1,"date":"2026-12-24","seatNumber":17}"#))
        #expect(text.contains(#""submittedAt":"2026-11-25T09:46:40Z""#))
    }

    @Test func aSeatMapRoundTripsThroughJSON() throws {
        let map = try Command.SetSeatMap(
            concertId: ConcertID(3)!,
            date: ScheduleDate("2027-01-02")!,
            sections: [.init(name: "Floor \"A\"", rows: [.init(label: "1", seats: 24, price: 165_000)])]
        )
        let envelope = CommandEnvelope(
            id: UUID(),
            userId: UserID("operator")!,
            partitionKey: map.schedule.partitionKey,
            command: .setSeatMap(map),
            submittedAt: Date(timeIntervalSince1970: 1_795_600_000)
        )
        #expect(try CommandEnvelope.decode(envelope.encoded()) == envelope)
        #expect(String(decoding: envelope.encoded(), as: UTF8.self).contains(#""type":"SetSeatMap""#))
    }

    @Test func unknownTypesVersionsAndGarbageAreToldApart() {
        var json = String(decoding: envelope.encoded(), as: UTF8.self)
        #expect(throws: CommandEnvelope.DecodingFailure.unknownType("Teleport")) {
            try CommandEnvelope.decode(Array(json.replacingOccurrences(of: "ReserveSeat", with: "Teleport").utf8))
        }
        #expect(throws: CommandEnvelope.DecodingFailure.unsupportedVersion(2)) {
            try CommandEnvelope.decode(Array(json.replacingOccurrences(of: #""version":1"#, with: #""version":2"#).utf8))
        }
        json = json.replacingOccurrences(of: #""seatNumber":17"#, with: #""seatNumber":0"#)
        #expect(throws: CommandEnvelope.DecodingFailure.self) { try CommandEnvelope.decode(Array(json.utf8)) }
        #expect(throws: CommandEnvelope.DecodingFailure.self) { try CommandEnvelope.decode(Array("not json".utf8)) }
    }
}
