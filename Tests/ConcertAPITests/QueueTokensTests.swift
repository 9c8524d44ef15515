import ConcertDomain
import Crypto
import Foundation
import JWTKit
import Testing

@testable import ConcertAPI

/// Queue tokens are signed by hand and verified by hand when in that form, by JWTKit otherwise: all must agree.
@Suite struct QueueTokensTests {
    @Test func aSignedTokenVerifiesWithItsClaimsAndSigningIsDeterministic() async throws {
        let tokens = await QueueTokens(secret: "queue-token-tests-secret-0123456789ab")
        let issued = Date()
        let token = tokens.sign(user: UserID("alice_1")!, concert: ConcertID(7)!, seq: 42, issuedAt: issued)
        #expect(token == tokens.sign(user: UserID("alice_1")!, concert: ConcertID(7)!, seq: 42, issuedAt: issued))
        let verified = try await tokens.verify(token)
        #expect(verified == VerifiedQueueToken(userID: UserID("alice_1")!, concertID: ConcertID(7)!, seq: 42))
        // Verified once, remembered: the same answer again.
        #expect(try await tokens.verify(token) == verified)
    }

    @Test func anotherSecretATamperedTokenAndAlgNoneAreRefused() async throws {
        let tokens = await QueueTokens(secret: "queue-token-tests-secret-0123456789ab")
        let other = await QueueTokens(secret: "another-queue-token-secret-0123456789")
        let token = other.sign(user: UserID("alice")!, concert: ConcertID(1)!, seq: 1, issuedAt: Date())
        await #expect(throws: Problem.tokenInvalid) { try await tokens.verify(token) }
        let parts = token.split(separator: ".")
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
        await #expect(throws: Problem.tokenInvalid) { try await tokens.verify(none) }
        let tampered = parts[0] + "." + parts[1].dropLast() + "A." + parts[2]
        await #expect(throws: Problem.tokenInvalid) { try await tokens.verify(String(tampered)) }
        let expired = tokens.sign(user: UserID("alice")!, concert: ConcertID(1)!, seq: 1, issuedAt: Date(timeIntervalSince1970: 1_000_000))
        await #expect(throws: Problem.tokenExpired) { try await tokens.verify(expired) }
    }

    @Test func tokensInTheSignedFormAreReadWithoutJWTKitAndOthersStillVerify() async throws {
        let secret = "queue-token-tests-secret-0123456789ab"
        let tokens = await QueueTokens(secret: secret)
        let issued = Date(timeIntervalSince1970: 1_900_000_000)
        let token = tokens.sign(user: UserID("bob-2")!, concert: ConcertID(9_000_000_000)!, seq: 123_456_789, issuedAt: issued)
        let signed = try #require(tokens.signedHere(token))
        #expect(signed.token == VerifiedQueueToken(userID: UserID("bob-2")!, concertID: ConcertID(9_000_000_000)!, seq: 123_456_789))
        #expect(signed.expires == issued.addingTimeInterval(QueueTokens.signatureLifetime))

        // The same claims signed by JWTKit with the same secret, in another member order: not the
        // hand-written form, so JWTKit checks it, and it is just as valid.
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let claims = QueueTokenClaims(
            sub: .init(value: "carol"),
            concertId: 3,
            seq: 5,
            iat: .init(value: Date()),
            exp: .init(value: Date().addingTimeInterval(600))
        )
        let standard = try await keys.sign(claims)
        #expect(tokens.signedHere(standard) == nil)
        #expect(try await tokens.verify(standard) == VerifiedQueueToken(userID: UserID("carol")!, concertID: ConcertID(3)!, seq: 5))

        // A valid signature over claims outside the form (a zero seq) is refused either way.
        let zeroSeq = try await keys.sign(
            QueueTokenClaims(
                sub: .init(value: "dave"),
                concertId: 3,
                seq: 0,
                iat: .init(value: Date()),
                exp: .init(value: Date().addingTimeInterval(600))
            )
        )
        await #expect(throws: Problem.tokenInvalid) { try await tokens.verify(zeroSeq) }
        // A changed signature byte is not read by hand, and refused.
        let parts = token.split(separator: ".")
        let flippedSignature = (parts[2].first == "A" ? "B" : "A") + String(parts[2].dropFirst())
        let flipped = "\(parts[0]).\(parts[1]).\(flippedSignature)"
        #expect(tokens.signedHere(String(flipped)) == nil)
        await #expect(throws: Problem.tokenInvalid) { try await tokens.verify(String(flipped)) }
    }

    @Test func base64URLAgreesWithFoundationAndRefusesWhatNoEncodingGives() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var expected = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            while expected.last == "=" { expected.removeLast() }
            #expect(Base64URL.encode(bytes) == expected)
            #expect(Base64URL.decode(Substring(expected).utf8) == bytes)
        }
        for invalid in ["A", "AAAAA", "AB=", "A+BC", "A/BC", "AB CD", "é"] {
            #expect(Base64URL.decode(Substring(invalid).utf8) == nil, "\(invalid)")
        }
    }

    @Test func bearerCredentialsTakeTheSchemeInAnyCaseAndDropSpacesAndTabs() {
        #expect(BearerCredentials.parse("Bearer abc.def") == "abc.def")
        #expect(BearerCredentials.parse("bEaReR \t abc \t ") == "abc")
        #expect(BearerCredentials.parse("Bearer ") == "")
        #expect(BearerCredentials.parse("Bearer") == nil)
        #expect(BearerCredentials.parse("Bearerabc") == nil)
        #expect(BearerCredentials.parse("Basic abc") == nil)
        #expect(BearerCredentials.parse("Bearér abc") == nil)
        #expect(BearerCredentials.parse("") == nil)
    }
}

/// A prepared key gives the MAC `HMAC` gives, however often it is used.
struct PreparedHMACTests {
    @Test func eachCodeIsTheOneHMACComputesAndReuseDoesNotLeakBetweenMessages() {
        for keyText in ["k", String(repeating: "s", count: 64), String(repeating: "long key ", count: 20)] {
            let key = SymmetricKey(data: Data(keyText.utf8))
            let prepared = PreparedHMAC(key: key)
            for message in ["", "a", "header.claims", String(repeating: "x", count: 1000), "a"] {
                let expected = Array(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: key))
                #expect(Array(prepared.code(for: Array(message.utf8))) == expected, "\(keyText.prefix(5)) \(message.prefix(10))")
                #expect(prepared.isValid(expected, for: Array(message.utf8)))
                #expect(!prepared.isValid(Array(expected.dropLast()) + [expected.last! ^ 1], for: Array(message.utf8)))
                #expect(!prepared.isValid(Array(expected.dropLast()), for: Array(message.utf8)))
            }
        }
    }
}
