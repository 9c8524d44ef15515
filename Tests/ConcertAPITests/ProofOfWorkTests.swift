import ConcertDomain
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

@testable import ConcertAPI

/// The waiting room's optional bot defence: a challenge bound to one user and concert, a
/// solution checked with one hash.
@Suite struct ProofOfWorkTests {
    static let work = ProofOfWork(bits: 8, secret: "proof-of-work-tests-secret-0123456789abcdef")!
    static let concert = ConcertID(7)!
    static let user = UserID("solver")!
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// The first nonce (a decimal counter, as the README's client loop counts) that solves `challenge`.
    static func solve(_ challenge: String, bits: Int) -> String {
        var counter = 0
        while true {
            let nonce = String(counter)
            if ProofOfWork.leadingZeroBits(SHA256.hash(data: Array((challenge + nonce).utf8))) >= bits { return nonce }
            counter += 1
        }
    }

    @Test func aSolvedChallengeIsAcceptedOnlyForItsUserAndConcertUntilItExpires() {
        let (challenge, expiresAt) = Self.work.challenge(concert: Self.concert, user: Self.user, now: Self.now)
        #expect(expiresAt == Self.now.addingTimeInterval(300))
        let nonce = Self.solve(challenge, bits: 8)
        #expect(Self.work.refusal(challenge: challenge, nonce: nonce, concert: Self.concert, user: Self.user, now: Self.now) == nil)
        #expect(Self.work.refusal(challenge: challenge, nonce: nonce, concert: Self.concert, user: UserID("other")!, now: Self.now) == .notIssued)
        #expect(Self.work.refusal(challenge: challenge, nonce: nonce, concert: ConcertID(8)!, user: Self.user, now: Self.now) == .notIssued)
        #expect(Self.work.refusal(challenge: challenge, nonce: nonce, concert: Self.concert, user: Self.user, now: expiresAt) == .expired)
        // Another secret (another deployment) did not issue it.
        let other = ProofOfWork(bits: 8, secret: "another-secret-of-at-least-thirty-two-bytes")!
        #expect(other.refusal(challenge: challenge, nonce: nonce, concert: Self.concert, user: Self.user, now: Self.now) == .notIssued)
    }

    @Test func aTamperedChallengeOrAWrongNonceIsRefused() {
        let (challenge, _) = Self.work.challenge(concert: Self.concert, user: Self.user, now: Self.now)
        var parts = challenge.split(separator: ".").map(String.init)
        parts[1] = String(Int(parts[1])! + 3600)  // a later expiry
        #expect(
            Self.work.refusal(challenge: parts.joined(separator: "."), nonce: "1", concert: Self.concert, user: Self.user, now: Self.now)
                == .notIssued
        )
        #expect(Self.work.refusal(challenge: "7.1.2", nonce: "1", concert: Self.concert, user: Self.user, now: Self.now) == .notIssued)
        // A nonce that does not solve it (one in 256 does at 8 bits: look for one that does not).
        let wrong = (0..<1000).map(String.init).first { nonce in
            ProofOfWork.leadingZeroBits(SHA256.hash(data: Array((challenge + nonce).utf8))) < 8
        }!
        #expect(Self.work.refusal(challenge: challenge, nonce: wrong, concert: Self.concert, user: Self.user, now: Self.now) == .unsolved)
        #expect(Self.work.refusal(challenge: challenge, nonce: "", concert: Self.concert, user: Self.user, now: Self.now) == .unsolved)
        #expect(
            Self.work.refusal(challenge: challenge, nonce: String(repeating: "1", count: 65), concert: Self.concert, user: Self.user, now: Self.now)
                == .unsolved
        )
    }

    @Test func leadingZeroBitsCountsAcrossBytes() {
        // SHA-256 of "abc" begins ba 78…: no zero bit.
        #expect(ProofOfWork.leadingZeroBits(SHA256.hash(data: Array("abc".utf8))) == 0)
        let challenge = "7.1.abc.def"
        let nonce = Self.solve(challenge, bits: 12)
        #expect(ProofOfWork.leadingZeroBits(SHA256.hash(data: Array((challenge + nonce).utf8))) >= 12)
    }
}

/// Token issue with the defence on, over HTTP: 428 with a challenge, then a token for its solution.
@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct ProofOfWorkAPITests {
    @Test func tokenIssueAsksForAProofOfWorkAndTakesItsSolution() async throws {
        let defence: @Sendable (inout APIServices) -> Void = { $0.proofOfWork = ProofOfWork(bits: 10, secret: APIHarness.secret) }
        try await APIHarness.withAPI(customize: defence) { client, _ in
            func issue(_ body: String, as user: String = "solver") async throws -> TestResponse {
                var headers = APIHarness.authorization(user)
                headers[.contentType] = "application/json"
                return try await client.execute(uri: "/v1/queue/tokens", method: .post, headers: headers, body: ByteBuffer(string: body))
            }
            let asked = try await issue(#"{"concertId":1}"#)
            #expect(asked.status.code == 428)
            #expect(asked.headers[.contentType] == "application/problem+json")
            let problem = try asked.json()
            #expect(problem["code"] == .string("PROOF_OF_WORK_REQUIRED"))
            #expect(problem["bits"] == .number(10))
            #expect(problem["expiresAt"]?.string != nil)
            let challenge = try #require(problem["challenge"]?.string)

            // Another user cannot use it, and a wrong nonce is refused, each with a fresh challenge.
            let nonce = ProofOfWorkTests.solve(challenge, bits: 10)
            let stolen = try await issue(#"{"concertId":1,"challenge":"\#(challenge)","nonce":"\#(nonce)"}"#, as: "thief")
            #expect(stolen.status.code == 428)
            #expect(try stolen.json()["detail"]?.string?.contains("not issued to this user") == true)
            #expect(try stolen.json()["challenge"]?.string != challenge)

            let solved = try await issue(#"{"concertId":1,"challenge":"\#(challenge)","nonce":"\#(nonce)"}"#)
            #expect(solved.status == .created)
            #expect(try solved.json()["status"] == .string("waiting"))
        }
    }
}
