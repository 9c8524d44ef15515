import AMQPClient
import Foundation
import Logging
import TestSupport
import Testing

@testable import ConcertPipeline

@Suite struct TopologyDefinitionTests {
    @Test func theCheckedInDefinitionsAreWhatTheCodeDeclares() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = root.appendingPathComponent("topology/definitions.json")
        let checkedIn = try Data(contentsOf: file)
        #expect(
            checkedIn == PipelineTopology().definitionsJSON(),
            "topology/definitions.json is stale: run `concert topology export` (with the default CONCERT_PARTITIONS and CONCERT_HOLD_SECONDS)"
        )
    }

    @Test func everyPartitionIsRoutedAndDelayedBackToItself() {
        let topology = PipelineTopology(partitions: 4, holdSeconds: 300)
        for partition in 0..<4 {
            let key = PipelineTopology.partitionRoutingKey(partition)
            #expect(
                topology.bindings.contains(
                    AMQPBinding(queue: PipelineTopology.partitionQueue(partition), exchange: "concert.commands", routingKey: key)
                )
            )
            #expect(topology.bindings.contains(AMQPBinding(queue: "concert.delay.hold", exchange: "concert.delay", routingKey: key)))
        }
        let hold = topology.queues.first { $0.name == "concert.delay.hold" }
        #expect(hold?.arguments["x-message-ttl"] == 300_000)
        #expect(hold?.arguments["x-dead-letter-routing-key"] == nil, "expired holds keep their partition's routing key")
        let partition = topology.queues.first { $0.name == "concert.commands.p0" }
        #expect(partition?.arguments["x-single-active-consumer"] == true)
        #expect(partition?.arguments["x-queue-type"] == "quorum")
        #expect(partition?.arguments["x-dead-letter-exchange"] == "concert.dead-letter")
    }

    @Test func everyQueueIsReplicatedAndDeadLettersAtLeastOnce() {
        for queue in PipelineTopology().queues {
            #expect(queue.arguments["x-queue-type"] == "quorum", "\(queue.name)")
            #expect(queue.arguments["x-quorum-initial-group-size"] == 3, "\(queue.name)")
            #expect(queue.arguments["x-queue-leader-locator"] == "balanced", "\(queue.name)")
            if queue.arguments["x-dead-letter-exchange"] != nil {
                // An expiring hold or a poison command must not vanish with a node between two queues.
                #expect(queue.arguments["x-dead-letter-strategy"] == "at-least-once", "\(queue.name)")
                #expect(queue.arguments["x-overflow"] == "reject-publish", "\(queue.name)")
            }
        }
        let dead = PipelineTopology().queues.filter { $0.arguments["x-dead-letter-exchange"] != nil }.map(\.name)
        #expect(Set(dead).isSuperset(of: ["concert.delay.hold", "concert.delay.tick", "concert.commands.p0"]))
    }
}

@Suite(.enabled(if: BrokerVirtualHost.isConfigured))
struct TopologyBrokerTests {
    @Test func applyingTwiceIsIdempotentAndAChangedHoldLengthIsRefused() async throws {
        try await BrokerVirtualHost.withVirtualHost { configuration in
            try await withConnection(configuration) { connection in
                let topology = PipelineTopology(partitions: 4, holdSeconds: 300)
                try await topology.apply(to: connection)
                try await topology.apply(to: connection)
                for queue in topology.queues {
                    #expect(try await connection.inspectQueue(queue.name).name == queue.name)
                }
                let error = await #expect(throws: PipelineTopology.Mismatch.self) {
                    try await PipelineTopology(partitions: 4, holdSeconds: 60).apply(to: connection)
                }
                // The broker's reason, the queue, and where to read what to do.
                #expect(error?.description.contains("inequivalent arg 'x-message-ttl'") == true)
                #expect(error?.description.contains("queue concert.delay.hold") == true)
                #expect(error?.description.contains("topology/README.md") == true)
            }
        }
    }

    /// Processes started together (an API and a worker) each declare the topology: one that
    /// looks while another is still declaring must not take the queues so far for another count.
    @Test func aProcessDeclaringWhileAnotherDoesSucceeds() async throws {
        try await BrokerVirtualHost.withVirtualHost { configuration in
            let topology = PipelineTopology(partitions: 8, holdSeconds: 300)
            try await withConnection(configuration) { first in
                try await withConnection(configuration) { second in
                    async let declaring: Void = topology.apply(to: first)
                    while try await !second.queueExists(PipelineTopology.partitionQueue(0)) { try await Task.sleep(for: .milliseconds(2)) }
                    try await topology.apply(to: second)
                    try await declaring
                    #expect(try await PipelineTopology.declaredPartitions(on: second) == 8)
                }
            }
        }
    }
}
