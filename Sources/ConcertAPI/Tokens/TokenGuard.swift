import ConcertDomain
import ConcertStorage
import Foundation
import Hummingbird

/// Turns the `Authorization` header into a verified token, and checks it is active for the concert.
struct TokenGuard: Sendable {
    let tokens: QueueTokens
    let active: ActiveTokens
    let view: WaitingRoomView

    /// The bearer token's claims: 401 `TOKEN_MISSING`, `TOKEN_INVALID` or `TOKEN_EXPIRED` otherwise.
    func verified(_ request: Request) async throws(Problem) -> VerifiedQueueToken {
        guard let header = request.headers[.authorization] else { throw .tokenMissing }
        guard let token = BearerCredentials.parse(header), !token.isEmpty else { throw .tokenInvalid }
        var verified = try await tokens.verify(token)
        // A pre-queue token whose place has been drawn stands for that place.
        if WaitingRoom.isProvisional(verified.seq), let place = view.place(verified.concertID, provisional: verified.seq) {
            verified.drawnFrom = verified.seq
            verified.seq = place
        }
        return verified
    }

    /// An active token of `concert` (7 of §7: without one nothing is read or changed).
    ///
    /// 403 `TOKEN_WRONG_CONCERT` for another concert's token, 403 `TOKEN_NOT_ACTIVE` while it
    /// waits, 401 `TOKEN_EXPIRED` once it ended (paid, lifetime over, abandoned).
    /// `admit` runs once the token's signature is checked and before anything is read (the rate limit).
    func requireActive(
        _ request: Request,
        concert: ConcertID?,
        now: Date = Date(),
        admit: (VerifiedQueueToken) throws -> Void = { _ in }
    ) async throws -> (VerifiedQueueToken, WaitingRoomStore.Token) {
        let token = try await verified(request)
        try admit(token)
        if let concert, token.concertID != concert { throw Problem.tokenWrongConcert }
        // Waiting tokens are told from memory; an admitted one needs its row, which is kept in memory too.
        guard token.seq <= view.admittedThrough(token.concertID) else { throw Problem.tokenNotActive }
        guard let row = try await active.token(concert: token.concertID, seq: token.seq), row.userID == token.userID else {
            throw Problem.tokenInvalid
        }
        switch row.state {
        case .waiting: throw Problem.tokenNotActive
        case .expired, .abandoned: throw Problem.tokenExpired
        case .active:
            if let end = row.expiresAt, end <= now { throw Problem.tokenExpired }
            return (token, row)
        }
    }
}
