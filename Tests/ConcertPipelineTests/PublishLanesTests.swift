import ConcertDomain
import Foundation
import Synchronization
import Testing

@testable import ConcertPipeline

/// The lanes that bundle a partition's commands while its last message waits for its confirm,
/// driven by a `send` the test confirms by hand (no broker).
@Suite struct PublishLanesTests {
    /// A broker stand-in: records each message's commands and holds its confirm until `confirm` is called.
    final class HeldConfirms: Sendable {
        private struct State {
            var messages: [[UUID]] = []
            var held: [CheckedContinuation<Void, any Error>] = []
            var failNext: (any Error)?
        }
        private let state = Mutex(State())

        var messages: [[UUID]] { state.withLock { $0.messages } }
        var heldCount: Int { state.withLock { $0.held.count } }

        func send(_ envelopes: [CommandEnvelope]) async throws {
            try await withCheckedThrowingContinuation { continuation in
                state.withLock {
                    $0.messages.append(envelopes.map(\.id))
                    $0.held.append(continuation)
                }
            }
        }

        /// Confirms (or with `error`, fails) the oldest message in flight.
        func confirm(failing error: (any Error)? = nil) {
            let continuation = state.withLock { $0.held.isEmpty ? nil : $0.held.removeFirst() }
            if let error { continuation?.resume(throwing: error) } else { continuation?.resume() }
        }
    }

    struct Refused: Error, Equatable {}

    /// What the publishing tasks saw, in order.
    final class Seen: Sendable {
        private let state = Mutex<[UUID]>([])
        func append(_ id: UUID) { state.withLock { $0.append(id) } }
        var all: [UUID] { state.withLock { $0 } }
    }

    static func envelope() -> CommandEnvelope {
        CommandEnvelope(
            id: UUID(),
            userId: UserID("alice")!,
            partitionKey: "1:2026-12-24",
            command: .pay(.init(reservationId: UUID())),
            submittedAt: Date()
        )
    }

    /// Waits until `condition` holds (the tasks under test run on the concurrency pool).
    static func until(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    @Test func commandsArrivingWhileAMessageIsUnconfirmedLeaveTogetherWhenItIsConfirmed() async throws {
        let lanes = PublishLanes(maxCommands: 4)
        let broker = HeldConfirms()
        let key = PublishLanes.Key(routingKey: "p.0", replyTo: nil)
        let other = PublishLanes.Key(routingKey: "p.1", replyTo: nil)
        let envelopes = (0..<7).map { _ in Self.envelope() }
        let elsewhere = Self.envelope()
        let answered = Seen()
        try await withThrowingTaskGroup(of: Void.self) { group in
            func publish(_ envelope: CommandEnvelope, on key: PublishLanes.Key) {
                group.addTask {
                    try await lanes.publish(envelope, on: key, send: broker.send)
                    answered.append(envelope.id)
                }
            }
            // The first goes at once, alone.
            publish(envelopes[0], on: key)
            try await Self.until { broker.messages.count == 1 }
            // Six more while it is unconfirmed: they wait; another partition's lane is free.
            for envelope in envelopes[1...] { publish(envelope, on: key) }
            publish(elsewhere, on: other)
            try await Self.until { broker.messages.count == 2 && lanes.waiting(on: key) == 6 }
            #expect(broker.messages == [[envelopes[0].id], [elsewhere.id]])
            #expect(answered.all.isEmpty, "answered before its confirm")

            broker.confirm()
            try await Self.until { broker.messages.count == 3 }
            // At most four in a message; the rest wait for the next confirm.
            #expect(Set(broker.messages[2]).isSubset(of: Set(envelopes[1...].map(\.id))))
            #expect(broker.messages[2].count == 4)
            try await Self.until { answered.all == [envelopes[0].id] }
            broker.confirm()  // the other partition's message
            broker.confirm()  // the bundle of four
            try await Self.until { broker.messages.count == 4 }
            #expect(broker.messages[3].count == 2)
            try await Self.until { answered.all.count == 6 }
            broker.confirm()
            try await group.waitForAll()
        }
        #expect(Set(answered.all) == Set((envelopes + [elsewhere]).map(\.id)))
        #expect(Set(broker.messages.flatMap { $0 }) == Set((envelopes + [elsewhere]).map(\.id)), "each command in exactly one message")
        #expect(broker.messages.flatMap { $0 }.count == 8)
    }

    @Test func everyCommandOfARefusedBundleIsRefusedAndTheLaneGoesOn() async throws {
        let lanes = PublishLanes(maxCommands: 64)
        let broker = HeldConfirms()
        let key = PublishLanes.Key(routingKey: "p.0", replyTo: "replies")
        let first = Self.envelope()
        let bundled = (0..<3).map { _ in Self.envelope() }
        let refused = Seen()
        let confirmed = Seen()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for envelope in [first] + bundled {
                group.addTask {
                    do {
                        try await lanes.publish(envelope, on: key, send: broker.send)
                        confirmed.append(envelope.id)
                    } catch is Refused {
                        refused.append(envelope.id)
                    }
                }
                if envelope.id == first.id { try await Self.until { broker.messages.count == 1 } }
            }
            try await Self.until { lanes.waiting(on: key) == 3 }
            broker.confirm()
            try await Self.until { broker.messages.count == 2 }
            #expect(broker.messages[1].count == 3)
            broker.confirm(failing: Refused())
            try await group.waitForAll()
        }
        #expect(confirmed.all == [first.id])
        #expect(Set(refused.all) == Set(bundled.map(\.id)))
        // The lane is free again: the next command goes at once.
        async let next: Void = lanes.publish(Self.envelope(), on: key, send: broker.send)
        try await Self.until { broker.messages.count == 3 }
        broker.confirm()
        try await next
    }
}
