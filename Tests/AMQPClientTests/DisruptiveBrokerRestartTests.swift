import TestSupport
import Testing

@testable import AMQPClient

/// Stops and starts the broker's application: run apart from the other tests (`scripts/test` runs
/// suites named `Disruptive…` after the rest, one at a time), since every connection drops.
@Suite(.serialized, .enabled(if: BrokerEnvironment.isConfigured))
struct DisruptiveBrokerRestartTests {
    @Test func publishFailsFastWhileTheBrokerIsDownAndEverythingResumesAfter() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let queue = BrokerEnvironment.uniqueName("restart")
            try await connection.declare(AMQPQueue(name: queue, arguments: ["x-queue-type": "quorum"]))
            let consumer = try await connection.consume(queue: queue, prefetch: 10)
            let collector = DeliveryCollector(consumer, autoAck: true)
            try await connection.publish(routingKey: queue, body: [1])
            try await collector.waitFor(1)

            try await BrokerEnvironment.brokerApp("stop_app")
            do {
                try await eventually("the client notices the broker is gone") { !connection.isConnected }
                let started = ContinuousClock.now
                let error = await #expect(throws: AMQPError.self) { try await connection.publish(routingKey: queue, body: [2]) }
                #expect(error?.kind == .notConnected)
                #expect(ContinuousClock.now - started < .seconds(1), "publish must fail fast while disconnected")
            } catch {
                try await BrokerEnvironment.brokerApp("start_app")
                throw error
            }
            try await BrokerEnvironment.brokerApp("start_app")

            try await connection.waitUntilConnected(timeout: .seconds(30))
            // The consumer re-subscribed by itself: a message published now reaches it.
            try await eventually(timeout: .seconds(20), "publishing works again") {
                do {
                    try await connection.publish(routingKey: queue, body: [3])
                    return true
                } catch {
                    return false
                }
            }
            let deliveries = try await collector.waitFor(2, timeout: .seconds(20))
            #expect(deliveries.last?.body == [3])
            #expect(collector.error == nil)
            try await consumer.cancel()
            try await connection.deleteQueue(queue)
        }
    }
}
