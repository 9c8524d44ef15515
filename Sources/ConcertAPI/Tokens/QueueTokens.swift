public import ConcertDomain
import ConcertWire
import Crypto
public import Foundation
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
    /// The token's place in the queue (or, until the pre-queue's draw, its provisional number).
    public internal(set) var seq: Int64
    /// The provisional number the token was signed with, when its place has been drawn since:
    /// the holder is handed a token of its place.
    public internal(set) var drawnFrom: Int64?

    init(userID: UserID, concertID: ConcertID, seq: Int64) {
        self.userID = userID
        self.concertID = concertID
        self.seq = seq
    }
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
    private let signingKey: PreparedHMAC
    private let verified: VerifiedCache
    private let cacheCapacity: Int

    /// Registers the HS256 secret.
    public init(secret: String, cacheCapacity: Int = 200_000) async {
        verified = VerifiedCache()
        self.cacheCapacity = cacheCapacity
        signingKey = PreparedHMAC(key: SymmetricKey(data: Data(secret.utf8)))
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
        let signingInput = Self.header + "." + Base64URL.encode(claims.finish().utf8)
        let signature = signingKey.code(for: Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// `{"alg":"HS256","typ":"JWT"}`, base64url.
    static let header = Base64URL.encode(#"{"alg":"HS256","typ":"JWT"}"#.utf8)

    /// Checks the signature and expiry: 401 `TOKEN_INVALID` (garbage, tampered, another secret) or `TOKEN_EXPIRED`.
    public func verify(_ token: String) async throws(Problem) -> VerifiedQueueToken {
        let now = Date()
        if let (known, expires) = verified.entries.withLock({ $0[token] }) {
            guard expires > now else { throw .tokenExpired }
            return known
        }
        let verifiedToken: VerifiedQueueToken
        let expires: Date
        if let signed = signedHere(token) {
            guard signed.expires > now else { throw .tokenExpired }
            (verifiedToken, expires) = signed
        } else {
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
            verifiedToken = VerifiedQueueToken(userID: user, concertID: concert, seq: claims.seq)
            expires = claims.exp.value
        }
        verified.entries.withLock { entries in
            if entries.count >= cacheCapacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = (verifiedToken, expires)
        }
        return verifiedToken
    }

    /// A token exactly as `sign` writes it (its header, claims in its order and form) whose HMAC
    /// matches: its claims and when its signature expires, read without JWTKit's JSON decoding —
    /// the larger part of a first check's cost. `nil` for anything else, which JWTKit then checks,
    /// so no token valid by the standard is refused here.
    func signedHere(_ token: String) -> (token: VerifiedQueueToken, expires: Date)? {
        let utf8 = Substring(token).utf8
        guard let firstDot = utf8.firstIndex(of: UInt8(ascii: ".")), let lastDot = utf8.lastIndex(of: UInt8(ascii: ".")),
            firstDot < lastDot, utf8[..<firstDot].elementsEqual(Self.header.utf8),
            let signature = Base64URL.decode(utf8[utf8.index(after: lastDot)...]),
            signingKey.isValid(signature, for: Array(utf8[..<lastDot])),
            let claims = Base64URL.decode(utf8[utf8.index(after: firstDot)..<lastDot])
        else { return nil }
        var reader = JSONByteReader(claims)
        guard reader.expect(#"{"concertId":"#), let concertID = reader.integer(),
            reader.expect(#","exp":"#), let expires = reader.integer(),
            reader.expect(#","iat":"#), reader.integer() != nil,
            reader.expect(#","seq":"#), let seq = reader.integer(), seq > 0,
            reader.expect(#","sub":"#), let sub = reader.string().flatMap(UserID.init),
            reader.expect("}"), reader.atEnd,
            let concert = ConcertID(concertID)
        else { return nil }
        return (VerifiedQueueToken(userID: sub, concertID: concert, seq: seq), Date(timeIntervalSince1970: TimeInterval(expires)))
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
    static let tokenAbandoned = Problem(
        status: .unauthorized,
        code: "TOKEN_EXPIRED",
        title: "Unauthorized",
        detail:
            "The waiting-room token was abandoned: it was not polled for longer than the waiting room allows (CONCERT_ABANDON_SECONDS); queue again."
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
