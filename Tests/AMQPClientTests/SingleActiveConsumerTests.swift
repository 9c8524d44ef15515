import TestSupport
import Testing

@testable import AMQPClient

@Suite(.enabled(if: BrokerEnvironment.isConfigured))
struct SingleActiveConsumerTests {
    private static func declareSACQueue(_ connection: AMQPConnection) async throws -> String {
        let queue = BrokerEnvironment.uniqueName("sac")
        try await connection.declare(AMQPQueue(name: queue, arguments: ["x-queue-type": "quorum", "x-single-active-consumer": true]))
        return queue
    }

    @Test func onlyOneConsumerReceivesAndTheOtherTakesOverWhenItIsCancelled() async throws {
        try await BrokerEnvironment.withConnection { connection in
            let queue = try await Self.declareSACQueue(connection)
            let first = try await connection.consume(queue: queue, prefetch: 10)
            let firstCollector = DeliveryCollector(first, autoAck: true)
            let second = try await connection.consume(queue: queue, prefetch: 10)
            let secondCollector = DeliveryCollector(second, autoAck: true)

            for index in 0..<20 { try await connection.publish(routingKey: queue, body: [UInt8(index)]) }
            try await firstCollector.waitFor(20)
            #expect(secondCollector.count == 0)

            try await first.cancel()
            for index in 20..<30 { try await connection.publish(routingKey: queue, body: [UInt8(index)]) }
            let taken = try await secondCollector.waitFor(10)
            #expect(taken.map(\.body) == (20..<30).map { [UInt8($0)] })
            #expect(firstCollector.count == 20)

            try await second.cancel()
            try await connection.deleteQueue(queue)
        }
    }

    @Test func theStandbyTakesOverWhenTheActiveConsumersConnectionDies() async throws {
        try await BrokerEnvironment.withConnection { standbyConnection in
            let queue = try await Self.declareSACQueue(standbyConnection)
            // The active consumer lives on a connection of its own, which is then shut down abruptly
            // with unacknowledged messages in hand.
            var activeConfiguration = try BrokerEnvironment.configuration
            activeConfiguration.connectionName = "sac-active"
            try await BrokerEnvironment.withConnection(activeConfiguration) { activeConnection in
                let active = try await activeConnection.consume(queue: queue, prefetch: 5)
                let activeCollector = DeliveryCollector(active)  // never acks
                try await eventually("the active consumer is registered") {
                    try await standbyConnection.inspectQueue(queue).consumerCount == 1
                }
                let standby = try await standbyConnection.consume(queue: queue, prefetch: 5)
                let standbyCollector = DeliveryCollector(standby, autoAck: true)

                for index in 0..<5 { try await standbyConnection.publish(routingKey: queue, body: [UInt8(index)]) }
                try await activeCollector.waitFor(5)
                #expect(standbyCollector.count == 0)

                try await BrokerEnvironment.closeConnections(named: "sac-active")
                let redelivered = try await standbyCollector.waitFor(5)
                #expect(Set(redelivered.map(\.body)) == Set((0..<5).map { [UInt8($0)] }))
                #expect(redelivered.allSatisfy { $0.redelivered })
                try await standby.cancel()
            }
            try await standbyConnection.deleteQueue(queue)
        }
    }
}
