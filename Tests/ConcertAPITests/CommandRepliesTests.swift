import AMQPClient
import ConcertDomain
import ConcertPipeline
import ConcertWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import TestSupport
import Testing

@testable import ConcertAPI

/// Outcomes pushed back to the submitting API process, and command ids that need no row.
@Suite(.enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct CommandRepliesTests {
    /// A worker in another process sends the outcome to this API's own queue: the waiting request
    /// answers with it, and the payment's ended token reaches this API's memory through the broker.
    @Test func outcomesAndEndedTokensComeBackFromAWorkerInAnotherProcess() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2, inProcessWorkers: false)) { client, harness in
            let worker = try await harness.startWorker(partitions: 2, name: "replies")
            defer { if worker.isRunning { worker.terminate() } }
            try await eventually("the worker and the inbox listen") {
                for partition in 0..<2 where try await harness.broker.inspectQueue(PipelineTopology.partitionQueue(partition)).consumerCount < 1 {
                    return false
                }
                return try await harness.broker.inspectQueue(harness.services.inbox.queueName).consumerCount == 1
            }
            var alice = Buyer(client, "alice")
            try await alice.charge(500_000)
            try await alice.queue()
            try await harness.admit()
            let date = try await PurchaseFlowTests.firstDate(alice)

            let started = ContinuousClock.now
            let held = try await alice.reserve(seat: 4, date: date)
            #expect(held.status == .created)
            #expect(held.headers[HTTPField.Name("Preference-Applied")!] == "wait=10")
            #expect(ContinuousClock.now - started < .seconds(5))
            let body = try held.json()
            #expect(body["status"] == "succeeded")
            guard case .string(let reservation)? = body["result"]?["reservationId"] else { throw TestFailure("no reservation id: \(body)") }
            #expect(reservation == reservation.lowercased())
            #expect(try await alice.reserve(seat: 4, date: date).status == .conflict)

            // Reads with the token work, the payment ends it — and this API learns so from the worker's announcement.
            #expect(try await alice.send(.get, "/v1/concerts/1/dates").status == .ok)
            #expect(try await alice.pay(reservation).status == .created)
            try await eventually(timeout: .seconds(5), "the ended token is refused") {
                try await alice.send(.get, "/v1/concerts/1/dates").status == .unauthorized
            }
        }
    }

    @Test func aCommandIsPendingUntilDecidedAndIdsNeverHandedOutAreNotFound() async throws {
        // No worker runs: accepted commands stay undecided.
        try await APIHarness.withAPI(pipeline: .init(partitions: 2, inProcessWorkers: false)) { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.queue()
            try await harness.admit()
            let date = try await PurchaseFlowTests.firstDate(alice)
            let accepted = try await alice.send(.post, "/v1/reservations", #"{"concertId":1,"date":"\#(date)","seatNumber":2}"#)
            #expect(accepted.status == .accepted)
            let location = try #require(accepted.headers[.location])
            guard case .string(let id)? = try accepted.json()["commandId"] else { throw TestFailure("no id") }
            #expect(id == id.lowercased())
            #expect(location == "/v1/commands/\(id)")

            let pending = try await alice.send(.get, location)
            #expect(pending.status == .ok)
            #expect(try pending.json()["status"] == "pending")
            #expect(try pending.json()["type"] == "ReserveSeat")
            // Either case is accepted on input.
            #expect(try await alice.send(.get, "/v1/commands/\(id.uppercased())").status == .ok)
            // Without a credential it is 401; to another user the id does not exist.
            #expect(try await client.execute(uri: location, method: .get).status == .unauthorized)
            let other = try await client.execute(uri: location, method: .get, headers: APIHarness.authorization("mallory"))
            #expect(other.status == .notFound)
            #expect(try other.json()["code"] == "COMMAND_NOT_FOUND")
            #expect(
                try await client.execute(uri: location, method: .get, headers: APIHarness.authorization("alice")).status == .ok,
                "her access token works too"
            )

            // An id that looks like ours but was not minted with the secret, and a random one: never accepted.
            var forged = Array(id)
            let last = forged.count - 1
            forged[last] = forged[last] == "0" ? "1" : "0"
            for unknown in [String(forged), UUID().uuidString] {
                let response = try await alice.send(.get, "/v1/commands/\(unknown)")
                #expect(response.status == .notFound)
                #expect(try response.json()["code"] == "COMMAND_NOT_FOUND")
            }
            let rows = try await harness.client.query("SELECT count(*) FROM commands", logger: DatabaseEnvironment.logger)
            for try await count in rows.decode(Int.self) { #expect(count == 0, "accepting wrote a row") }
        }
    }
}

@Suite struct CommandIDTests {
    let ids = CommandIDs(secret: "command-id-tests-secret-0123456789abcdef")
    let alice = UserID("alice")!

    @Test func mintedIdsAreGenuineCarryTheirTypeAndSortByTime() {
        let earlier = ids.mint(.reserveSeat, for: alice, at: Date(timeIntervalSince1970: 1_795_600_000))
        let later = ids.mint(.pay, for: alice, at: Date(timeIntervalSince1970: 1_795_600_001))
        #expect(ids.isGenuine(earlier, for: alice) && ids.isGenuine(later, for: alice))
        #expect(ids.type(of: earlier, for: alice) == .reserveSeat && ids.type(of: later, for: alice) == .pay)
        #expect(earlier.lowercasedString < later.lowercasedString)
        #expect(earlier.uuidString.dropFirst(14).first == "8", "RFC 9562 version 8")
        #expect(Set((0..<1000).map { _ in ids.mint(.reserveSeat, for: alice) }).count == 1000)
    }

    @Test func anyChangeOrAnotherSecretIsFoundOut() {
        let id = ids.mint(.reserveSeat, for: alice)
        let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
        for index in 0..<16 {
            var changed = bytes
            changed[index] ^= 0x01
            let tampered = changed.withUnsafeBytes { $0.load(as: uuid_t.self) }
            #expect(!ids.isGenuine(UUID(uuid: tampered), for: alice), "byte \(index)")
        }
        #expect(!CommandIDs(secret: "another-secret-entirely-0123456789abcdef").isGenuine(id, for: alice))
        #expect(!ids.isGenuine(UUID(), for: alice))
        #expect(ids.type(of: UUID(), for: alice) == nil)
        // Genuine, but minted for alice: for anyone else it was never handed out.
        #expect(!ids.isGenuine(id, for: UserID("mallory")!))
        #expect(ids.type(of: id, for: UserID("mallory")!) == nil)
    }
}

/// `Prefer: wait=N` as RFC 7240 writes it.
struct PreferWaitTests {
    @Test func theWaitPreferenceIsFoundWhereverAndHoweverItIsWritten() {
        let cases: [(String, Int?)] = [
            ("wait=10", 10), ("WAIT=5", 5), ("Wait = 7", 7), ("respond-async, wait=3", 3), ("wait=4; foo=bar", 4),
            ("handling=lenient,\twait=\"12\"", 12), ("wait=100", 30), ("wait=99999999999999999999", 30), ("wait=0", nil),
            ("wait=-1", nil), ("wait=1.5", nil), ("wait=", nil), ("wait", nil), ("waiting=5", nil), ("respond-async", nil),
            ("", nil), ("wait=abc, wait=2", 2), ("wait=\"\"", nil),
        ]
        for (field, expected) in cases {
            #expect(CommandIntake.wait(in: field) == expected, "\(field)")
        }
    }
}
