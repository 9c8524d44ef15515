import ConcertDomain
import Foundation
import Testing

@testable import ConcertWire

/// Envelopes are read by hand where they are in the form `encoded()` writes, and every body
/// decodes to what `JSONDecoder` makes of it, or fails for the same reason.
@Suite struct JSONByteReaderTests {
    /// What `JSONDecoder` alone makes of a body: the envelope, or the failure's text.
    static func viaJSONDecoder(_ body: [UInt8]) -> String {
        do {
            return "\(try JSONDecoder.commands.decode(CommandEnvelope.self, from: Data(body)))"
        } catch let failure as CommandEnvelope.DecodingFailure {
            return failure.description
        } catch let error as DecodingError {
            return CommandEnvelope.DecodingFailure.malformed(CommandEnvelope.describe(error)).description
        } catch {
            return CommandEnvelope.DecodingFailure.malformed("not JSON").description
        }
    }

    static func viaDecode(_ body: [UInt8]) -> String {
        do {
            return "\(try CommandEnvelope.decode(body))"
        } catch {
            return error.description
        }
    }

    static func randomEnvelope(_ random: inout SystemRandomNumberGenerator) -> CommandEnvelope {
        let date = ScheduleDate(
            year: Int.random(in: 1970...2200, using: &random),
            month: Int.random(in: 1...12, using: &random),
            day: Int.random(in: 1...28, using: &random)
        )!
        let command: Command
        switch Int.random(in: 0..<3, using: &random) {
        case 0:
            command = .reserveSeat(
                .init(
                    concertId: ConcertID(Int64.random(in: 1...1_000_000, using: &random))!,
                    date: date,
                    seatNumber: SeatNumber(Int.random(in: 1...SeatNumber.maximum, using: &random))!
                )
            )
        case 1:
            command = .pay(.init(reservationId: UUID()))
        default:
            let holds = (0..<Int.random(in: 0...3, using: &random)).map { group in
                Command.ExpireHold.Holds(
                    partitionKey: "\(group)/\(date)",
                    reservationIds: (0..<Int.random(in: 0...4, using: &random)).map { _ in UUID() }
                )
            }
            command = .expireHold(.init(holds: holds))
        }
        return CommandEnvelope(
            id: UUID(),
            userId: UserID("user-\(Int.random(in: 0...99_999, using: &random))")!,
            partitionKey: "\(Int.random(in: 1...99, using: &random))/\(date)",
            command: command,
            submittedAt: Date(timeIntervalSince1970: TimeInterval(Int64.random(in: -2_000_000_000...8_000_000_000, using: &random)))
        )
    }

