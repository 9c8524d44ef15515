import Foundation
import Testing

@testable import AMQPClient

@Suite struct ConfirmTrackerTests {
    @Test func publishesUnconfirmedPastTheirDeadlineExpireOldestFirstAndLateConfirmsAreIgnored() {
        var tracker = ConfirmTracker<Int>()
        let start = ContinuousClock.now
        for index in 1...4 { _ = tracker.published(index, deadline: start + .seconds(index)) }
        #expect(tracker.acked(tag: 2, multiple: false).map(\.0) == [2])
        #expect(tracker.expire(now: start).isEmpty)
        #expect(tracker.expire(now: start + .seconds(3)) == [1, 3])
        #expect(tracker.pendingCount == 1)
        // The broker's confirm of an expired publish comes after all: nobody is answered twice.
        #expect(tracker.acked(tag: 3, multiple: true).isEmpty)
        #expect(tracker.acked(tag: 4, multiple: false).map(\.0) == [4])
        #expect(tracker.expire(now: start + .seconds(60)).isEmpty)
    }

    @Test func singleAcksSettleTheirOwnTag() {
        var tracker = ConfirmTracker<String>()
        #expect(tracker.published("a") == 1)
        #expect(tracker.published("b") == 2)
        let settled = tracker.acked(tag: 2, multiple: false)
        #expect(settled.map(\.0) == ["b"])
        #expect(tracker.pendingCount == 1)
    }

    @Test func multipleAckSettlesEverythingUpToTheTag() {
        var tracker = ConfirmTracker<Int>()
        for waiter in 1...5 { _ = tracker.published(waiter) }
        _ = tracker.acked(tag: 2, multiple: false)
        let settled = tracker.acked(tag: 4, multiple: true)
        #expect(settled.map(\.0) == [1, 3, 4])
        #expect(tracker.pendingCount == 1)
        #expect(tracker.acked(tag: 5, multiple: true).map(\.0) == [5])
    }

    @Test func nackFailsOnlyItsMessages() {
        var tracker = ConfirmTracker<Int>()
        for waiter in 1...3 { _ = tracker.published(waiter) }
        let settled = tracker.nacked(tag: 2, multiple: true)
        #expect(settled.map(\.0) == [1, 2])
        #expect(settled.allSatisfy { if case .nacked = $0.1 { true } else { false } })
    }

    @Test func aReturnMarksTheNextConfirmedMessageOnly() {
        var tracker = ConfirmTracker<Int>()
        for waiter in 1...3 { _ = tracker.published(waiter) }
        tracker.returned(replyCode: 312, replyText: "NO_ROUTE")
        let settled = tracker.acked(tag: 3, multiple: true)
        #expect(settled.count == 3)
        for (waiter, outcome) in settled {
            if waiter == 3 {
                guard case .returned(let code, let text) = outcome else {
                    Issue.record("message 3 should be returned")
                    continue
                }
                #expect(code == 312 && text == "NO_ROUTE")
            } else {
                guard case .confirmed = outcome else {
                    Issue.record("message \(waiter) should be confirmed")
                    continue
                }
            }
        }
        // The return is consumed: the next ack is an ordinary confirm.
        _ = tracker.published(4)
        guard case .confirmed = tracker.acked(tag: 4, multiple: false).first?.1 else {
            Issue.record("message 4 should be confirmed")
            return
        }
    }

    @Test func resetHandsBackEveryPendingWaiterAndRestartsTags() {
        var tracker = ConfirmTracker<Int>()
        for waiter in 1...3 { _ = tracker.published(waiter) }
        _ = tracker.acked(tag: 1, multiple: false)
        #expect(tracker.reset() == [2, 3])
        #expect(tracker.pendingCount == 0)
        #expect(tracker.published(9) == 1)
    }
}

@Suite struct BackoffTests {
    @Test func growsExponentiallyUpToTheCeiling() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1), multiplier: 2)
        #expect(backoff.delay(afterFailures: 0) == .zero)
        #expect(backoff.delay(afterFailures: 1) == .milliseconds(100))
        #expect(backoff.delay(afterFailures: 2) == .milliseconds(200))
        #expect(backoff.delay(afterFailures: 4) == .milliseconds(800))
        #expect(backoff.delay(afterFailures: 5) == .seconds(1))
        #expect(backoff.delay(afterFailures: 500) == .seconds(1))
    }
}

