import ConcertDomain
import ConcertStorage
import ConcertWire
import Foundation
import HTTPTypes
import Hummingbird

struct IssueTokenRequest: FlatJSONBody {
    /// Optional: the access token says who; when given it must be the same user.
    let userId: String?
    let concertId: WholeNumber
    /// A solved proof-of-work challenge, when the API asks for one (`CONCERT_QUEUE_PROOF_OF_WORK_BITS`).
    let challenge: String?
    let nonce: String?

    init?(flat object: FlatJSONObject) {
        guard let userId = object.optionalString("userId"), let concertId = object.integer("concertId"),
            let challenge = object.optionalString("challenge"), let nonce = object.optionalString("nonce")
        else { return nil }
        self.userId = userId
        self.concertId = concertId
        self.challenge = challenge
        self.nonce = nonce
    }
}

extension Router<APIRequestContext> {
    /// `POST /v1/queue/tokens` and `GET /v1/queue/status` (§3).
    func addQueueRoutes(_ services: APIServices) {
        let guardian = services.tokenGuard
        post("/v1/queue/tokens") { request, context -> Response in
            let user = try await services.accessTokens.user(of: request)
            try services.admitRequest(of: user, request: request, context: context)
            let body = try await request.decodeJSON(as: IssueTokenRequest.self, context: context)
            if let named = body.userId, try UserID.parse(named) != user { throw Problem.notYourAccount }
            let concert = try ConcertID.parse(body.concertId.value)
            // Every concert has a waiting room, and the view knows them all (refreshed every second).
            guard let window = try await services.saleWindow(of: concert) else {
                throw Problem.notFound("CONCERT_NOT_FOUND", "There is no concert \(concert).")
            }
            let now = Date()
            switch window.status(at: now) {
            case .scheduled:
                throw Problem.queueNotOpen(concert, opensAt: window.queueOpensAt ?? now, now: now)
            case .ended:
                throw Problem.queueClosed(concert, endedAt: window.saleEndsAt ?? now)
            case .queueing, .onSale:
                break
            }
            if let work = services.proofOfWork {
                // After every cheaper refusal, before the database: a bot pays before it costs anything.
                let refusal =
                    if let challenge = body.challenge, let nonce = body.nonce {
                        work.refusal(challenge: challenge, nonce: nonce, concert: concert, user: user, now: now)
                    } else {
                        ProofOfWork.Refusal?.some(.missing)
                    }
                if let refusal { throw Problem.proofOfWorkRequired(work, refusal, concert: concert, user: user, now: now) }
            }
            guard case .issued(let token, let created) = try await services.tokenIssuer.submit((concert, user)) else {
                throw Problem.notFound("CONCERT_NOT_FOUND", "There is no concert \(concert).")
            }
            let jwt = services.tokens.sign(user: user, concert: concert, seq: token.seq, issuedAt: token.issuedAt)
            if WaitingRoom.isProvisional(token.seq) {
                // In the pre-queue: no place until the draw at the start.
                let onSaleAt = window.onSaleAt ?? now
                var json = JSONText(capacity: 360)
                json.add("concertId", concert.rawValue)
                json.add("onSaleAt", onSaleAt)
                json.add("status", "pre-queue")
                json.add("token", jwt)
                return JSONBody.response(created ? .created : .ok, json.finish(), headers: [.retryAfter: Self.untilStart(onSaleAt, now: now)])
            }
            let position =
                token.state == .active ? 0 : max(1, WaitingRoom.position(seq: token.seq, admittedThrough: services.view.admittedThrough(concert)))
            var json = JSONText(capacity: 360)
            json.add("concertId", concert.rawValue)
            json.add("position", position)
            json.add("status", token.state.rawValue)
            json.add("token", jwt)
            return JSONBody.response(created ? .created : .ok, json.finish())
        }
        get("/v1/queue/status") { request, _ -> Response in
            let token = try await guardian.verified(request)
            let now = Date()
            if WaitingRoom.isProvisional(token.seq) {
                // Nobody has a place before the draw at the start: come back around it.
                let onSaleAt = try await services.saleWindow(of: token.concertID)?.onSaleAt ?? now
                var json = JSONText(capacity: 64)
                json.add("onSaleAt", onSaleAt)
                json.add("status", "pre-queue")
                return JSONBody.response(json.finish(), headers: [.retryAfter: Self.untilStart(onSaleAt, now: now)])
            }
            // Drawn since it was issued: the answer hands over a token of the place.
            let replacement = token.drawnFrom.map { _ in
                services.tokens.sign(user: token.userID, concert: token.concertID, seq: token.seq, issuedAt: now)
            }
            let position = WaitingRoom.position(seq: token.seq, admittedThrough: services.view.admittedThrough(token.concertID))
            if position > 0 {
                if services.view.isAbandoned(token.concertID, seq: token.seq) { throw Problem.tokenAbandoned }
                // The common case under load: answered from memory, the poll noted for the batch flush.
                services.lastSeen.saw(concert: token.concertID, seq: token.seq, at: now)
                let wait = WaitingRoom.estimatedWaitSeconds(position: position, admissionsPerSecond: services.view.admissionRate(token.concertID))
                return Self.waiting(position: position, estimatedWaitSeconds: wait, replacement: replacement)
            }
            guard let row = try await services.activeTokens.token(concert: token.concertID, seq: token.seq), row.userID == token.userID else {
                throw Problem.tokenInvalid
            }
            switch row.state {
            case .waiting:
                // Admitted past by a later token whose insert committed first: next in line.
                services.lastSeen.saw(concert: token.concertID, seq: token.seq, at: now)
                return Self.waiting(position: 1, estimatedWaitSeconds: 1, replacement: replacement)
            case .active where (row.expiresAt ?? .distantFuture) > now:
                var json = JSONText(capacity: 80)
                if let until = row.expiresAt { json.add("activeUntil", until) }
                json.add("position", 0)
                json.add("status", "active")
                Self.addReplacement(replacement, to: &json)
                return JSONBody.response(json.finish())
            default:
                throw Problem.tokenExpired
            }
        }
    }

    /// `Retry-After` of a pre-queue answer: the seconds until the start, and up to 2 more, so that
    /// the early arrivals do not all come back in the same instant.
    static func untilStart(_ onSaleAt: Date, now: Date) -> String {
        String(max(1, Int(onSaleAt.timeIntervalSince(now).rounded(.up))) + Int.random(in: 0...2))
    }

    /// `{"estimatedWaitSeconds","position","status":"waiting"}` with `Retry-After: 5`.
    /// With a `replacement`, also the token of the place the draw gave and `"tokenReplaced":true`.
    static func waiting(position: Int64, estimatedWaitSeconds: Int, replacement: String? = nil) -> Response {
        var json = JSONText(capacity: replacement == nil ? 72 : 360)
        json.add("estimatedWaitSeconds", Int64(estimatedWaitSeconds))
        json.add("position", position)
        json.add("status", "waiting")
        addReplacement(replacement, to: &json)
        return JSONBody.response(json.finish(), headers: [.retryAfter: "5"])
    }

    /// `"token"` and `"tokenReplaced":true` (last in key order).
    static func addReplacement(_ replacement: String?, to json: inout JSONText) {
        guard let replacement else { return }
        json.add("token", replacement)
        json.add("tokenReplaced", json: "true")
    }
}
