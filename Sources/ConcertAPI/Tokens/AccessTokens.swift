public import ConcertDomain
import ConcertWire
import Crypto
public import Foundation
import HTTPTypes
public import Hummingbird
import JWTKit
import Synchronization

/// Verifies the access tokens of the operator's identity provider (DESIGN §2): a JWT whose `sub`
/// is the user id, with `exp`, and `iss` / `aud` when configured. HS256 with
/// `CONCERT_USER_TOKEN_SECRET`, and/or RS256 / ES256 with the public keys of `CONCERT_USER_JWKS`.
///
/// The two kinds of key live in separate key collections and the header's `alg` picks one, so a
/// token can never be checked with a key of another kind: `alg: none` is refused, and an HS256
/// token signed with a JWKS public key as its HMAC secret meets only the configured secret. A
/// waiting-room token (it carries `seq` and `concertId`, and is signed with another secret) is
/// never taken for an access token.
public struct AccessTokens: Sendable {
    public struct Settings: Sendable {
        /// HS256 secret, at least `minimumSecretLength` characters.
        public var secret: String?
        /// A JWKS document (JSON text) of RS256 / ES256 public keys.
        public var jwks: String?
        public var issuer: String?
        public var audience: String?

        public init(secret: String? = nil, jwks: String? = nil, issuer: String? = nil, audience: String? = nil) {
            self.secret = secret
            self.jwks = jwks
            self.issuer = issuer
            self.audience = audience
        }
    }

    public static let minimumSecretLength = 32

    /// Why settings cannot be used, naming the variable.
    public struct SettingsError: Error, CustomStringConvertible {
        public let variable: String
        public let problem: String
        public var description: String { "\(variable) \(problem)" }
    }

    private let hmacKeys: JWTKeyCollection?
    /// The HS256 secret, for tokens of the plainest form checked without JWTKit (`plainHS256Claims`).
    private let hmacKey: PreparedHMAC?
    /// The JWKS keys, replaced whole when the file changes (`replaceJWKS`).
    private let publicKeys: PublicKeys?

    /// The current JWKS key collection; tokens in flight finish with the one they started with.
    final class PublicKeys: Sendable {
        private let current: Mutex<JWTKeyCollection>
        init(_ keys: JWTKeyCollection) { current = Mutex(keys) }
        var keys: JWTKeyCollection { current.withLock { $0 } }
        func replace(with keys: JWTKeyCollection) { current.withLock { $0 = keys } }
    }
    private let issuer: String?
    private let audience: String?

    public init(_ settings: Settings) async throws {
        guard settings.secret != nil || settings.jwks != nil else {
            throw SettingsError(
                variable: "CONCERT_USER_TOKEN_SECRET or CONCERT_USER_JWKS",
                problem: "must be set: the API verifies users' access tokens with them (scripts/services up writes a development secret to .run/env)"
            )
        }
        if let secret = settings.secret {
            guard secret.count >= Self.minimumSecretLength else {
                throw SettingsError(
                    variable: "CONCERT_USER_TOKEN_SECRET",
                    problem: "must be at least \(Self.minimumSecretLength) characters (it has \(secret.count))"
                )
            }
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            hmacKeys = keys
            hmacKey = PreparedHMAC(key: SymmetricKey(data: Data(secret.utf8)))
        } else {
            hmacKeys = nil
            hmacKey = nil
        }
        if let jwks = settings.jwks {
            publicKeys = PublicKeys(try await Self.keys(ofJWKS: jwks))
        } else {
            publicKeys = nil
        }
        issuer = settings.issuer
        audience = settings.audience
    }

    static func keys(ofJWKS jwks: String) async throws(SettingsError) -> JWTKeyCollection {
        let keys = JWTKeyCollection()
        do {
            try await keys.add(jwksJSON: jwks)
        } catch {
            throw SettingsError(variable: "CONCERT_USER_JWKS", problem: "is not a JWKS document of RS256 / ES256 public keys: \(error)")
        }
        return keys
    }

    /// True when the tokens are checked with a JWKS (whose keys `replaceJWKS` can rotate).
    public var usesJWKS: Bool { publicKeys != nil }

    /// Trusts exactly the keys of `jwks` from now on (the provider rotated its keys: new ones are
    /// accepted, removed ones no more). A document that does not parse changes nothing and throws.
    public func replaceJWKS(_ jwks: String) async throws(SettingsError) {
        guard let publicKeys else { throw SettingsError(variable: "CONCERT_USER_JWKS", problem: "was not set at start-up") }
        publicKeys.replace(with: try await Self.keys(ofJWKS: jwks))
    }

    /// The user the token speaks for: 401 `AUTH_INVALID` or `AUTH_EXPIRED` otherwise.
    ///
    /// An HS256 token of the plainest form (see `plainHS256Claims`) is checked here, without
    /// JWTKit's JSON decoding and actor hops — most of a token issue's cost in the API when it was
    /// measured; every other token is checked by JWTKit. The same claims checks follow either way.
    public func verify(_ token: String, now: Date = Date()) async throws(Problem) -> UserID {
        if let claims = plainHS256Claims(token) { return try accept(claims, now: now) }
        return try accept(try await claimsVerifiedByJWTKit(token), now: now)
    }

