import Foundation
import Hummingbird
import Testing

@testable import ConcertAPI

/// Request bodies read by hand in their plain form must give exactly what `JSONDecoder` gives:
/// the same values, or the same 400 with the same words.
@Suite struct RequestBodyTests {
    /// What decoding a body came to: the fields, or the problem's code and detail.
    static func outcome<Value: Decodable>(_ decode: () throws -> Value, fields: (Value) -> String) -> String {
        do {
            return "ok " + fields(try decode())
        } catch let problem as Problem {
            return "\(problem.status.code) \(problem.code): \(problem.detail)"
        } catch {
            return "other error \(error)"
        }
    }

    static func both<Value: FlatJSONBody>(_ body: String, as type: Value.Type, fields: (Value) -> String) -> (fast: String, decoder: String) {
        let bytes = Array(body.utf8)
        return (
            outcome({ try Request.decodeBody(Value.self, from: bytes) }, fields: fields),
            outcome({ try Request.decodeWithJSONDecoder(Value.self, from: bytes) }, fields: fields)
        )
    }

    static let reservations = [
        #"{"concertId":1,"date":"2026-12-24","seatNumber":17}"#,
        #" { "seatNumber" : 3 , "date" : "2026-12-25" , "concertId" : 42 } "#,
        #"{"concertId":1,"date":"2026-12-24","seatNumber":17,"note":"window","extra":[],"flag":true,"nothing":null}"#,
        #"{"concertId":-1,"date":"2026-12-24","seatNumber":0}"#,
        #"{"concertId":1.0,"date":"2026-12-24","seatNumber":17}"#,
        #"{"concertId":1.5,"date":"2026-12-24","seatNumber":17}"#,
        #"{"concertId":1e2,"date":"2026-12-24","seatNumber":17}"#,
        #"{"concertId":"1","date":"2026-12-24","seatNumber":17}"#,
        #"{"concertId":1,"date":20261224,"seatNumber":17}"#,
        #"{"concertId":1,"date":"2026-12-24"}"#,
        #"{"concertId":1,"date":null,"seatNumber":17}"#,
        #"{"concertId":1,"date":"2026-12-24","seatNumber":17,"concertId":2}"#,
        #"{"concertId":1,"date":"2026\u002d12-24","seatNumber":17}"#,
        #"{"concertId":1,"date":"2026-12-24","seatNumber":17,"nested":{"a":1}}"#,
        #"{"concertId":99999999999999999999,"date":"2026-12-24","seatNumber":17}"#,
        #"{"concertId":123456789012345678,"date":"2026-12-24","seatNumber":17}"#,
        #"{"concertId":007,"date":"2026-12-24","seatNumber":17}"#,
        #"{"concertId":1,"date":"2026-12-24","seatNumber":17"#,
        #"[1,2,3]"#,
        #""#,
        "{\"concertId\":1,\"date\":\"2026-12\n-24\",\"seatNumber\":17}",
        #"{"concertId":1,"date":"2026-12-24","seatNumbers":[3,4,5]}"#,
        #"{"concertId":1,"date":"2026-12-24","quantity":2,"section":"Floor A","maxPrice":150000,"together":false}"#,
        #"{"concertId":1,"date":"2026-12-24","seatNumber":17,"quantity":2}"#,
    ]

    @Test(arguments: reservations)
    func aReservationBodyReadsAsJSONDecoderReadsIt(_ body: String) {
        let (fast, decoder) = Self.both(body, as: ReserveRequest.self) { request in
            let seats = request.seatNumbers.map { $0.map { String($0.value) }.joined(separator: ",") } ?? "-"
            let best =
                "\(request.quantity?.value ?? 0) \(request.section ?? "-") \(request.maxPrice?.value ?? 0) \(request.together.map(String.init) ?? "-")"
            return "\(request.concertId.value) \(request.date) \(request.seatNumber?.value ?? 0) \(seats) \(best)"
        }
        #expect(fast == decoder, "\(body)")
    }

    @Test(arguments: [
        #"{"reservationId":"6f1c2b8e-3d4a-4c5b-9e7f-1a2b3c4d5e6f"}"#,
        #"{"reservationId":17}"#,
        #"{"reservationId":null}"#,
        #"{}"#,
        #"{"reservationId":"a","reservationId":"b"}"#,
        #"{"reservationId":"caf\u00e9"}"#,
    ])
    func aPaymentBodyReadsAsJSONDecoderReadsIt(_ body: String) {
        let (fast, decoder) = Self.both(body, as: PayRequest.self) { $0.reservationId }
        #expect(fast == decoder, "\(body)")
    }

    @Test(arguments: [
        #"{"concertId":1}"#,
        #"{"concertId":1,"userId":"alice"}"#,
        #"{"concertId":1,"userId":null}"#,
        #"{"concertId":1,"userId":7}"#,
        #"{"concertId":1,"userId":["alice"]}"#,
        #"{"userId":"alice"}"#,
        #"{"concertId":true}"#,
    ])
    func aTokenBodyReadsAsJSONDecoderReadsIt(_ body: String) {
        let (fast, decoder) = Self.both(body, as: IssueTokenRequest.self) { "\($0.userId ?? "-") \($0.concertId.value)" }
        #expect(fast == decoder, "\(body)")
    }

    @Test func thePlainFormsAreReadByHand() throws {
        #expect(ReserveRequest(flat: try #require(FlatJSONObject(Array(Self.reservations[0].utf8))))?.seatNumber?.value == 17)
        #expect(PayRequest(flat: try #require(FlatJSONObject(Array(#"{"reservationId":"x"}"#.utf8))))?.reservationId == "x")
        #expect(IssueTokenRequest(flat: try #require(FlatJSONObject(Array(#"{"concertId":3}"#.utf8))))?.concertId.value == 3)
        // Forms left to JSONDecoder.
        #expect(ReserveRequest(flat: try #require(FlatJSONObject(Array(#"{"concertId":"1","date":"d","seatNumber":1}"#.utf8)))) == nil)
        #expect(IssueTokenRequest(flat: try #require(FlatJSONObject(Array(#"{"concertId":1,"userId":7}"#.utf8)))) == nil)
    }
}
