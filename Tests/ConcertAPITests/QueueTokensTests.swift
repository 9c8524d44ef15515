@testable import ConcertAPI
import ConcertDomain
import Foundation
import Testing

/// Queue tokens are signed by hand and verified by JWTKit: both must agree.
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
}