    /// How far the identity provider's clock may be from ours, for `exp` and `nbf` alike.
    public static let clockLeeway: TimeInterval = 30

    /// What the checks need of a token whose signature verified.
    struct VerifiedClaims: Equatable {
        var subject: String
        var expires: Date
        /// `nbf`: not valid before it.
        var notBefore: Date? = nil
        var issuer: String?
        var audience: [String]?
        /// It carries `seq` or `concertId`: a waiting-room token, never an access token.
        var waitingRoomToken: Bool
    }

    /// The claims checks, whoever verified the signature.
    func accept(_ claims: VerifiedClaims, now: Date) throws(Problem) -> UserID {
        guard !claims.waitingRoomToken else { throw .authInvalid("a waiting-room token is not an access token") }
        guard claims.expires.addingTimeInterval(Self.clockLeeway) > now else { throw .authExpired }
        if let notBefore = claims.notBefore, notBefore.addingTimeInterval(-Self.clockLeeway) > now {
            throw .authInvalid("not valid yet (nbf)")
        }
        if let issuer, claims.issuer != issuer { throw .authInvalid("wrong issuer") }
        if let audience, !(claims.audience?.contains(audience) ?? false) { throw .authInvalid("wrong audience") }
        guard let user = UserID(claims.subject) else { throw .authInvalid("sub is not a valid user id") }
        return user
    }

    /// Any token, checked by JWTKit with the key collection its header's `alg` names.
    func claimsVerifiedByJWTKit(_ token: String) async throws(Problem) -> VerifiedClaims {
        let keys: JWTKeyCollection
        let header = Self.header(of: token)
        // RFC 7515 §4.1.11: a header parameter listed in `crit` must be understood; this code implements none.
        guard header?["crit"] == nil else { throw .authInvalid("the header lists critical extensions (crit) this server does not implement") }
        switch header?["alg"] as? String {
        case "HS256"?:
            guard let hmacKeys else { throw .authInvalid("HS256 tokens are not accepted here") }
            keys = hmacKeys
        case "RS256"?, "ES256"?:
            guard let publicKeys else { throw .authInvalid("RS256 and ES256 tokens are not accepted here") }
            keys = publicKeys.keys
        default:
            throw .authInvalid("not a JWT signed with HS256, RS256 or ES256")
        }
        let claims: AccessTokenClaims
        do {
            claims = try await keys.verify(token, as: AccessTokenClaims.self)
        } catch {
            throw .authInvalid("the signature or the claims do not verify")
        }
        return VerifiedClaims(
            subject: claims.sub.value,
            expires: claims.exp.value,
            notBefore: claims.nbf?.value,
            issuer: claims.iss?.value,
            audience: claims.aud?.value,
            waitingRoomToken: claims.seq != nil || claims.concertId != nil
        )
    }

    /// The claims of an HS256 token whose header has only `alg` and `typ`, whose claims are a flat
    /// object (`FlatJSONObject`) of the types `AccessTokenClaims` decodes, and whose HMAC matches
    /// the secret. `nil` for anything else — JWTKit then decides, so the answer is always the one
    /// JWTKit would give; this only saves its cost for the common form.
    func plainHS256Claims(_ token: String) -> VerifiedClaims? {
        guard let hmacKey else { return nil }
        let utf8 = Substring(token).utf8
        guard let firstDot = utf8.firstIndex(of: UInt8(ascii: ".")), let lastDot = utf8.lastIndex(of: UInt8(ascii: ".")), firstDot < lastDot,
            let headerBytes = Base64URL.decode(utf8[..<firstDot]), let header = FlatJSONObject(headerBytes),
            header["alg"] == .string("HS256"), header.members.keys.allSatisfy({ $0 == "alg" || $0 == "typ" }),
            header["typ"].map({ if case .string = $0 { true } else { false } }) ?? true,
            let signature = Base64URL.decode(utf8[utf8.index(after: lastDot)...]),
            hmacKey.isValid(signature, for: Array(utf8[..<lastDot])),
            let claimBytes = Base64URL.decode(utf8[utf8.index(after: firstDot)..<lastDot]), let claims = FlatJSONObject(claimBytes),
            case .string(let subject)? = claims["sub"], case .integer(let expires)? = claims["exp"]
        else { return nil }
        var verified = VerifiedClaims(subject: subject, expires: Date(timeIntervalSince1970: TimeInterval(expires)), waitingRoomToken: false)
        switch claims["iat"] {
        case nil, .integer?: break
        default: return nil
        }
        switch claims["nbf"] {
        case nil: break
        case .integer(let notBefore)?: verified.notBefore = Date(timeIntervalSince1970: TimeInterval(notBefore))
        default: return nil
        }
        switch claims["iss"] {
        case nil: break
        case .string(let issuer)?: verified.issuer = issuer
        default: return nil
        }
        switch claims["aud"] {
        case nil: break
        case .string(let audience)?: verified.audience = [audience]
        case .strings(let audience)?: verified.audience = audience
        default: return nil
        }
        for name in ["seq", "concertId"] {
            switch claims[name] {
            case nil: break
            case .integer?: verified.waitingRoomToken = true
            default: return nil
            }
        }
        return verified
    }

