import AMQPClient
import ConcertDomain
import ConcertStorage
import Foundation
import Logging
import PostgresNIO
import TestSupport
import Testing

@testable import ConcertPipeline
@testable import ConcertWorkers

/// The admitter and the dead-letter archiver across a broker restart and a database outage:
/// neither may stop for good. `scripts/test` runs `Disruptive…` suites after the others, one at a time.
@Suite(.serialized, .enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct DisruptiveAdmissionTests {
    static func services(_ arguments: String...) async {
        #expect(await ServicesScript.run(arguments) == 0, "scripts/services \(arguments)")
    }

    @Test func admissionAndArchivingCarryOnAcrossABrokerRestartAndADatabaseOutage() async throws {
        try await BrokerVirtualHost.withVirtualHost { configuration in
            try await DatabaseEnvironment.withSeededDatabase { database in
                try await withConnection(configuration) { connection in
                    let topology = PipelineTopology(partitions: 1, holdSeconds: 300, tickMilliseconds: 200)
                    try await topology.apply(to: connection)
                    let logger = DatabaseEnvironment.logger
                    let store = WaitingRoomStore(client: database, logger: logger)
                    let concert = ConcertID(1)!
                    for user in ["a", "b", "c", "d"] { _ = try await store.issue(concert: concert, user: UserID(user)!) }
                    let ticker = AdmissionTicker(
                        connection: connection,
                        store: store,
                        settings: .init(policy: .init(capacity: 2, admitPerSecond: 0), activeSeconds: 3600, abandonSeconds: 3600),
                        logger: logger
                    )
                    let watchdog = TickWatchdog(connection: connection, logger: logger, interval: .milliseconds(500))
                    let archiver = DeadLetterArchiver(connection: connection, database: database, logger: logger)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await ticker.run() }
                        group.addTask { try await watchdog.run() }
                        group.addTask { try await archiver.run() }
                        defer { group.cancelAll() }
                        try await eventually("two tokens are admitted") { try await store.admissionMarks()[concert] == 2 }

                        // The broker restarts: every connection, consumer and unacknowledged tick is gone.
                        await Self.services("rabbitmqctl", "-q", "stop_app")
                        try await Task.sleep(for: .seconds(1))
                        await Self.services("rabbitmqctl", "-q", "start_app")
                        try await connection.waitUntilConnected(timeout: .seconds(30))
                        try await store.expire(concert: concert, seq: 1)
                        try await eventually(timeout: .seconds(30), "the third token is admitted after the broker restart") {
                            try await store.token(concert: concert, seq: 3)?.state == .active
                        }

                        // The database goes away while a letter arrives and ticks keep coming.
                        await Self.services("stop-postgres")
                        do {
                            try await connection.publish(
                                exchange: PipelineTopology.deadLetterExchange,
                                routingKey: "p.0",
                                body: Array("during the outage".utf8),
                                properties: AMQPMessageProperties(messageId: "letter-during-outage", headers: ["x-concert-reason": .string("test")]),
                                mandatory: true
                            )
                            try await Task.sleep(for: .seconds(3))
                        } catch {
                            await Self.services("start-postgres")
                            throw error
                        }
                        await Self.services("start-postgres")
                        try await eventually(timeout: .seconds(30), "the database answers again") {
                            (try? await store.expire(concert: concert, seq: 2)) != nil
                        }
                        try await eventually(timeout: .seconds(30), "the fourth token is admitted after the database outage") {
                            try await store.token(concert: concert, seq: 4)?.state == .active
                        }
                        try await eventually(timeout: .seconds(30), "the letter is archived") {
                            try await database.query("SELECT count(*) FROM dead_letters WHERE message_id = 'letter-during-outage'", logger: logger)
                                .decode(Int.self).reduce(0, +) == 1
                        }
                    }
                }
            }
        }
    }
}
