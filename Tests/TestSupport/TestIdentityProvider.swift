public import Foundation
public import JWTKit

/// An identity provider's ES256 signing key, as tests need it: the JWKS document that publishes
/// its public key, and access tokens it signs.
public struct TestIdentityProvider: Sendable {
    public let key: ES256PrivateKey
    public let kid: String

    public init(kid: String) {
        key = ES256PrivateKey()
        self.kid = kid
    }

    /// `{"keys":[…]}` with this key's public half.
    public func jwks() throws -> String {
        guard let parameters = key.publicKey.parameters else { throw JWTError.generic(identifier: "jwks", reason: "no EC parameters") }
        return #"{"keys":[{"kty":"EC","crv":"P-256","x":"\#(parameters.x)","y":"\#(parameters.y)","kid":"\#(kid)","alg":"ES256","use":"sig"}]}"#
    }

    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    /// An access token for `subject`, valid for `lifetime`.
    public func token(subject: String, lifetime: TimeInterval = 300) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key, kid: JWKIdentifier(string: kid))
        return try await keys.sign(
            Claims(sub: .init(value: subject), exp: .init(value: Date().addingTimeInterval(lifetime))),
            kid: JWKIdentifier(string: kid)
        )
    }
}
