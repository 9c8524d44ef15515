import ConcertDomain
import ConcertStorage
import Foundation
import HTTPTypes
import Hummingbird

struct IssueTokenRequest: Decodable {
    let userId: String
    let concertId: WholeNumber
}

struct IssuedToken: ResponseEncodable {
    let token: String
    let status: String
    let position: Int64
    let concertId: Int64
}

struct QueueStatus: ResponseEncodable {
    let status: String
    let position: Int64
    let estimatedWaitSeconds: Int?
    let activeUntil: Date?
}

extension Router<APIRequestContext> {
    /// `POST /v1/queue/tokens` and `GET /v1/queue/status` (§3).
    func addQueueRoutes(_ services: APIServices) {
        let guardian = services.tokenGuard
        post("/v1/queue/tokens") { request, context -> EditedResponse<IssuedToken> in
            let body = try await request.decodeJSON(as: IssueTokenRequest.self, context: context)
            let user = try UserID.parse(body.userId)
            let concert = try ConcertID.parse(body.concertId.value)
            guard try await services.catalogue.concertExists(concert) else {
                throw Problem.notFound("CONCERT_NOT_FOUND", "There is no concert \(concert).")
            }
            let (token, created) = try await services.waitingRoom.issue(concert: concert, user: user)
            let jwt = try await services.tokens.sign(user: user, concert: concert, seq: token.seq, issuedAt: token.issuedAt)
            let position = token.state == .active ? 0 : max(1, WaitingRoom.position(seq: token.seq, admittedThrough: services.view.admittedThrough(concert)))
            return EditedResponse(
                status: created ? .created : .ok,
                response: IssuedToken(token: jwt, status: token.state.rawValue, position: position, concertId: concert.rawValue)
            )
        }
        get("/v1/queue/status") { request, _ -> EditedResponse<QueueStatus> in
            let token = try await guardian.verified(request)
            let now = Date()
            let position = WaitingRoom.position(seq: token.seq, admittedThrough: services.view.admittedThrough(token.concertID))
            if position > 0 {
                // The common case under load: answered from memory, the poll noted for the batch flush.
                services.lastSeen.saw(concert: token.concertID, seq: token.seq, at: now)
                let wait = WaitingRoom.estimatedWaitSeconds(position: position, admissionsPerSecond: services.view.admissionRate(token.concertID))
                return EditedResponse(
                    headers: [.retryAfter: "5"],
                    response: QueueStatus(status: "waiting", position: position, estimatedWaitSeconds: wait, activeUntil: nil)
                )
            }
            guard let row = try await services.waitingRoom.token(concert: token.concertID, seq: token.seq), row.userID == token.userID else {
                throw Problem.tokenInvalid
            }
            switch row.state {
            case .waiting:
                // Admitted past by a later token whose insert committed first: next in line.
                services.lastSeen.saw(concert: token.concertID, seq: token.seq, at: now)
                return EditedResponse(
                    headers: [.retryAfter: "5"],
                    response: QueueStatus(status: "waiting", position: 1, estimatedWaitSeconds: 1, activeUntil: nil)
                )
            case .active where (row.expiresAt ?? .distantFuture) > now:
                return EditedResponse(response: QueueStatus(status: "active", position: 0, estimatedWaitSeconds: nil, activeUntil: row.expiresAt))
            default:
                throw Problem.tokenExpired
            }
        }
    }
}