    @Test func envelopesAsWrittenAreReadByHandAndAsTheDecoderReadsThem() throws {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let envelope = Self.randomEnvelope(&random)
            let body = envelope.encoded()
            #expect(CommandEnvelope.readWritten(body) == envelope, "\(String(decoding: body, as: UTF8.self))")
            #expect(try JSONDecoder.commands.decode(CommandEnvelope.self, from: Data(body)) == envelope)
            // The encoder's form (upper-case UUIDs) decodes to the same envelope too.
            #expect(try CommandEnvelope.decode(Array(JSONEncoder.commands.encode(envelope))) == envelope)
        }
    }

    @Test func everyOtherFormIsLeftToTheDecoderWithTheSameAnswer() throws {
        let written = String(
            decoding: CommandEnvelope(
                id: UUID(),
                userId: UserID("alice")!,
                partitionKey: "1/2026-12-24",
                command: .reserveSeat(.init(concertId: ConcertID(1)!, date: ScheduleDate("2026-12-24")!, seatNumber: SeatNumber(9)!)),
                submittedAt: Date(timeIntervalSince1970: 1_795_600_000)
            ).encoded(),
            as: UTF8.self
        )
        let variants = [
            written.replacingOccurrences(of: #"{"id""#, with: #"{ "id""#),
            written.replacingOccurrences(of: #""version":1"#, with: #""version":2"#),
            written.replacingOccurrences(of: #""type":"ReserveSeat""#, with: #""type":"Teleport""#),
            written.replacingOccurrences(of: #""type":"ReserveSeat""#, with: #""type":"Pay""#),
            written.replacingOccurrences(of: #""partitionKey":"1/2026-12-24""#, with: #""partitionKey":"1\/2026-12-24""#),
            written.replacingOccurrences(of: #"T"#, with: #"T"#).replacingOccurrences(of: #":40Z""#, with: #":40.5Z""#),
            written.replacingOccurrences(of: #""seatNumber":9"#, with: #""seatNumber":0"#),
            written.replacingOccurrences(of: #""seatNumber":9"#, with: #""seatNumber":9.0"#),
            written.replacingOccurrences(of: #""date":"2026-12-24""#, with: #""date":"2026-02-30""#),
            written.replacingOccurrences(of: #""userId":"alice""#, with: #""userId":"al ice""#),
            written.replacingOccurrences(of: #"2026-11-25T"#, with: #"2026-11-25t"#),
            written.replacingOccurrences(of: #"}"#, with: #"} x"#),
            String(written.dropLast()),
            #"{"id":"6f1c2b8e-3d4a-4c5b-9e7f-1a2b3c4d5e6f","partitionKey":"1/2026-12-24","payload":{"reservationIds":["6f1c2b8e-3d4a-4c5b-9e7f-1a2b3c4d5e6f"]},"submittedAt":"2026-11-25T09:46:40Z","type":"ExpireHold","userId":"system","version":1}"#,
            #"{"id":"6f1c2b8e-3d4a-4c5b-9e7f-1a2b3c4d5e6f","partitionKey":"1/2026-12-24","payload":{"holds":[]},"submittedAt":"2026-11-25T09:46:40Z","type":"ExpireHold","userId":"system","version":1}"#,
            "",
            "[]",
        ]
        for variant in variants {
            let body = Array(variant.utf8)
            #expect(Self.viaDecode(body) == Self.viaJSONDecoder(body), "\(variant)")
        }
        #expect(CommandEnvelope.readWritten(Array(variants[0].utf8)) == nil)
        #expect(CommandEnvelope.readWritten(Array(variants[1].utf8)) == nil)
        #expect(CommandEnvelope.readWritten(Array(variants[3].utf8)) == nil)
        #expect(CommandEnvelope.readWritten(Array(variants[14].utf8)) != nil)
    }

    @Test func timesReadBackAsWrittenAndImpossibleOnesAreDeclined() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let date = Date(timeIntervalSince1970: TimeInterval(Int64.random(in: -62_000_000_000...253_000_000_000, using: &random)))
            var reader = JSONByteReader(Array("\"\(RFC3339.string(date))\"".utf8))
            #expect(reader.time() == date, "\(RFC3339.string(date))")
        }
        for text in [
            "2026-02-29T00:00:00Z", "2026-12-24T24:00:00Z", "2026-12-24T10:60:00Z", "2026-12-24T10:00:60Z", "2026-12-24 10:00:00Z",
            "2026-12-24T10:00:00+00:00", "2026-12-24T10:00:00.5Z",
        ] {
            var reader = JSONByteReader(Array("\"\(text)\"".utf8))
            #expect(reader.time() == nil, "\(text)")
        }
        for days in [-719_162, -1, 0, 1, 20_000, 2_932_896] {
            #expect(ScheduleDate(secondsSinceEpoch: Int64(days) * 86_400).daysSinceEpoch == Int64(days))
        }
    }

    /// Integers of up to 18 digits are read; longer ones (which may not fit in 64 bits) are
    /// declined without trapping on the overflow.
    @Test func longIntegersAreDeclinedNotOverflowed() {
        for (text, expected) in [("123456789012345678", Int64(123_456_789_012_345_678)), ("-42", -42), ("0", 0)] {
            var reader = JSONByteReader(Array(text.utf8))
            #expect(reader.integer() == expected, "\(text)")
        }
        for text in ["9999999999999999999", "99999999999999999999", "-9999999999999999999", "1234567890123456789", "00", "-", "1.0", "1e3"] {
            var reader = JSONByteReader(Array(text.utf8))
            #expect(reader.integer() == nil, "\(text)")
        }
    }
}
