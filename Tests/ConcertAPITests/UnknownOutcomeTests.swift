import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import TestSupport
import Testing

/// A command answered `503 OUTCOME_UNKNOWN` (its publish's confirm never came) reads pending for a
/// bound, then a final status — unless it arrived; and a final status stays final.
@Suite(.enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct UnknownOutcomeTests {
    static func envelope(_ harness: APIHarness, seat: Int, date: String, user: String) -> CommandEnvelope {
        let command = Command.reserveSeat(.init(concertId: ConcertID(1)!, date: ScheduleDate(date)!, seatNumber: SeatNumber(seat)!))
        let schedule = ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate(date)!)
        return CommandEnvelope(
            id: harness.services.commandIDs.mint(.reserveSeat, for: UserID(user)!),
            userId: UserID(user)!,
            partitionKey: schedule.partitionKey,
            command: command,
            submittedAt: Date()
        )
    }

    static func status(_ buyer: Buyer, _ id: UUID) async throws -> (String?, String?) {
        let body = try await buyer.send(.get, "/v1/commands/\(id.lowercasedString)", headers: APIHarness.authorization(buyer.user)).json()
        return (body["status"]?.string, body["error"]?["code"]?.string ?? body["code"]?.string)
    }

    @Test func anUnknownOutcomeThatNeverArrivesIsFailedAfterTheBoundAndALateArrivalChangesNothing() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1)) { client, harness in
            var buyer = Buyer(client, "unsure")
            try await buyer.queue()
            try await harness.admit()
            let date = try await PurchaseFlowTests.firstDate(buyer)
            let lost = Self.envelope(harness, seat: 6, date: date, user: "unsure")
            try await harness.services.commands.recordUnknownOutcome(lost, until: Date().addingTimeInterval(1))
            #expect(try await Self.status(buyer, lost.id).0 == "pending")
            try await Task.sleep(for: .seconds(1.5))
            let final = try await Self.status(buyer, lost.id)
            #expect(final.0 == "failed")
            #expect(final.1 == FailureCode.outcomeUnknownExpired.rawValue)

            // The message turns up after all: it is not applied, and the answer stays what it was.
            try await harness.services.publisher.publish(lost, schedule: ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate(date)!))
            // A later command of the partition shows the late one was handled before it.
            #expect(try await buyer.reserve(seat: 7, date: date).status == .created)
            #expect(try await Self.status(buyer, lost.id).1 == FailureCode.outcomeUnknownExpired.rawValue)
            let seats = try await harness.client.query("SELECT count(*) FROM reservations WHERE seat_number = 6", logger: DatabaseEnvironment.logger)
            #expect(try await seats.decode(Int.self).reduce(0, +) == 0)

            // One that does arrive within the bound is applied and answered as usual.
            let arrived = Self.envelope(harness, seat: 8, date: date, user: "unsure")
            try await harness.services.commands.recordUnknownOutcome(arrived, until: Date().addingTimeInterval(30))
            try await harness.services.publisher.publish(arrived, schedule: ScheduleKey(concertID: ConcertID(1)!, date: ScheduleDate(date)!))
            try await eventually("the command that arrived succeeds") { try await Self.status(buyer, arrived.id).0 == "succeeded" }
        }
    }
}
