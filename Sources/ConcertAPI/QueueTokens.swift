public import ConcertDomain
public import Foundation
import HTTPTypes
import JWTKit

/// The claims of a waiting-room token: who, for which concert, at which place in the queue.
struct QueueTokenClaims: JWTPayload, Equatable {
    var sub: SubjectClaim
    var concertId: Int64
    var seq: Int64
    var iat: IssuedAtClaim
    var exp: ExpirationClaim

    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
    }
}

/// A verified token: the signature makes the sequence number, and so the position, unforgeable.
public struct VerifiedQueueToken: Sendable, Hashable {
    public let userID: UserID
    public let concertID: ConcertID
    public let seq: Int64
}

/// Signs and verifies waiting-room tokens (JWT HS256 with `CONCERT_TOKEN_SECRET`).
public struct QueueTokens: Sendable {
    /// How long a token's signature stays valid; the room's own rules end it much sooner.
    public static let signatureLifetime: TimeInterval = 24 * 3600

    private let keys: JWTKeyCollection

    /// Registers the HS256 secret.
    public init(secret: String) async {
        keys = JWTKeyCollection()
        // Sorted keys make signing deterministic, so a re-issue returns the very same token.
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = .sortedKeys
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, serializer: DefaultJWTSerializer(jsonEncoder: encoder))
    }

    /// The token for `seq`; the same inputs give the same token, so a re-issue returns it unchanged.
    public func sign(user: UserID, concert: ConcertID, seq: Int64, issuedAt: Date) async throws -> String {
        let issued = Date(timeIntervalSince1970: issuedAt.timeIntervalSince1970.rounded(.down))
        let claims = QueueTokenClaims(
            sub: SubjectClaim(value: user.rawValue),
            concertId: concert.rawValue,
            seq: seq,
            iat: IssuedAtClaim(value: issued),
            exp: ExpirationClaim(value: issued.addingTimeInterval(Self.signatureLifetime))
        )
        return try await keys.sign(claims)
    }

    /// Checks the signature and expiry: 401 `TOKEN_INVALID` (garbage, tampered, another secret) or `TOKEN_EXPIRED`.
    public func verify(_ token: String) async throws(Problem) -> VerifiedQueueToken {
        let claims: QueueTokenClaims
        do {
            claims = try await keys.verify(token, as: QueueTokenClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw .tokenExpired
        } catch {
            throw .tokenInvalid
        }
        guard let user = UserID(claims.sub.value), let concert = ConcertID(claims.concertId), claims.seq > 0 else {
            throw .tokenInvalid
        }
        return VerifiedQueueToken(userID: user, concertID: concert, seq: claims.seq)
    }
}

extension Problem {
    static let tokenMissing = Problem(
        status: .unauthorized,
        code: "TOKEN_MISSING",
        title: "Unauthorized",
        detail: "This request needs a waiting-room token: Authorization: Bearer <token>."
    )
    static let tokenInvalid = Problem(
        status: .unauthorized,
        code: "TOKEN_INVALID",
        title: "Unauthorized",
        detail: "The waiting-room token is not valid."
    )
    static let tokenExpired = Problem(
        status: .unauthorized,
        code: "TOKEN_EXPIRED",
        title: "Unauthorized",
        detail: "The waiting-room token has ended; queue again."
    )
    static let tokenNotActive = Problem(
        status: .forbidden,
        code: "TOKEN_NOT_ACTIVE",
        title: "Forbidden",
        detail: "The token is still waiting; poll /v1/queue/status until it is active."
    )
    static let tokenWrongConcert = Problem(
        status: .forbidden,
        code: "TOKEN_WRONG_CONCERT",
        title: "Forbidden",
        detail: "The token was issued for another concert."
    )
}
