import ConcertDomain
import ConcertWire
public import Foundation
public import Hummingbird

/// An RFC 9457 `application/problem+json` error with the stable `code` clients switch on.
///
/// Handlers throw these (or domain errors that `ProblemMiddleware` turns into these); nothing
/// else reaches a client, so no stack trace, SQL or secret ever does.
public struct Problem: HTTPResponseError, Sendable, Equatable {
    public let status: HTTPResponse.Status
    public let code: String
    public let title: String
    public let detail: String
    /// Extra response headers, e.g. `Retry-After` on 503.
    public let headers: HTTPFields
    /// The command a `503` with an unknown outcome is about (an RFC 9457 extension member).
    public let commandId: String?
    /// Other extension members, e.g. `queueOpensAt` of `QUEUE_NOT_OPEN`.
    public let extensions: [String: Member]

    /// The value of an extension member.
    public enum Member: Sendable, Equatable, Encodable {
        case text(String)
        case number(Int64)
        case numbers([Int64])

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let text): try container.encode(text)
            case .number(let number): try container.encode(number)
            case .numbers(let numbers): try container.encode(numbers)
            }
        }
    }

    public init(
        status: HTTPResponse.Status,
        code: String,
        title: String,
        detail: String,
        headers: HTTPFields = [:],
        commandId: String? = nil,
        extensions: [String: Member] = [:]
    ) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = headers
        self.commandId = commandId
        self.extensions = extensions
    }

    /// The body without extension members: what nearly every problem is (a refused seat under load).
    struct PlainBody: Encodable {
        let type = "about:blank"
        let title: String
        let status: Int
        let detail: String
        let code: String
        let commandId: String?
    }

    /// The body with extension members.
    struct Body: Encodable {
        let title: String
        let status: Int
        let detail: String
        let code: String
        let commandId: String?
        let extensions: [String: Member]

        struct Key: CodingKey {
            let stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            for (name, value) in extensions { try container.encode(value, forKey: Key(stringValue: name)) }
            try container.encode("about:blank", forKey: Key(stringValue: "type"))
            try container.encode(title, forKey: Key(stringValue: "title"))
            try container.encode(status, forKey: Key(stringValue: "status"))
            try container.encode(detail, forKey: Key(stringValue: "detail"))
            try container.encode(code, forKey: Key(stringValue: "code"))
            try container.encodeIfPresent(commandId, forKey: Key(stringValue: "commandId"))
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body =
            extensions.isEmpty
            ? try encoder.encode(PlainBody(title: title, status: status.code, detail: detail, code: code, commandId: commandId))
            : try encoder.encode(Body(title: title, status: status.code, detail: detail, code: code, commandId: commandId, extensions: extensions))
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension Problem {
    /// 403 `QUEUE_NOT_OPEN`: the concert's waiting room opens at `opensAt` (also in
    /// `Retry-After`, in seconds).
    static func queueNotOpen(_ concert: ConcertID, opensAt: Date, now: Date) -> Problem {
        let time = RFC3339.string(opensAt)
        return Problem(
            status: .forbidden,
            code: "QUEUE_NOT_OPEN",
            title: "Forbidden",
            detail: "The queue of concert \(concert) opens at \(time).",
            headers: [.retryAfter: String(max(1, Int(opensAt.timeIntervalSince(now).rounded(.up))))],
            extensions: ["queueOpensAt": .text(time)]
        )
    }

    /// 403 `QUEUE_CLOSED`: the concert's sale has ended.
    static func queueClosed(_ concert: ConcertID, endedAt: Date) -> Problem {
        let time = RFC3339.string(endedAt)
        return Problem(
            status: .forbidden,
            code: "QUEUE_CLOSED",
            title: "Forbidden",
            detail: "The sale of concert \(concert) ended at \(time).",
            extensions: ["saleEndsAt": .text(time)]
        )
    }

    /// 409 `SALE_ENDED`: no new holds after the sale's end (payments of earlier holds still go through).
    static func saleEnded(_ concert: ConcertID, endedAt: Date) -> Problem {
        let time = RFC3339.string(endedAt)
        return Problem(
            status: .conflict,
            code: "SALE_ENDED",
            title: "Conflict",
            detail: "The sale of concert \(concert) ended at \(time).",
            extensions: ["saleEndsAt": .text(time)]
        )
    }

    /// 428 `PROOF_OF_WORK_REQUIRED`: token issue needs a solved puzzle; a new challenge for this
    /// user and concert comes with it (`challenge`, `bits`, `expiresAt`), and the detail says what
    /// was wrong with the one sent, if any.
    static func proofOfWorkRequired(_ work: ProofOfWork, _ refusal: ProofOfWork.Refusal, concert: ConcertID, user: UserID, now: Date) -> Problem {
        let (challenge, expiresAt) = work.challenge(concert: concert, user: user, now: now)
        let task =
            "find a nonce such that SHA-256(challenge ‖ nonce) starts with \(work.bits) zero bits, and send {\"concertId\", \"challenge\", \"nonce\"} again"
        let detail =
            switch refusal {
            case .missing: "Token issue needs a proof of work: \(task)."
            case .notIssued: "That challenge was not issued to this user for this concert: \(task) with this one."
            case .expired: "That challenge has expired: \(task) with this one."
            case .unsolved: "That nonce does not solve the challenge: \(task)."
            }
        return Problem(
            status: HTTPResponse.Status(code: 428, reasonPhrase: "Precondition Required"),
            code: "PROOF_OF_WORK_REQUIRED",
            title: "Precondition Required",
            detail: detail,
            extensions: ["challenge": .text(challenge), "bits": .number(Int64(work.bits)), "expiresAt": .text(RFC3339.string(expiresAt))]
        )
    }

    /// 400: malformed JSON or a bad field, named in the detail.
    public static func invalidRequest(_ detail: String) -> Problem {
        Problem(status: .badRequest, code: "INVALID_REQUEST", title: "Invalid request", detail: detail)
    }

    /// 503 with `Retry-After`: the database or the broker cannot be reached; nothing was done.
    public static func unavailable(_ detail: String, retryAfterSeconds: Int = 5) -> Problem {
        Problem(
            status: .serviceUnavailable,
            code: "SERVICE_UNAVAILABLE",
            title: "Service unavailable",
            detail: detail,
            headers: [.retryAfter: String(retryAfterSeconds)]
        )
    }

    /// 503: the broker connection went away before it confirmed the command, which may or may not
    /// have been enqueued. The id lets the client find out (`Location`).
    public static func outcomeUnknown(_ id: UUID) -> Problem {
        Problem(
            status: .serviceUnavailable,
            code: "OUTCOME_UNKNOWN",
            title: "Service unavailable",
            detail: "The connection to the message broker was lost before it confirmed the command: it may or may not be applied. Poll its Location.",
            headers: [.retryAfter: "5", .location: "/v1/commands/\(id.lowercasedString)"],
            commandId: id.lowercasedString
        )
    }

    /// 405: the path exists, the method is not one of `allowed` (listed in `Allow`).
    public static func methodNotAllowed(_ allowed: [String]) -> Problem {
        Problem(
            status: .methodNotAllowed,
            code: "METHOD_NOT_ALLOWED",
            title: "Method not allowed",
            detail: "This resource takes \(allowed.joined(separator: ", ")).",
            headers: [.allow: allowed.joined(separator: ", ")]
        )
    }

    /// 404 for a resource that does not exist.
    public static func notFound(_ code: String = "NOT_FOUND", _ detail: String) -> Problem {
        Problem(status: .notFound, code: code, title: "Not found", detail: detail)
    }
}
