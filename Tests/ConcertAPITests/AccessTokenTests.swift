@testable import ConcertAPI
import ConcertDomain
import Foundation
import HTTPTypes
import JWTKit
import Testing

/// Access tokens of the identity provider, verified without any server.
struct AccessTokenTests {
    static let secret = "access-token-tests-secret-0123456789"
    let alice = UserID("alice")!

    func code(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let problem as Problem {
            return problem.code
        } catch {
            return "\(error)"
        }
    }

    @Test func aTokenSignedWithTheSecretSpeaksForItsUser() async throws {
        let tokens = try await AccessTokens(.init(secret: Self.secret))
        let token = AccessTokens.sign(user: alice, secret: Self.secret, lifetime: 60)
        #expect(try await tokens.verify(token) == alice)
    }

    @Test func expiredWrongSecretAndGarbageAreRefused() async throws {
        let tokens = try await AccessTokens(.init(secret: Self.secret))
        let expired = AccessTokens.sign(user: alice, secret: Self.secret, lifetime: 60, now: Date().addingTimeInterval(-120))
        #expect(await code { _ = try await tokens.verify(expired) } == "AUTH_EXPIRED")
        let forged = AccessTokens.sign(user: alice, secret: "another-secret-of-thirty-two-chars!!", lifetime: 60)
        #expect(await code { _ = try await tokens.verify(forged) } == "AUTH_INVALID")
        for garbage in ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", String(repeating: "x", count: 5000)] {
            #expect(await code { _ = try await tokens.verify(garbage) } == "AUTH_INVALID", "\(garbage.prefix(20))")
        }
    }

    @Test func algNoneIsRefused() async throws {
        let tokens = try await AccessTokens(.init(secret: Self.secret))
        func part(_ json: String) -> String { Base64URL.encode(json.utf8) }
        let exp = Int(Date().timeIntervalSince1970) + 600
        let unsigned = part(#"{"alg":"none","typ":"JWT"}"#) + "." + part(#"{"sub":"alice","exp":\#(exp)}"#) + "."
        #expect(await code { _ = try await tokens.verify(unsigned) } == "AUTH_INVALID")
    }

    @Test func issuerAndAudienceAreCheckedWhenConfigured() async throws {
        let tokens = try await AccessTokens(.init(secret: Self.secret, issuer: "https://id.example", audience: "concert-api"))
        let right = AccessTokens.sign(user: alice, secret: Self.secret, lifetime: 60, issuer: "https://id.example", audience: "concert-api")
        #expect(try await tokens.verify(right) == alice)
        let wrongIssuer = AccessTokens.sign(user: alice, secret: Self.secret, lifetime: 60, issuer: "https://evil.example", audience: "concert-api")
        #expect(await code { _ = try await tokens.verify(wrongIssuer) } == "AUTH_INVALID")
        let wrongAudience = AccessTokens.sign(user: alice, secret: Self.secret, lifetime: 60, issuer: "https://id.example", audience: "other")
        #expect(await code { _ = try await tokens.verify(wrongAudience) } == "AUTH_INVALID")
        let neither = AccessTokens.sign(user: alice, secret: Self.secret, lifetime: 60)
        #expect(await code { _ = try await tokens.verify(neither) } == "AUTH_INVALID")
    }

    @Test func queueTokensAndAccessTokensAreNeverTakenForEachOther() async throws {
        // Even with one secret for both (a misconfiguration), neither passes for the other.
        let access = try await AccessTokens(.init(secret: Self.secret))
        let queue = await QueueTokens(secret: Self.secret)
        let queueToken = queue.sign(user: alice, concert: ConcertID(1)!, seq: 7, issuedAt: Date())
        #expect(await code { _ = try await access.verify(queueToken) } == "AUTH_INVALID")
        let accessToken = AccessTokens.sign(user: alice, secret: Self.secret, lifetime: 60)
        #expect(await code { _ = try await queue.verify(accessToken) } == "TOKEN_INVALID")
    }

    /// An ES256 key published in a JWKS document, and the HS/RS confusion attack against it.
    @Test func jwksKeysVerifyTheirTokensAndThePublicKeyIsNoHMACSecret() async throws {
        let key = ES256PrivateKey()
        let parameters = try #require(key.publicKey.parameters)
        let jwk = #"{"kty":"EC","crv":"P-256","x":"\#(parameters.x)","y":"\#(parameters.y)","kid":"idp-1","alg":"ES256","use":"sig"}"#
        let jwks = #"{"keys":[\#(jwk)]}"#
        let tokens = try await AccessTokens(.init(secret: Self.secret, jwks: jwks))

        let provider = JWTKeyCollection()
        await provider.add(ecdsa: key, kid: "idp-1")
        let claims = AccessTokenClaims(
            sub: .init(value: "alice"),
            exp: .init(value: Date().addingTimeInterval(60)),
            iat: nil,
            iss: nil,
            aud: nil
        )
        let signed = try await provider.sign(claims, kid: "idp-1")
        #expect(try await tokens.verify(signed) == alice)

        // The attacker signs HS256 with the public key (as the JWKS text, or its coordinates) as the secret.
        for publicSecret in [jwks, jwk, parameters.x + parameters.y] {
            let forged = AccessTokens.sign(user: alice, secret: publicSecret, lifetime: 60)
            #expect(await code { _ = try await tokens.verify(forged) } == "AUTH_INVALID")
        }
        // With only the JWKS configured, no HS256 token is accepted at all.
        let jwksOnly = try await AccessTokens(.init(jwks: jwks))
        let hs256 = AccessTokens.sign(user: alice, secret: Self.secret, lifetime: 60)
        #expect(await code { _ = try await jwksOnly.verify(hs256) } == "AUTH_INVALID")
    }

    @Test func settingsNameWhatIsWrong() async throws {
        await #expect(throws: AccessTokens.SettingsError.self) { _ = try await AccessTokens(.init()) }
        await #expect(throws: AccessTokens.SettingsError.self) { _ = try await AccessTokens(.init(secret: "short")) }
        await #expect(throws: AccessTokens.SettingsError.self) { _ = try await AccessTokens(.init(jwks: "{not json")) }
    }

    @Test func refusalsCarryWWWAuthenticate() {
        #expect(Problem.authMissing.headers[.wwwAuthenticate] == #"Bearer realm="concert""#)
        #expect(Problem.authInvalid("x").headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)
        #expect(Problem.authExpired.status == .unauthorized)
        #expect(Problem.notYourAccount.status == .forbidden)
    }
}
