import ConcertAPI
import ConcertDomain
import Foundation
import Testing

/// `concert users token USER [--ttl SECONDS]`: an access token the API's verifier accepts.
struct UsersTokenTests {
    static let secret = "users-token-tests-secret-0123456789abc"

    /// Runs `concert arguments…` with `changes` to the environment; its exit status and standard
    /// output. On a thread of its own: the read and the wait block, and must not hold a thread of
    /// the concurrency pool (two of them here) from the other tests.
    static func run(_ arguments: [String], _ changes: [String: String]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try runBlocking(arguments, changes) }) }.start()
        }
    }

    static func runBlocking(_ arguments: [String], _ changes: [String: String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = StartupTests.executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(changes) { _, new in new }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
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