@Suite struct AMQPConfigurationTests {
    @Test func parsesAURLWithAnEncodedVirtualHost() throws {
        let configuration = try AMQPConfiguration(url: "amqp://alice:s3cret@broker.example:5673/%2F")
        #expect(configuration.host == "broker.example")
        #expect(configuration.port == 5673)
        #expect(configuration.username == "alice")
        #expect(configuration.password == "s3cret")
        #expect(configuration.virtualHost == "/")
        #expect(try AMQPConfiguration(url: "amqp://u:p@h/tenant-a").virtualHost == "tenant-a")
        #expect(try AMQPConfiguration(url: "amqp://u:p@h").virtualHost == "/")
    }

    @Test func parsesTheNodesOfACluster() throws {
        let configuration = try AMQPConfiguration(url: "amqp://u:p@n1:5673/v, amqp://u:p@n2:5674/v,amqp://u:p@n3/v")
        #expect(configuration.addresses == [.init(host: "n1", port: 5673), .init(host: "n2", port: 5674), .init(host: "n3", port: 5672)])
        #expect(configuration.username == "u" && configuration.password == "p" && configuration.virtualHost == "v")
        #expect("\(configuration)" == "amqp://u@n1:5673,n2:5674,n3:5672/v")
        // One cluster: the same credentials and virtual host everywhere.
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqp://u:p@n1/v,amqp://u:other@n2/v") }
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqp://u:p@n1/v,amqp://u:p@n2/w") }
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqp://u:p@n1/v,") }
    }

    @Test func eachAttemptMovesToTheNextNodeStartingWhereTheProcessIdPoints() throws {
        var configuration = try AMQPConfiguration(url: "amqp://u:p@n0/v,amqp://u:p@n1/v,amqp://u:p@n2/v")
        let pid = Int(ProcessInfo.processInfo.processIdentifier)
        #expect(configuration.address(attempt: 0).host == "n\(pid % 3)")
        configuration.firstAddressIndex = 1
        #expect((0..<5).map { configuration.address(attempt: $0).host } == ["n1", "n2", "n0", "n1", "n2"])
        // A single node's configuration always uses its one address.
        configuration.port = 5680
        #expect(configuration.addresses == [.init(host: "n0", port: 5680)])
        #expect(configuration.address(attempt: 7).port == 5680)
    }

    @Test func neverPrintsThePassword() throws {
        let configuration = try AMQPConfiguration(url: "amqp://alice:s3cret@broker.example:5673/%2F")
        #expect(!"\(configuration)".contains("s3cret"))
        let error = #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "http://alice:s3cret@x") }
        #expect(error.map { !"\($0)".contains("s3cret") } == true)
    }
}

@Suite struct FieldTableEncodingTests {
    @Test func tablesSurviveTheTripThroughC() {
        let table: AMQPTable = [
            "x-queue-type": "quorum",
            "x-delivery-limit": 3,
            "x-single-active-consumer": true,
            "ratio": .double(0.5),
            "raw": .bytes([0, 1, 2]),
            "at": .timestamp(1_700_000_000),
            "nested": .table(["routing-keys": .array(["p.1", "p.2"]), "count": 2]),
            "nothing": .void,
        ]
        let decoded = CArena.with { arena in CDecoding.table(arena.table(table)) }
        #expect(decoded == table)
    }

    @Test func propertiesSurviveTheTripThroughC() {
        let properties = AMQPMessageProperties(
            contentType: "application/json",
            persistent: true,
            messageId: "m-1",
            type: "ReserveSeat",
            timestamp: 1_700_000_000,
            correlationId: "c-1",
            replyTo: "replies.1",
            expiration: "60000",
            headers: ["attempt": 2]
        )
        let decoded = CArena.with { arena in CDecoding.properties(arena.properties(properties)) }
        #expect(decoded == properties)
        let transient = CArena.with { arena in CDecoding.properties(arena.properties(AMQPMessageProperties(persistent: false))) }
        #expect(transient == AMQPMessageProperties(persistent: false))
    }
}

/// Which jobs go out corked: only runs of two or more that never wait for the broker — a declare
/// or `basic.get` inside a corked run would hold its own request until the kernel's 200 ms cork
/// limit (measured: e2e fell from ~1 500 to 325 commands/s when every batch was corked).
@Suite struct CorkedRunTests {
    @Test(
        arguments: [
            ([], []),
            ([true], []),
            ([true, true], [0..<2]),
            ([false, true, true, true, false], [1..<4]),
            ([true, false, true], []),
            ([true, true, false, false, true, true, true], [0..<2, 4..<7]),
            ([false, false], []),
        ] as [([Bool], [Range<Int>])]
    )
    func onlyRunsOfWritesAreCorked(writesOnly: [Bool], runs: [Range<Int>]) {
        #expect(ConnectionLoop.corkedRuns(writesOnly) == runs)
    }
}
