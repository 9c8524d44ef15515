import Foundation
import TestSupport
import Testing

@testable import AMQPClient

/// A connection given the nodes of a cluster: two proxies in front of the one test broker stand
/// in for two nodes, so that a test can make one "node" vanish.
@Suite(.enabled(if: BrokerEnvironment.isConfigured))
struct ClusterAddressTests {
    /// The test broker's configuration with `nodes` as its addresses, the first one tried first.
    static func configuration(nodes: [Int]) throws -> AMQPConfiguration {
        var configuration = try BrokerEnvironment.configuration
        configuration.addresses = nodes.map { AMQPAddress(host: "127.0.0.1", port: $0) }
        configuration.firstAddressIndex = 0
        configuration.connectTimeout = .seconds(2)
        return configuration
    }

    @Test func aDeadFirstNodeIsSkippedWithoutWaitingForTheBackOff() async throws {
        let broker = try BrokerEnvironment.configuration
        let node = try SeverableProxy(targetPort: broker.port)
        defer { node.close() }
        var configuration = try Self.configuration(nodes: [1, node.port])
        // A back-off long enough to tell "moved on at once" from "waited".
        configuration.reconnectBackoff = Backoff(initial: .seconds(20), maximum: .seconds(20))
        let started = ContinuousClock.now
        try await BrokerEnvironment.withConnection(configuration) { connection in
            #expect(ContinuousClock.now - started < .seconds(5))
            let queue = try await connection.declare(AMQPQueue(name: "", durable: false, exclusive: true, autoDelete: true)).name
            try await connection.publish(routingKey: queue, body: Array("via the second node".utf8))
            #expect(try await connection.get(queue: queue).map { String(decoding: $0.body, as: UTF8.self) } == "via the second node")
        }
    }

    @Test func losingTheNodeMovesTheConnectionToTheNextOne() async throws {
        let broker = try BrokerEnvironment.configuration
        let first = try SeverableProxy(targetPort: broker.port)
        let second = try SeverableProxy(targetPort: broker.port)
        defer {
            first.close()
            second.close()
        }
        let configuration = try Self.configuration(nodes: [first.port, second.port])
        try await BrokerEnvironment.withConnection(configuration) { connection in
            let queue = BrokerEnvironment.uniqueName("failover")
            try await connection.declare(AMQPQueue(name: queue, arguments: ["x-queue-type": "quorum"]))
            try await connection.publish(routingKey: queue, body: Array("before".utf8))
            #expect(first.connectionsAccepted == 1 && second.connectionsAccepted == 0)

            // The first node goes away for good: nothing listens there any more.
            first.close()
            try await eventually(timeout: .seconds(15), "the connection is back, through the second node") {
                connection.isConnected && second.connectionsAccepted == 1
            }
            try await connection.publish(routingKey: queue, body: Array("after".utf8))
            var bodies: [String] = []
            while let delivery = try await connection.get(queue: queue) {
                bodies.append(String(decoding: delivery.body, as: UTF8.self))
                try connection.ack(delivery)
            }
            #expect(bodies == ["before", "after"])
            _ = try await connection.deleteQueue(queue)
        }
    }
}
