import Crypto
public import Foundation
import Hummingbird

/// Sessions of the operator console: signed, expiring cookies made when an operator signs in with
/// the admin token, and the CSRF token every form posts back.
///
/// The cookie holds `v2.<expires>.<idle>.<nonce>.<mac>`: a random nonce (the session's id), the
/// session's end (Unix seconds, `lifetime` after sign-in), the end of its idle time (`idleLifetime`
/// after its last request; every request renews it, never past the end), and an HMAC-SHA256 over
/// them with a key derived from the admin token — so changing the admin token signs every session
/// out. Signing out records the nonce in the database (`console_session_revocations`), so a copy
/// of the cookie is refused by every API process too. The CSRF token is an HMAC of the nonce under
/// another derived key: a page of this session can post it, another site cannot read it (the
/// cookie is `HttpOnly; SameSite=Strict` besides).
public struct ConsoleSessions: Sendable {
    public static let cookieName = "concert_console"
    /// How long a sign-in lasts at most.
    public let lifetime: TimeInterval
    /// How long a session lasts without a request.
    public let idleLifetime: TimeInterval
    private let sessionKey: SymmetricKey
    private let csrfKey: SymmetricKey
    private let adminTokenDigest: SHA256.Digest

    public init(adminToken: String, lifetime: TimeInterval = 8 * 3600, idleLifetime: TimeInterval = 30 * 60) {
        let root = SymmetricKey(data: Data(adminToken.utf8))
        sessionKey = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("concert console sessions v1".utf8), using: root))
        csrfKey = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("concert console csrf v1".utf8), using: root))
        adminTokenDigest = SHA256.hash(data: Data(adminToken.utf8))
        self.lifetime = lifetime
        self.idleLifetime = min(idleLifetime, lifetime)
    }

    /// A signed-in session.
    public struct Session: Sendable, Equatable {
        public let nonce: String
        public let expires: Date
        /// When it ends unless a request comes first.
        public let idleUntil: Date
    }

    /// Whether `token` is the admin token (compared through digests, in constant time).
    public func isAdminToken(_ token: String) -> Bool {
        SHA256.hash(data: Data(token.utf8)) == adminTokenDigest
    }

    /// A new session and its cookie value.
    public func open(now: Date = Date()) -> (session: Session, cookie: String) {
        let nonce = Base64URL.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
        let expires = Int64(now.addingTimeInterval(lifetime).timeIntervalSince1970)
        return cookie(nonce: nonce, expires: expires, now: now)
    }

    /// The session with its idle time renewed from `now` (never past its end), and its cookie.
    public func renewed(_ session: Session, now: Date = Date()) -> (session: Session, cookie: String) {
        cookie(nonce: session.nonce, expires: Int64(session.expires.timeIntervalSince1970), now: now)
    }

    private func cookie(nonce: String, expires: Int64, now: Date) -> (session: Session, cookie: String) {
        let idle = min(expires, Int64(now.addingTimeInterval(idleLifetime).timeIntervalSince1970))
        let payload = "v2.\(expires).\(idle).\(nonce)"
        let mac = Base64URL.encode(HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: sessionKey))
        let session = Session(
            nonce: nonce,
            expires: Date(timeIntervalSince1970: TimeInterval(expires)),
            idleUntil: Date(timeIntervalSince1970: TimeInterval(idle))
        )
        return (session, "\(payload).\(mac)")
    }

    /// The session a cookie value stands for, if its signature holds and neither its end nor
    /// its idle time has passed (a revoked one is the database's to refuse).
    public func session(fromCookie value: String, now: Date = Date()) -> Session? {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "v2", let expires = Int64(parts[1]), let idle = Int64(parts[2]), let mac = Base64URL.decode(parts[4].utf8)
        else { return nil }
        let payload = "v2.\(parts[1]).\(parts[2]).\(parts[3])"
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(payload.utf8), using: sessionKey) else { return nil }
        let expiry = Date(timeIntervalSince1970: TimeInterval(expires))
        let idleUntil = Date(timeIntervalSince1970: TimeInterval(idle))
        guard expiry > now, idleUntil > now else { return nil }
        return Session(nonce: String(parts[3]), expires: expiry, idleUntil: idleUntil)
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

// The session's cookie on the wire, through Hummingbird's cookie types.
extension ConsoleSessions {
    /// The session of a request's cookie, if it holds one (see `session(fromCookie:now:)`).
    func session(of request: Request) -> Session? {
        request.cookies[Self.cookieName].flatMap { session(fromCookie: $0.value) }
    }

    /// The session cookie, which the browser keeps until the session's end.
    func setCookie(_ value: String) -> Cookie {
        Cookie(name: Self.cookieName, value: value, maxAge: Int(lifetime), path: "/admin/console", httpOnly: true, sameSite: .strict)
    }

    /// The cookie that makes the browser forget the session.
    var clearingCookie: Cookie {
        Cookie(name: Self.cookieName, value: "", maxAge: 0, path: "/admin/console", httpOnly: true, sameSite: .strict)
    }
}
