import ConcertAPI
import ConcertDomain
import Foundation
import TestSupport
import Testing

/// `concert users token USER [--ttl SECONDS]`: an access token the API's verifier accepts.
struct UsersTokenTests {
    static let secret = "users-token-tests-secret-0123456789abc"

    /// Runs `concert arguments…` with `changes` to the environment; its exit status and standard
    /// output (standard error discarded). Awaited, not waited for: nothing holds a thread of the
    /// concurrency pool (two of them here) from the other tests.
    static func run(_ arguments: [String], _ changes: [String: String]) async throws -> (status: Int32, output: String) {
        let (status, output) = try await runCapturingOutput(
            StartupTests.executable.path,
            arguments,
            environment: ProcessInfo.processInfo.environment.merging(changes) { _, new in new },
            standardError: .discarded
        )
        return (status, output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test func thePrintedTokenIsVerifiedForItsUserWithIssuerAndAudience() async throws {
        let settings = [
            "CONCERT_USER_TOKEN_SECRET": Self.secret,
            "CONCERT_USER_TOKEN_ISSUER": "https://id.example",
            "CONCERT_USER_TOKEN_AUDIENCE": "concert-api",
        ]
        let printed = try await Self.run(["users", "token", "minji", "--ttl", "120"], settings)
        #expect(printed.status == 0)
        let tokens = try await AccessTokens(.init(secret: Self.secret, issuer: "https://id.example", audience: "concert-api"))
        #expect(try await tokens.verify(printed.output).rawValue == "minji")
        // Its lifetime is --ttl: valid now, expired in three minutes.
        do {
            _ = try await tokens.verify(printed.output, now: Date().addingTimeInterval(180))
            Issue.record("a token past its --ttl was accepted")
        } catch {
            #expect(error.code == "AUTH_EXPIRED")
        }
    }

    @Test func withoutASecretOrWithABadUserItFails() async throws {
        #expect(try await Self.run(["users", "token", "minji"], ["CONCERT_USER_TOKEN_SECRET": ""]).status != 0)
        #expect(try await Self.run(["users", "token", "not a user"], ["CONCERT_USER_TOKEN_SECRET": Self.secret]).status != 0)
        #expect(try await Self.run(["users", "token", "minji", "--ttl", "0"], ["CONCERT_USER_TOKEN_SECRET": Self.secret]).status != 0)
    }
}