    /// The user of the request's `Authorization: Bearer` access token: 401 `AUTH_MISSING`,
    /// `AUTH_INVALID` or `AUTH_EXPIRED` otherwise.
    public func user(of request: Request) async throws(Problem) -> UserID {
        guard let header = request.headers[.authorization] else { throw .authMissing }
        guard let token = BearerCredentials.parse(header), !token.isEmpty else {
            throw .authInvalid("the Authorization header is not a Bearer token")
        }
        return try await verify(token)
    }

    /// The request's user, who must be `user`: 403 `NOT_YOUR_ACCOUNT` for another one.
    public func require(_ user: UserID, in request: Request) async throws(Problem) {
        guard try await self.user(of: request) == user else { throw .notYourAccount }
    }

    /// An HS256 access token for `user`, valid for `lifetime` seconds (`concert users token`, the
    /// demo, tests, the benchmark): `sub`, `iat`, `exp` in whole seconds, and `iss` / `aud` when given.
    public static func sign(
        user: UserID,
        secret: String,
        lifetime: TimeInterval,
        issuer: String? = nil,
        audience: String? = nil,
        now: Date = Date()
    ) -> String {
        let issued = Int64(now.timeIntervalSince1970.rounded(.down))
        var claims = JSONText(capacity: 160)
        if let audience { claims.add("aud", audience) }
        claims.add("exp", issued + Int64(lifetime.rounded(.down)))
        claims.add("iat", issued)
        if let issuer { claims.add("iss", issuer) }
        claims.add("sub", user.rawValue)
        let signingInput = QueueTokens.header + "." + Base64URL.encode(claims.finish().utf8)
        let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// The header's `alg`, read without trusting anything else in the token.
    static func algorithm(of token: String) -> String? {
        header(of: token)?["alg"] as? String
    }

    /// The token's header as JSON.
    static func header(of token: String) -> [String: Any]? {
        guard let header = token.split(separator: ".", maxSplits: 1).first else { return nil }
        var base64 = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object
    }
}

/// The claims of an access token. `exp` is required; `seq` and `concertId` are decoded only to
/// refuse a waiting-room token presented as an access token.
struct AccessTokenClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim?
    var nbf: NotBeforeClaim?
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    var seq: Int64?
    var concertId: Int64?

    init(sub: SubjectClaim, exp: ExpirationClaim, iat: IssuedAtClaim?, iss: IssuerClaim?, aud: AudienceClaim?) {
        self.sub = sub
        self.exp = exp
        self.iat = iat
        self.iss = iss
        self.aud = aud
    }

    /// Expiry is checked by `AccessTokens.verify` (to answer `AUTH_EXPIRED` rather than `AUTH_INVALID`).
    func verify(using algorithm: some JWTAlgorithm) throws {}
}

extension Problem {
    /// 401 `AUTH_MISSING` with `WWW-Authenticate: Bearer` (RFC 6750: no error code when no credential was sent).
    static let authMissing = Problem(
        status: .unauthorized,
        code: "AUTH_MISSING",
        title: "Unauthorized",
        detail: "This request needs the user's access token: Authorization: Bearer <access token>.",
        headers: [.wwwAuthenticate: #"Bearer realm="concert""#]
    )

    /// 401 `AUTH_INVALID`: malformed, bad signature, wrong algorithm, issuer or audience.
    static func authInvalid(_ why: String) -> Problem {
        Problem(
            status: .unauthorized,
            code: "AUTH_INVALID",
            title: "Unauthorized",
            detail: "The access token is not valid: \(why).",
            headers: [.wwwAuthenticate: #"Bearer realm="concert", error="invalid_token", error_description="\#(why)""#]
        )
    }

    /// 401 `AUTH_EXPIRED`.
    static let authExpired = Problem(
        status: .unauthorized,
        code: "AUTH_EXPIRED",
        title: "Unauthorized",
        detail: "The access token has expired; get a new one from the identity provider.",
        headers: [.wwwAuthenticate: #"Bearer realm="concert", error="invalid_token", error_description="the access token expired""#]
    )

    /// 403 `NOT_YOUR_ACCOUNT`: a valid access token of another user.
    static let notYourAccount = Problem(
        status: .forbidden,
        code: "NOT_YOUR_ACCOUNT",
        title: "Forbidden",
        detail: "The access token belongs to another user."
    )
}
