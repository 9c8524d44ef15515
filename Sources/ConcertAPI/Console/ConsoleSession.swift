import Crypto
public import Foundation

/// Sessions of the operator console: signed, expiring cookies made when an operator signs in with
/// the admin token, and the CSRF token every form posts back.
///
/// The cookie holds `v1.<expires>.<nonce>.<mac>`: a random nonce, the expiry (Unix seconds), and
/// an HMAC-SHA256 over both with a key derived from the admin token — so changing the admin token
/// signs every session out, and nothing is stored server-side. The CSRF token is an HMAC of the
/// nonce under another derived key: a page of this session can post it, another site cannot read
/// it (the cookie is `HttpOnly; SameSite=Strict` besides).
public struct ConsoleSessions: Sendable {
    public static let cookieName = "concert_console"
    /// How long a sign-in lasts.
    public let lifetime: TimeInterval
    private let sessionKey: SymmetricKey
    private let csrfKey: SymmetricKey
    private let adminTokenDigest: SHA256.Digest

    public init(adminToken: String, lifetime: TimeInterval = 8 * 3600) {
        let root = SymmetricKey(data: Data(adminToken.utf8))
        sessionKey = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("concert console sessions v1".utf8), using: root))
        csrfKey = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("concert console csrf v1".utf8), using: root))
        adminTokenDigest = SHA256.hash(data: Data(adminToken.utf8))
        self.lifetime = lifetime
    }

    /// A signed-in session.
    public struct Session: Sendable, Equatable {
        public let nonce: String
        public let expires: Date
    }

    /// Whether `token` is the admin token (compared through digests, in constant time).
    public func isAdminToken(_ token: String) -> Bool {
        SHA256.hash(data: Data(token.utf8)) == adminTokenDigest
    }

    /// A new session and its cookie value.
    public func open(now: Date = Date()) -> (session: Session, cookie: String) {
        let nonce = Base64URL.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
        let expires = Int64(now.addingTimeInterval(lifetime).timeIntervalSince1970)
        let payload = "v1.\(expires).\(nonce)"
        let mac = Base64URL.encode(HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: sessionKey))
        return (Session(nonce: nonce, expires: Date(timeIntervalSince1970: TimeInterval(expires))), "\(payload).\(mac)")
    }

    /// The session a cookie value stands for, if its signature holds and it has not expired.
    public func session(fromCookie value: String, now: Date = Date()) -> Session? {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v1", let expires = Int64(parts[1]), let mac = Base64URL.decode(parts[3].utf8) else { return nil }
        let payload = "v1.\(parts[1]).\(parts[2])"
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(payload.utf8), using: sessionKey) else { return nil }
        let expiry = Date(timeIntervalSince1970: TimeInterval(expires))
        guard expiry > now else { return nil }
        return Session(nonce: String(parts[2]), expires: expiry)
    }

    /// The CSRF token of a session's forms.
    public func csrfToken(for session: Session) -> String {
        Base64URL.encode(HMAC<SHA256>.authenticationCode(for: Data(session.nonce.utf8), using: csrfKey))
    }

    /// Whether a posted CSRF token belongs to the session (constant time).
    public func isValidCSRFToken(_ token: String, for session: Session) -> Bool {
        guard let mac = Base64URL.decode(Substring(token).utf8) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(session.nonce.utf8), using: csrfKey)
    }
}
