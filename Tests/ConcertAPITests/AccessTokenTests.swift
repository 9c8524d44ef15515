import ConcertDomain
import Crypto
import Foundation
import HTTPTypes
import JWTKit
import TestSupport
import Testing

@testable import ConcertAPI

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

    /// The provider rotates its keys: the new key is trusted, the removed one no more; a document
    /// that does not parse keeps the last good keys.
    @Test func replacingTheJWKSTrustsExactlyItsKeys() async throws {
        let old = TestIdentityProvider(kid: "old")
        let new = TestIdentityProvider(kid: "new")
        let tokens = try await AccessTokens(.init(jwks: try old.jwks()))
        #expect(try await tokens.verify(try await old.token(subject: "alice")) == alice)
        #expect(await code { _ = try await tokens.verify(try await new.token(subject: "alice")) } == "AUTH_INVALID")

        try await tokens.replaceJWKS(try new.jwks())
        #expect(try await tokens.verify(try await new.token(subject: "alice")) == alice)
        #expect(await code { _ = try await tokens.verify(try await old.token(subject: "alice")) } == "AUTH_INVALID")

        await #expect(throws: AccessTokens.SettingsError.self) { try await tokens.replaceJWKS("{not json") }
        #expect(try await tokens.verify(try await new.token(subject: "alice")) == alice)
    }

    /// An HS256 token signed by hand: header and claims exactly as given.
    static func signed(header: String, claims: String) -> String {
        func part(_ json: String) -> String { Base64URL.encode(json.utf8) }
        let input = part(header) + "." + part(claims)
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return input + "." + Base64URL.encode(Array(mac))
    }

    @Test func notBeforeIsEnforcedWithTheLeewayOfExpiryOnBothPaths() async throws {
        let tokens = try await AccessTokens(.init(secret: Self.secret))
        let now = Int(Date().timeIntervalSince1970)
        let exp = now + 600
        for header in [#"{"alg":"HS256","typ":"JWT"}"#, #"{"alg":"HS256","typ":"JWT","kid":"k1"}"#] {
            // The second header is not the plainest form: JWTKit checks it.
            let later = Self.signed(header: header, claims: #"{"sub":"alice","exp":\#(exp),"nbf":\#(now + 300)}"#)
            #expect(await code { _ = try await tokens.verify(later) } == "AUTH_INVALID", "\(header)")
            let withinLeeway = Self.signed(header: header, claims: #"{"sub":"alice","exp":\#(exp),"nbf":\#(now + 10)}"#)
            #expect(try await tokens.verify(withinLeeway) == alice, "\(header)")
            let past = Self.signed(header: header, claims: #"{"sub":"alice","exp":\#(exp),"nbf":\#(now - 60)}"#)
            #expect(try await tokens.verify(past) == alice, "\(header)")
        }
        // Expiry has the same leeway: just past `exp` still passes, well past it does not.
        let justExpired = Self.signed(header: #"{"alg":"HS256","typ":"JWT"}"#, claims: #"{"sub":"alice","exp":\#(now - 10)}"#)
        #expect(try await tokens.verify(justExpired) == alice)
        let expired = Self.signed(header: #"{"alg":"HS256","typ":"JWT"}"#, claims: #"{"sub":"alice","exp":\#(now - 60)}"#)
        #expect(await code { _ = try await tokens.verify(expired) } == "AUTH_EXPIRED")
    }

    @Test func aCriticalHeaderThisServerDoesNotImplementIsRefused() async throws {
        let tokens = try await AccessTokens(.init(secret: Self.secret))
        let exp = Int(Date().timeIntervalSince1970) + 600
        let critical = Self.signed(
            header: #"{"alg":"HS256","typ":"JWT","crit":["exp-policy"],"exp-policy":"strict"}"#,
            claims: #"{"sub":"alice","exp":\#(exp)}"#
        )
        #expect(await code { _ = try await tokens.verify(critical) } == "AUTH_INVALID")
        let emptyCrit = Self.signed(header: #"{"alg":"HS256","crit":[]}"#, claims: #"{"sub":"alice","exp":\#(exp)}"#)
        #expect(await code { _ = try await tokens.verify(emptyCrit) } == "AUTH_INVALID")
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

    /// An HS256 token of any header and claims text, signed with `secret`.
    static func signed(header: String = #"{"alg":"HS256","typ":"JWT"}"#, claims: String, secret: String = secret) -> String {
        let input = Base64URL.encode(header.utf8) + "." + Base64URL.encode(claims.utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return input + "." + Base64URL.encode(mac)
    }

    /// Plain HS256 tokens are checked without JWTKit, and every token gets the answer JWTKit gives.
    @Test func plainTokensSkipJWTKitAndEveryTokenIsAnsweredAsJWTKitWould() async throws {
        let tokens = try await AccessTokens(.init(secret: Self.secret, issuer: "https://id.example", audience: "concert-api"))
        let exp = Int(Date().timeIntervalSince1970) + 600
        let past = exp - 1200
        let plain = [
            AccessTokens.sign(user: alice, secret: Self.secret, lifetime: 60, issuer: "https://id.example", audience: "concert-api"),
            Self.signed(claims: #"{"sub":"alice","exp":\#(exp),"iss":"https://id.example","aud":"concert-api"}"#),
            Self.signed(
                claims:
                    #" { "aud" : ["web", "concert-api"] , "exp" : \#(exp), "iss":"https://id.example", "sub":"alice", "scope":"buy read", "email_verified":true, "nonce":null } "#
            ),
            Self.signed(
                header: #"{"typ":"JWT","alg":"HS256"}"#,
                claims: #"{"sub":"alice","exp":\#(exp),"iss":"https://id.example","aud":["concert-api"]}"#
            ),
            Self.signed(header: #"{"alg":"HS256"}"#, claims: #"{"sub":"alice","exp":\#(past),"iss":"https://id.example","aud":"concert-api"}"#),
            Self.signed(claims: #"{"sub":"alice","exp":\#(exp),"iss":"https://evil.example","aud":"concert-api"}"#),
            Self.signed(claims: #"{"sub":"alice","exp":\#(exp),"iss":"https://id.example","aud":[]}"#),
            Self.signed(claims: #"{"sub":"alice","exp":\#(exp),"iss":"https://id.example","aud":"concert-api","seq":7,"concertId":1}"#),
            Self.signed(claims: #"{"sub":"not a user id!","exp":\#(exp),"iss":"https://id.example","aud":"concert-api"}"#),
            Self.signed(claims: #"{"sub":"älice","exp":\#(exp),"iss":"https://id.example","aud":"concert-api","iat":\#(exp - 600)}"#),
        ]
        let others = [
            Self.signed(header: #"{"alg":"HS256","kid":"k1"}"#, claims: #"{"sub":"alice","exp":\#(exp)}"#),
            Self.signed(claims: #"{"sub":"al\u0069ce","exp":\#(exp),"iss":"https://id.example","aud":"concert-api"}"#),
            Self.signed(claims: #"{"sub":"alice","exp":\#(exp).5,"iss":"https://id.example","aud":"concert-api"}"#),
            Self.signed(claims: #"{"sub":"alice","exp":"\#(exp)","iss":"https://id.example","aud":"concert-api"}"#),
            Self.signed(claims: #"{"sub":"alice","exp":\#(exp),"iss":"https://id.example","aud":"concert-api","realm":{"roles":["x"]}}"#),
            Self.signed(claims: #"{"sub":"alice","exp":\#(exp),"iss":"https://id.example","aud":"concert-api","seq":"7"}"#),
            Self.signed(claims: #"{"sub":"alice","sub":"bob","exp":\#(exp),"iss":"https://id.example","aud":"concert-api"}"#),
            Self.signed(claims: #"{"sub":"alice","exp":\#(exp),"iss":"https://id.example","aud":"concert-api","iat":"now"}"#),
            Self.signed(
                claims: #"{"sub":"alice","exp":\#(exp),"iss":"https://id.example","aud":"concert-api"}"#,
                secret: "another-secret-of-thirty-two-chars!!"
            ),
            Self.signed(claims: #"{"sub":"alice","exp":\#(exp)"#),
        ]
        for token in plain {
            let fast = try #require(tokens.plainHS256Claims(token), "\(token)")
            #expect(fast == (try await tokens.claimsVerifiedByJWTKit(token)), "\(token)")
        }
        for token in others { #expect(tokens.plainHS256Claims(token) == nil, "\(token)") }
        for token in plain + others {
            let answer = await code { _ = try await tokens.verify(token) }
            let jwtKitsAnswer = await code { _ = try tokens.accept(try await tokens.claimsVerifiedByJWTKit(token), now: Date()) }
            #expect(answer == jwtKitsAnswer, "\(token)")
        }
        #expect(try await tokens.verify(plain[2]) == alice)
        #expect(await code { _ = try await tokens.verify(plain[4]) } == "AUTH_EXPIRED")
        #expect(await code { _ = try await tokens.verify(plain[7]) } == "AUTH_INVALID")
        #expect(await code { _ = try await tokens.verify(others[1]) } == nil)
    }

    /// Whatever the flat reader reads, a full JSON parser reads the same; the rest it declines.
    @Test func flatJSONReadsOnlyWhatJSONSerializationReadsTheSame() throws {
        let read = [
            #"{}"#, #" { } "#, #"{"a":"b"}"#, #"{"a":1,"b":-20,"c":0}"#, #"{"a":["x","y"],"b":[]}"#,
            #"{"t":true,"f":false,"n":null}"#, #"{"s":"ünï €"}"#, "{\n\t\"a\" :\r \"b\" }", #"{"n":123456789012345678}"#,
        ]
        let declined = [
            #"{"a":"b\"c"}"#, #"{"a":1.5}"#, #"{"a":1e3}"#, #"{"a":01}"#, #"{"a":{"b":1}}"#, #"{"a":[1]}"#, #"{"a":"b","a":"c"}"#,
            #"{"a":1234567890123456789}"#, #"{"a":"b",}"#, #"{"a":"b"} x"#, #"["a"]"#, #"{"a":tru}"#, #"{"a":-}"#, #"{a:1}"#, "",
            "{\"a\":\"\u{01}\"}",
        ]
        for text in read {
            let flat = try #require(FlatJSONObject(Array(text.utf8)), "\(text)")
            let full = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(Set(flat.members.keys) == Set(full.keys), "\(text)")
            for (name, value) in flat.members {
                switch value {
                case .string(let string): #expect(full[name] as? String == string, "\(text)")
                case .integer(let integer): #expect((full[name] as? NSNumber)?.int64Value == integer, "\(text)")
                case .strings(let strings): #expect(full[name] as? [String] == strings, "\(text)")
                case .boolean(let boolean): #expect(full[name] as? Bool == boolean, "\(text)")
                case .null: #expect(full[name] is NSNull, "\(text)")
                }
            }
        }
        for text in declined { #expect(FlatJSONObject(Array(text.utf8)) == nil, "\(text)") }
        #expect(FlatJSONObject(Array(#"{"a":"b"}"#.utf8).dropLast(0) + [0xFF]) == nil)
        #expect(FlatJSONObject(Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)) == nil)
    }
}
