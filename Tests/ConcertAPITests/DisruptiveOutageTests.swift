import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertPipeline
import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import TestSupport
import Testing

/// Outages of a whole service under a running pipeline: a database that turns read-only, a broker
/// or a database that stops, and SIGTERM in the middle of them. `scripts/test` runs `Disruptive…`
/// suites after the others, one at a time.
@Suite(.serialized, .enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct DisruptiveOutageTests {
    static let logger = DatabaseEnvironment.logger

    static func services(_ arguments: String...) async {
        let status = await ServicesScript.run(arguments)
        #expect(status == 0, "scripts/services \(arguments)")
    }

    /// Cuts every connection to the test's database, the one asking included (the error it gets
    /// is expected), so that every session is new and takes the database's new defaults.
    static func reconnectEveryone(_ harness: APIHarness) async throws {
        _ = try? await harness.client.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() ORDER BY pid = pg_backend_pid()",
            logger: logger
        )
    }

    static func status(of command: String, _ buyer: Buyer) async throws -> String? {
        try? await buyer.send(.get, "/v1/commands/\(command)").json()["status"]?.string
    }

    /// After a failover the database may come back read-only for a while (SQLSTATE 25006): the
    /// worker must keep its batch and retry, not dead-letter the commands as failures.
    @Test func aReadOnlyDatabaseDelaysCommandsAndDeadLettersNone() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1)) { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.queue()
            try await harness.admit()
            let date = try await PurchaseFlowTests.firstDate(alice)
            #expect(try await alice.reserve(seat: 1, date: date).status == .created)

            let database = try await harness.client.query("SELECT current_database()", logger: Self.logger).decode(String.self).reduce("", +)
            try await harness.client.query(
                PostgresQuery(unsafeSQL: "ALTER DATABASE \"\(database)\" SET default_transaction_read_only = on"),
                logger: Self.logger
            )
            do {
                try await Self.reconnectEveryone(harness)
                let queued = try await alice.send(.post, "/v1/reservations", #"{"concertId":1,"date":"\#(date)","seatNumber":2}"#)
                #expect(queued.status == .accepted)
                let command = try #require(try queued.json()["commandId"]?.string)
                try await Task.sleep(for: .seconds(3))
                let during = try await Self.status(of: command, alice)
                #expect(during == "pending", "\(String(describing: during))")
                #expect(try await PipelineFaultTests.count("SELECT count(*) FROM dead_letters", harness) == 0)

                try await Self.writable(database, harness)
                try await eventually(timeout: .seconds(30), "the reservation is applied once the database takes writes") {
                    try await Self.status(of: command, alice) == "succeeded"
                }
                #expect(try await PipelineFaultTests.count("SELECT count(*) FROM dead_letters", harness) == 0)
            } catch {
                try? await Self.writable(database, harness)
                throw error
            }
        }
    }

    static func writable(_ database: String, _ harness: APIHarness) async throws {
        try await harness.client.withConnection { connection in
            try await connection.query("SET default_transaction_read_only = off", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \"\(database)\" RESET default_transaction_read_only"), logger: logger)
        }
        try await reconnectEveryone(harness)
    }

    /// SIGTERM while the broker is down: the worker stops within seconds, without waiting for the connection.
    @Test func sigtermDuringABrokerOutageStopsAWorkerWithinSeconds() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1, inProcessWorkers: false)) { _, harness in
            let worker = try await harness.startWorker(partitions: 1, name: "broker-outage")
            defer { if worker.isRunning { worker.send(SIGKILL) } }
            try await eventually("the worker consumes") {
                try await harness.broker.inspectQueue(PipelineTopology.partitionQueue(0)).consumerCount == 1
            }
            await Self.services("rabbitmqctl", "-q", "stop_app")
            // No `defer` for the start (it would have to await): it follows whatever happens here.
            try? await Task.sleep(for: .seconds(1))
            let (stopped, status) = await Self.terminate(worker)
            await Self.services("rabbitmqctl", "-q", "start_app")
            #expect(stopped < .seconds(15), "stopped after \(stopped)")
            #expect(status == 0)
        }
    }

    /// SIGTERM while the database is down and the worker holds a batch it cannot commit: it stops
    /// within seconds without acknowledging the batch, which the next worker applies.
    @Test func sigtermDuringADatabaseOutageStopsAWorkerAndLosesNothing() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1, inProcessWorkers: false)) { client, harness in
            let first = try await harness.startWorker(partitions: 1, name: "database-outage")
            defer { if first.isRunning { first.send(SIGKILL) } }
            var alice = Buyer(client, "alice")
            try await alice.queue()
            try await harness.admit()
            let date = try await PurchaseFlowTests.firstDate(alice)
            #expect(try await alice.reserve(seat: 1, date: date).status == .created)

            await Self.services("stop-postgres")
            let command: String
            do {
                // The API needs no database to accept a command from an admitted buyer.
                let queued = try await alice.send(.post, "/v1/reservations", #"{"concertId":1,"date":"\#(date)","seatNumber":2}"#)
                #expect(queued.status == .accepted)
                command = try #require(try queued.json()["commandId"]?.string)
                try await Task.sleep(for: .seconds(2))
                let (stopped, status) = await Self.terminate(first)
                #expect(stopped < .seconds(15), "stopped after \(stopped)")
                #expect(status == 0)
            } catch {
                await Self.services("start-postgres")
                throw error
            }
            await Self.services("start-postgres")

            let second = try await harness.startWorker(partitions: 1, name: "after-outage")
            defer { if second.isRunning { second.send(SIGKILL) } }
            try await eventually(timeout: .seconds(30), "the next worker applies the command") {
                try await Self.status(of: command, alice) == "succeeded"
            }
            second.terminate()
        }
    }

    /// The broker stops confirming (a memory alarm blocks publishers) and then the connection is
    /// closed under a submission: the command may or may not be enqueued, and the client is told
    /// so — `503 OUTCOME_UNKNOWN` with the command's id and where to poll — not "nothing was done".
    @Test func aConnectionLostBeforeTheConfirmAnswersOutcomeUnknownWithTheCommandId() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 1)) { client, harness in
            var alice = Buyer(client, "alice")
            try await alice.queue()
            try await harness.admit()
            let date = try await PurchaseFlowTests.firstDate(alice)
            #expect(try await alice.reserve(seat: 1, date: date).status == .created)

            await Self.services("rabbitmqctl", "-q", "set_vm_memory_high_watermark", "0")
            let submitter = alice
            let response: TestResponse
            do {
                async let submitted = submitter.send(.post, "/v1/reservations", #"{"concertId":1,"date":"\#(date)","seatNumber":2}"#)
                try await Task.sleep(for: .seconds(1))
                try await BrokerVirtualHost.closeConnections(in: harness.amqp.virtualHost)
                response = try await submitted
            } catch {
                await Self.services("rabbitmqctl", "-q", "set_vm_memory_high_watermark", "0.4")
                throw error
            }
            await Self.services("rabbitmqctl", "-q", "set_vm_memory_high_watermark", "0.4")
            #expect(response.status == .serviceUnavailable)
            let body = try response.json()
            #expect(body["code"] == "OUTCOME_UNKNOWN")
            let command = try #require(body["commandId"]?.string)
            #expect(response.headers[.location] == "/v1/commands/\(command)")
            #expect(response.headers[.retryAfter] != nil)
        }
    }

    /// Sends SIGTERM and waits (at most 20 s, then SIGKILL) for the process to end; returns how
    /// long it took and its exit status (nil: it had to be killed).
    static func terminate(_ process: SpawnedProcess) async -> (elapsed: Duration, status: Int32?) {
        let started = ContinuousClock.now
        let status = await process.stop(timeout: .seconds(20))
        return (ContinuousClock.now - started, status)
    }
}
