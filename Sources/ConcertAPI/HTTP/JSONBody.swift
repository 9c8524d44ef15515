import ConcertDomain
import ConcertPipeline
import ConcertWire
import Foundation
import Hummingbird

/// Answers whose JSON the hot paths write by hand (`JSONText`): a command accepted, its outcome,
/// a queue status. The outcome's result JSON was encoded once, by the worker, and is spliced in as it is.
enum JSONBody {
    /// A `200` with `text` as its JSON body.
    static func response(_ text: String, headers: HTTPFields = [:]) -> Response {
        response(.ok, text, headers: headers)
    }

    /// A response with `text` as its JSON body.
    static func response(_ status: HTTPResponse.Status, _ text: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// `{"commandId","status":"pending"}`.
    static func accepted(_ id: UUID) -> String {
        var json = JSONText(capacity: 80)
        json.add("commandId", id)
        json.add("status", "pending")
        return json.finish()
    }

    /// `GET /v1/commands/{id}`: `{"commandId","error"?,"result"?,"status","type"}`; a failure's
    /// stored detail (`seatNumbers`, `freeSeats`) joins its `error`.
    static func command(id: UUID, type: String, status: String, resultJSON: String?, failure: FailureCode?) -> String {
        var json = JSONText(capacity: 96 + (resultJSON?.utf8.count ?? 0))
        json.add("commandId", id)
        if let failure {
            let detail = FailureDetail(json: resultJSON)
            var error = JSONText(capacity: 96)
            error.add("code", failure.rawValue)
            if let free = detail?.freeSeats { error.add("freeSeats", Int64(free)) }
            error.add("message", detail?.sentence(for: failure) ?? failure.message)
            if let seats = detail?.seatNumbers { error.add("seatNumbers", json: "[" + seats.map(String.init).joined(separator: ",") + "]") }
            json.add("error", json: error.finish())
        } else if let resultJSON {
            json.add("result", json: resultJSON)
        }
        json.add("status", status)
        json.add("type", type)
        return json.finish()
    }

    static func command(_ outcome: CommandOutcome) -> String {
        command(id: outcome.commandID, type: outcome.type.rawValue, status: outcome.status, resultJSON: outcome.resultJSON, failure: outcome.failure)
    }
}
