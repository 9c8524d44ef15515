import ConcertAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import TestSupport
import Testing

@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct BalanceAPITests {
    static func charge(_ client: any TestClientProtocol, _ user: String, _ body: String, key: String? = nil) async throws -> TestResponse {
        var headers = APIHarness.authorization(user)
        headers[.contentType] = "application/json"
        if let key { headers[HTTPField.Name("Idempotency-Key")!] = key }
        return try await client.execute(
            uri: "/v1/users/\(user)/balance/charges",
            method: .post,
            headers: headers,
            body: ByteBuffer(string: body)
        )
    }

    @Test func unknownUserHasZeroAndChargesAddUp() async throws {
        try await APIHarness.withAPI { client, _ in
            let empty = try await client.execute(uri: "/v1/users/alice/balance", method: .get, headers: APIHarness.authorization("alice"))
            #expect(empty.status == .ok)
            #expect(try empty.json() == ["userId": "alice", "balance": 0])

            let first = try await Self.charge(client, "alice", #"{"amount":50000}"#)
            #expect(first.status == .ok)
            #expect(try first.json() == ["userId": "alice", "balance": 50000])
            _ = try await Self.charge(client, "alice", #"{"amount":25000}"#)
            #expect(
                try await client.execute(uri: "/v1/users/alice/balance", method: .get, headers: APIHarness.authorization("alice")).json() == [
                    "userId": "alice", "balance": 75000,
                ]
            )
        }
    }

    @Test func hundredConcurrentChargesAllCount() async throws {
        try await APIHarness.withAPI { client, harness in
            let database = harness.client
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        let response = try await Self.charge(client, "crowd", #"{"amount":1000}"#)
                        #expect(response.status == .ok)
                    }
                }
                try await group.waitForAll()
            }
            #expect(
                try await client.execute(uri: "/v1/users/crowd/balance", method: .get, headers: APIHarness.authorization("crowd")).json() == [
                    "userId": "crowd", "balance": 100000,
                ]
            )
            // The wallet equals the sum of its ledger.
            let rows = try await database.query(
                "SELECT count(*), sum(amount)::bigint FROM wallet_ledger WHERE user_id = 'crowd'",
                logger: DatabaseEnvironment.logger
            )
            for try await (count, sum) in rows.decode((Int, Int64).self) {
                #expect(count == 100)
                #expect(sum == 100_000)
            }
        }
    }

    @Test func anIdempotentChargeCountsOnceEvenWhenRetriedConcurrently() async throws {
        try await APIHarness.withAPI { client, _ in
            _ = try await Self.charge(client, "bob", #"{"amount":1000}"#)
            try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<10 { group.addTask { try await Self.charge(client, "bob", #"{"amount":5000}"#, key: "topup-1") } }
                for try await response in group {
                    #expect(response.status == .ok)
                    // Every retry answers what the first charge answered.
                    #expect(try response.json() == ["userId": "bob", "balance": 6000])
                }
            }
            _ = try await Self.charge(client, "bob", #"{"amount":5000}"#, key: "topup-2")
            #expect(
                try await client.execute(uri: "/v1/users/bob/balance", method: .get, headers: APIHarness.authorization("bob")).json() == [
                    "userId": "bob", "balance": 11000,
                ]
            )
        }
    }

    @Test(arguments: [
        (#"{"amount":0}"#, "amount"),
        (#"{"amount":-5}"#, "amount"),
        (#"{"amount":100000001}"#, "amount"),
        (#"{"amount":1.5}"#, "amount"),
        (#"{"amount":"10"}"#, "amount"),
        (#"{}"#, "amount"),
        (#"{"amount":10"#, "JSON"),
        ("", "JSON"),
    ])
    func badChargesAre400AndChangeNothing(body: String, field: String) async throws {
        try await APIHarness.withAPI { client, _ in
            let response = try await Self.charge(client, "carol", body)
            #expect(response.status == .badRequest)
            #expect(response.headers[.contentType] == "application/problem+json")
            let problem = try response.json()
            #expect(problem["code"] == "INVALID_REQUEST")
            #expect(problem["status"] == 400)
            if case .string(let detail) = problem["detail"] { #expect(detail.contains(field), "\(detail) should name \(field)") }
            #expect(
                try await client.execute(uri: "/v1/users/carol/balance", method: .get, headers: APIHarness.authorization("carol")).json() == [
                    "userId": "carol", "balance": 0,
                ]
            )
        }
    }

    @Test func badUserIdsAndKeysAre400() async throws {
        try await APIHarness.withAPI { client, _ in
            let badUser = try await Self.charge(client, "not%20valid", #"{"amount":10}"#)
            #expect(badUser.status == .badRequest)
            #expect(try badUser.json()["detail"] == "userId: must be 1-64 characters of A-Z a-z 0-9 _ -")
            let badKey = try await Self.charge(client, "dave", #"{"amount":10}"#, key: String(repeating: "k", count: 300))
            #expect(badKey.status == .badRequest)
            #expect(try await client.execute(uri: "/v1/users/\(String(repeating: "x", count: 65))/balance", method: .get).status == .badRequest)
        }
    }

    @Test func anOversizedBodyIs413() async throws {
        try await APIHarness.withAPI { client, _ in
            let padding = String(repeating: " ", count: 70 * 1024)
            let response = try await Self.charge(client, "erin", #"{"amount":10\#(padding)}"#)
            #expect(response.status == .contentTooLarge)
            #expect(try response.json()["code"] == "PAYLOAD_TOO_LARGE")
            #expect(
                try await client.execute(uri: "/v1/users/erin/balance", method: .get, headers: APIHarness.authorization("erin")).json() == [
                    "userId": "erin", "balance": 0,
                ]
            )
        }
    }

    @Test func unknownRoutesAreProblemsToo() async throws {
        try await APIHarness.withAPI { client, _ in
            let response = try await client.execute(uri: "/v1/nothing-here", method: .get)
            #expect(response.status == .notFound)
            #expect(try response.json()["code"] == "NOT_FOUND")
        }
    }
}
