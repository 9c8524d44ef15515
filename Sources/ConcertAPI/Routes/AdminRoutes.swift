import ConcertPipeline
import ConcertStorage
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// A dead letter as the admin API shows it: in a list its summary, alone also where it was sent,
/// how often it was replayed, its body (UTF-8 text, or base64 when it is not text) and its
/// headers (JSON). Absent values are left out, as the contract's other answers do.
struct AdminDeadLetter: ResponseEncodable {
    let record: DeadLetterStore.Record
    let detailed: Bool

    enum CodingKeys: String, CodingKey {
        case id, messageId, type, reason, exchange, routingKey, count, firstSeenAt, lastSeenAt, replayedAt, replayCount, body, headers
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(record.id, forKey: .id)
        try container.encode(record.messageId, forKey: .messageId)
        try container.encodeIfPresent(record.type, forKey: .type)
        try container.encode(record.reason, forKey: .reason)
        if detailed { try container.encode(record.exchange, forKey: .exchange) }
        try container.encode(record.routingKey, forKey: .routingKey)
        try container.encode(record.count, forKey: .count)
        try container.encode(record.firstSeenAt, forKey: .firstSeenAt)
        try container.encode(record.lastSeenAt, forKey: .lastSeenAt)
        try container.encodeIfPresent(record.replayedAt, forKey: .replayedAt)
        guard detailed else { return }
        try container.encode(record.replayCount, forKey: .replayCount)
        try container.encode(record.bodyText ?? Data(record.body).base64EncodedString(), forKey: .body)
        try container.encode(try JSONFragment(parsing: record.headers), forKey: .headers)
    }
}

struct DeadLetterList: ResponseEncodable {
    let deadLetters: [AdminDeadLetter]
}

extension Router<APIRequestContext> {
    /// `/admin/dead-letters…`, behind `Authorization: Bearer $CONCERT_ADMIN_TOKEN`.
    func addAdminRoutes(_ services: APIServices) {
        let admin = group("/admin").add(middleware: AdminAuthentication(token: services.adminToken, services: services))
        addCatalogueRoutes(services, admin: admin)
        addBoxOfficeRoutes(services, admin: admin)
        admin.get("/dead-letters") { request, _ -> DeadLetterList in
            let limit =
                try request.uri.queryParameters["limit"].map { text -> Int in
                    guard let value = Int(text), (1...1000).contains(value) else { throw Problem.invalidRequest("limit: must be 1-1000") }
                    return value
                } ?? 50
            let reason = request.uri.queryParameters["reason"].map(String.init)
            let records = try await services.deadLetters.store.list(limit: limit, reason: reason)
            return DeadLetterList(deadLetters: records.map { AdminDeadLetter(record: $0, detailed: false) })
        }
        admin.get("/dead-letters/:id") { _, context -> AdminDeadLetter in
            guard let record = try await services.deadLetters.store.find(try Self.deadLetterID(context)) else {
                throw Problem.notFound("DEAD_LETTER_NOT_FOUND", "No such dead letter.")
            }
            return AdminDeadLetter(record: record, detailed: true)
        }
        admin.post("/dead-letters/:id/replay") { request, context -> Response in
            let replayed: DeadLetterStore.Record?
            do {
                replayed = try await services.deadLetters.replay(try Self.deadLetterID(context))
            } catch let refusal as DeadLetterOperations.Unroutable {
                throw Problem(
                    status: .conflict,
                    code: "DEAD_LETTER_UNROUTABLE",
                    title: "Conflict",
                    detail: "The broker refused the letter's destination: \(refusal.reason)"
                )
            }
            guard let record = replayed else {
                throw Problem.notFound("DEAD_LETTER_NOT_FOUND", "No such dead letter.")
            }
            var response = try AdminDeadLetter(record: record, detailed: true).response(from: request, context: context)
            response.status = .accepted
            return response
        }
        admin.delete("/dead-letters/:id") { _, context -> HTTPResponse.Status in
            guard try await services.deadLetters.store.discard(try Self.deadLetterID(context)) else {
                throw Problem.notFound("DEAD_LETTER_NOT_FOUND", "No such dead letter.")
            }
            return .noContent
        }
    }

    static func deadLetterID(_ context: APIRequestContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("id")), id > 0 else { throw Problem.invalidRequest("id: must be a positive integer") }
        return id
    }
}

/// 401 unless the request carries the admin bearer token (compared in constant time); 429
/// for an address past its failed attempts (`FailedAttempts`), before the token is looked at.
struct AdminAuthentication: RouterMiddleware {
    typealias Context = APIRequestContext
    let token: String?
    let services: APIServices

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let client = services.clientAddress(request, context)
        if let seconds = services.failedSignIns?.retryAfter(client) { throw Problem.tooManyFailures(retryAfter: seconds) }
        guard let token, let header = request.headers[.authorization], let credentials = BearerCredentials.parse(header) else {
            services.failedSignIns?.failed(client)
            throw Problem.adminUnauthorized
        }
        let presented = SHA256.hash(data: Data(credentials.utf8))
        let expected = SHA256.hash(data: Data(token.utf8))
        guard presented == expected else {
            services.failedSignIns?.failed(client)
            throw Problem.adminUnauthorized
        }
        return try await next(request, context)
    }
}

extension Problem {
    static let adminUnauthorized = Problem(
        status: .unauthorized,
        code: "ADMIN_UNAUTHORIZED",
        title: "Unauthorized",
        detail: "The admin API needs Authorization: Bearer <CONCERT_ADMIN_TOKEN>.",
        headers: [.wwwAuthenticate: "Bearer"]
    )
}
