import AMQPClient
import ConcertDomain
import ConcertStorage
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TestSupport
import Testing

@testable import ConcertPipeline
@testable import ConcertWorkers

@Suite(.enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct AdmissionTickerTests {
    /// The tick travels delay queue → admission queue → admitter, which admits and re-arms it.
    @Test func ticksArmedByTheWatchdogAdmitWaitingTokensAndKeepCirculating() async throws {
        try await BrokerVirtualHost.withVirtualHost { configuration in
            try await DatabaseEnvironment.withSeededDatabase { database in
                try await withConnection(configuration) { connection in
                    let topology = PipelineTopology(partitions: 2, holdSeconds: 300, tickMilliseconds: 200)
                    try await topology.apply(to: connection)
                    let logger = DatabaseEnvironment.logger
                    let store = WaitingRoomStore(client: database, logger: logger)
                    let concert = ConcertID(1)!
                    for user in ["a", "b", "c"] { _ = try await store.issue(concert: concert, user: UserID(user)!) }

                    let ticker = AdmissionTicker(
                        connection: connection,
                        store: store,
                        settings: .init(policy: .init(capacity: 2, admitPerSecond: 0)),
                        logger: logger
                    )
                    let watchdog = TickWatchdog(connection: connection, logger: logger, interval: .milliseconds(200))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await ticker.run() }
                        group.addTask { try await watchdog.run() }
                        defer { group.cancelAll() }

                        // No tick exists at first: the watchdog arms one, and admission follows.
                        try await eventually("two tokens are admitted") { try await store.admissionMarks()[concert] == 2 }
                        #expect(try await store.token(concert: concert, seq: 3)?.state == .waiting)

                        // A place frees up: a later tick (the same circulating one) admits the third.
                        try await store.expire(concert: concert, seq: 1)
                        try await eventually("the third token is admitted") { try await store.token(concert: concert, seq: 3)?.state == .active }

                        // A duplicate tick (say, from a second watchdog) does not multiply: it is dropped.
                        try await AdmissionTicker.publish(Tick(id: UUID(), sentAt: Date()), on: connection)
                        try await Task.sleep(for: .seconds(2))
                        let inFlight =
                            try await connection.inspectQueue(PipelineTopology.tickDelayQueue).messageCount
                            + connection.inspectQueue(PipelineTopology.admissionQueue).messageCount
                        #expect(inFlight <= 1, "\(inFlight) ticks in flight")
                    }
                }
            }
        }
    }
}
