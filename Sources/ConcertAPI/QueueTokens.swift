public import ConcertDomain
public import Foundation
import Crypto
import HTTPTypes
import JWTKit
import Synchronization

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
///
/// A token verified once is remembered until its signature expires (at most `cacheCapacity`
/// of them): a waiting user polls every few seconds and an admitted one sends every request
/// with it, and checking the same signature again would buy nothing.
public struct QueueTokens: Sendable {
    /// How long a token's signature stays valid; the room's own rules end it much sooner.
    public static let signatureLifetime: TimeInterval = 24 * 3600

    private let keys: JWTKeyCollection
    private let signingKey: SymmetricKey
    private let verified: VerifiedCache
    private let cacheCapacity: Int

    /// Registers the HS256 secret.
    public init(secret: String, cacheCapacity: Int = 200_000) async {
        verified = VerifiedCache()
        self.cacheCapacity = cacheCapacity
        signingKey = SymmetricKey(data: Data(secret.utf8))
        keys = JWTKeyCollection()
        // Sorted keys make signing deterministic, so a re-issue returns the very same token.
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = .sortedKeys
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, serializer: DefaultJWTSerializer(jsonEncoder: encoder))
    }

    /// The token for `seq`; the same inputs give the same token, so a re-issue returns it unchanged.
    ///
    /// Written here rather than by JWTKit (which verifies them): an HS256 JWT with a fixed header and
    /// claims in sorted order is three base64url parts and one HMAC, and issuing is on the hot path.
    public func sign(user: UserID, concert: ConcertID, seq: Int64, issuedAt: Date) -> String {
        let issued = Int64(issuedAt.timeIntervalSince1970.rounded(.down))
        var claims = JSONText(capacity: 120)
        claims.add("concertId", concert.rawValue)
        claims.add("exp", issued + Int64(Self.signatureLifetime))
        claims.add("iat", issued)
        claims.add("seq", seq)
        claims.add("sub", user.rawValue)
        let signingInput = Self.header + "." + Self.base64URL(Data(claims.finish().utf8))
        let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: signingKey)
        return signingInput + "." + Self.base64URL(Data(signature))
    }

    /// `{"alg":"HS256","typ":"JWT"}`, base64url.
    static let header = base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))

    static func base64URL(_ data: Data) -> String {
        var text = data.base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.last == "=" { text.removeLast() }
        return text
    }

    /// Checks the signature and expiry: 401 `TOKEN_INVALID` (garbage, tampered, another secret) or `TOKEN_EXPIRED`.
    public func verify(_ token: String) async throws(Problem) -> VerifiedQueueToken {
        let now = Date()
        if let (known, expires) = verified.entries.withLock({ $0[token] }) {
            guard expires > now else { throw .tokenExpired }
            return known
        }
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
        let verifiedToken = VerifiedQueueToken(userID: user, concertID: concert, seq: claims.seq)
        verified.entries.withLock { entries in
            if entries.count >= cacheCapacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = (verifiedToken, claims.exp.value)
        }
        return verifiedToken
    }

    /// Tokens whose signature was checked, with when it expires.
    final class VerifiedCache: Sendable {
        let entries = Mutex<[String: (VerifiedQueueToken, Date)]>([:])
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
