public import AMQPClient
public import ConcertPipeline
import Foundation
public import Logging
import Metrics
public import ServiceLifecycle

/// Publishes every pipeline queue's depth as a gauge (`concert_queue_ready_messages{queue}`),
/// read with passive declares every few seconds.
public struct QueueDepthMonitor: Service {
    let connection: AMQPConnection
    let topology: PipelineTopology
    let interval: Duration
    let logger: Logger

    public init(connection: AMQPConnection, topology: PipelineTopology, interval: Duration = .seconds(5), logger: Logger) {
        self.connection = connection
        self.topology = topology
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sample()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Reads each queue once.
    public func sample() async {
        for queue in topology.queues {
            do {
                let state = try await connection.inspectQueue(queue.name)
                Gauge(label: "concert_queue_ready_messages", dimensions: [("queue", queue.name)]).record(state.messageCount)
            } catch {
                logger.debug("queue depth not read", metadata: ["queue": "\(queue.name)", "error": "\(error)"])
            }
        }
    }
}
