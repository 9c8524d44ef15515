public import ConcertAPI
public import ConcertDomain
public import Foundation

extension ConcertConfiguration {
    /// The access-token settings of this configuration, the JWKS file read: an error names the
    /// variable when the file cannot be read. Neither a secret nor a JWKS is an error for `api`
    /// and `serve` (`AccessTokens` says so).
    public func accessTokenSettings() throws -> AccessTokens.Settings {
        var jwks: String?
        if let path = userJWKSPath {
            do {
                jwks = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigurationError(variable: "CONCERT_USER_JWKS", problem: "cannot read \(path): \(error.localizedDescription)")
            }
        }
        return AccessTokens.Settings(secret: userTokenSecret, jwks: jwks, issuer: userTokenIssuer, audience: userTokenAudience)
    }

    /// An HS256 access token for `user` signed with `CONCERT_USER_TOKEN_SECRET` (`concert users token`).
    public func signAccessToken(for user: UserID, lifetime: TimeInterval) async throws -> String {
        guard let secret = userTokenSecret else {
            throw ConfigurationError(
                variable: "CONCERT_USER_TOKEN_SECRET",
                problem: "is not set (scripts/services up writes a development secret to .run/env)"
            )
        }
        return AccessTokens.sign(user: user, secret: secret, lifetime: lifetime, issuer: userTokenIssuer, audience: userTokenAudience)
    }
}
