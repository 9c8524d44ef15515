public import AMQPClient
import ConcertPipeline
import Foundation
public import Logging
public import ServiceLifecycle

/// Re-arms the admission tick when none is in flight: both the tick delay queue and the
/// admission queue empty on two checks in a row. Every process may run one; a tick too many is
/// dropped by the admitter.
public struct TickWatchdog: Service {
    let connection: AMQPConnection
    let logger: Logger
    let interval: Duration

    public init(connection: AMQPConnection, logger: Logger, interval: Duration = .seconds(2)) {
        self.connection = connection
        self.logger = logger
        self.interval = interval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var emptyChecks = 0
            while !Task.isCancelled {
                do {
                    let delayed = try await connection.inspectQueue(PipelineTopology.tickDelayQueue).messageCount
                    let waiting = try await connection.inspectQueue(PipelineTopology.admissionQueue).messageCount
                    emptyChecks = delayed + waiting == 0 ? emptyChecks + 1 : 0
                    if emptyChecks >= 2 {
                        try await AdmissionTicker.publish(Tick(id: UUID(), sentAt: Date()), on: connection)
                        logger.info("admission: tick re-armed")
                        emptyChecks = 0
                    }
                } catch {
                    logger.debug("admission: watchdog check failed", metadata: ["error": "\(String(reflecting: error))"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
