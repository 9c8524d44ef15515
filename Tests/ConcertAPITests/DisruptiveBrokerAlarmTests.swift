import ConcertAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

/// A broker memory alarm blocks every publisher of the node. `Disruptive…`: the alarm is the
/// whole broker's, so `scripts/test` runs this suite on its own.
@Suite(.serialized, .enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct DisruptiveBrokerAlarmTests {
    static func rabbitmqctl(_ arguments: String...) async {
        let status = await ServicesScript.run(["rabbitmqctl"] + arguments)
        #expect(status == 0, "rabbitmqctl \(arguments)")
    }

    /// While the broker blocks publishing, a command is answered `503` at once (nothing hangs,
    /// nothing is accepted that was not written); once the alarm clears, commands flow again.
    @Test func aBlockedBrokerAnswers503AtOnceAndCommandsFlowAfterTheAlarm() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1)) { client, harness in
            var buyer = Buyer(client, "alarmed")
            try await buyer.queue()
            try await harness.admit()
            let date = try await PurchaseFlowTests.firstDate(buyer)
            #expect(try await buyer.reserve(seat: 1, date: date).status == .created)

            await Self.rabbitmqctl("set_vm_memory_high_watermark", "absolute", "1")
            // The first publishes after the alarm may wait for a confirm that does not come (the
            // broker says it blocks only when the connection next publishes): at most the confirm limit.
            var answered: [HTTPResponse.Status] = []
            do {
                for seat in 2...4 {
                    let started = ContinuousClock.now
                    let response = try await buyer.send(.post, "/v1/reservations", #"{"concertId":1,"date":"\#(date)","seatNumber":\#(seat)}"#)
                    #expect(ContinuousClock.now - started < .seconds(7), "answered after \(ContinuousClock.now - started)")
                    answered.append(response.status)
                    if response.status == .serviceUnavailable { #expect(response.headers[.retryAfter] != nil) }
                }
            } catch {
                await Self.rabbitmqctl("set_vm_memory_high_watermark", "0.4")
                throw error
            }
            #expect(answered.last == .serviceUnavailable, "\(answered)")

            await Self.rabbitmqctl("set_vm_memory_high_watermark", "0.4")
            try await eventually(timeout: .seconds(20), "commands flow again") {
                try await buyer.reserve(seat: 9, date: date).status == .created
            }
        }
    }
}
