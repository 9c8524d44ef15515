import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWorkers
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Synchronization
import TestSupport
import Testing

/// A database that stops answering without closing its connections (paused, a silent network, a
/// failover under way). `Disruptive…`: it lowers the process's database time limit, which must
/// not cut other suites' slow statements, so `scripts/test` runs it on its own.
@Suite(.serialized, .enabled(if: DatabaseEnvironment.isConfigured && BrokerVirtualHost.isConfigured))
struct DisruptiveSilentDatabaseTests {
    static let logger = DatabaseEnvironment.logger

    @Test func aSilentDatabaseIsAnswered503WithinTheLimitAndReadsComeBackByThemselves() async throws {
        DatabaseTimeout.set(.seconds(2))
        defer { DatabaseTimeout.set(.seconds(10)) }
        try await APIHarness.withAPI { _, harness in
            let (proxy, database) = try harness.databaseBehindProxy()
            defer { proxy.close() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.run() }
                defer { group.cancelAll() }
                let services = await APIHarness.services(database, broker: harness.broker, partitions: 2)
                let app = Application(router: buildAPIRouter(services))
                try await app.test(.router) { client in
                    let alice = Buyer(client, "alice")
                    func balance() async throws -> (HTTPResponse.Status, Duration, String?) {
                        let started = ContinuousClock.now
                        let response = try await alice.send(.get, "/v1/users/alice/balance", headers: APIHarness.authorization("alice"))
                        return (response.status, ContinuousClock.now - started, response.headers[.retryAfter])
                    }
                    #expect(try await balance().0 == .ok)

                    proxy.freeze()
                    // Every pooled connection is silent now, and so is every new one.
                    for _ in 0..<3 {
                        let (status, took, retryAfter) = try await balance()
                        #expect(status == .serviceUnavailable)
                        #expect(took < .seconds(5), "answered after \(took)")
                        #expect(retryAfter != nil)
                    }

                    proxy.thaw()
                    try await eventually(timeout: .seconds(15), "reads come back once the database answers") {
                        try await balance().0 == .ok
                    }
                }
            }
        }
    }

    /// A worker whose database goes silent, and stays silent at connect: its attempts keep
    /// failing within the time limit (the wait for a connection included), each logged and
    /// counted, the batch unacknowledged; once the database answers, the command is applied.
    @Test func aWorkerWaitsForAConnectionOnlyWithinTheLimitAndRetries() async throws {
        DatabaseTimeout.set(.seconds(2))
        defer { DatabaseTimeout.set(.seconds(10)) }
        try await APIHarness.withAPI(pipeline: .init(partitions: 1, inProcessWorkers: false)) { client, harness in
            let (proxy, database) = try harness.databaseBehindProxy(connectTimeout: .seconds(2))
            defer { proxy.close() }
            let captured = CapturedLog()
            let workerLogger = Logger(label: "worker") { _ in captured.handler }
            let connection = AMQPConnection(configuration: harness.amqp, logger: Self.logger)
            let worker = PartitionWorker(
                partition: 0,
                connection: connection,
                database: database,
                publisher: CommandPublisher(connection: connection, partitions: 1),
                replies: ReplySender(connection: connection, local: nil, logger: Self.logger),
                settings: .init(holdDuration: 300),
                logger: workerLogger
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.run() }
                group.addTask { try await connection.run() }
                group.addTask { try await worker.run() }
                defer { group.cancelAll() }

                var buyer = Buyer(client, "patient")
                try await buyer.queue()
                try await harness.admit()
                let date = try await PurchaseFlowTests.firstDate(buyer)
                #expect(try await buyer.reserve(seat: 1, date: date).status == .created)

                proxy.freeze()
                let response = try await buyer.send(.post, "/v1/reservations", #"{"concertId":1,"date":"\#(date)","seatNumber":2}"#)
                #expect(response.status == .accepted)
                let id = try #require(try response.json()["commandId"]?.string)
                // The first attempt's statement times out; the next ones wait for a connection the
                // pool cannot open (the server accepts, then says nothing) — each within the limit.
                try await eventually(timeout: .seconds(20), "the worker retries within the time limit") {
                    captured.messages.filter { $0.contains("database unavailable") }.count >= 3
                }
                #expect(!captured.messages.contains { $0.contains("batch attempt failed") })

                proxy.thaw()
                try await eventually(timeout: .seconds(20), "the command is applied once the database answers") {
                    let body = try await buyer.send(.get, "/v1/commands/\(id)", headers: APIHarness.authorization("patient")).json()
                    return body["status"]?.string == "succeeded"
                }
            }
        }
    }

    /// The broker lost a publish's confirm while the database was down too: the unknown outcome
    /// is kept and recorded once the database answers, so the id's pending state is bounded.
    @Test func anUnknownOutcomeTheDatabaseCouldNotTakeIsRecordedWhenItAnswers() async throws {
        DatabaseTimeout.set(.seconds(2))
        defer { DatabaseTimeout.set(.seconds(10)) }
        try await APIHarness.withAPI { _, harness in
            let (proxy, database) = try harness.databaseBehindProxy()
            defer { proxy.close() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.run() }
                defer { group.cancelAll() }
                let recorder = UnknownOutcomeRecorder(store: CommandStore(client: database, logger: Self.logger), logger: Self.logger)
                let envelope = UnknownOutcomeTests.envelope(harness, seat: 9, date: "2026-01-01", user: "unsure")
                proxy.freeze()
                await recorder.record(envelope, bound: 1)
                #expect(recorder.waiting == 1)
                await recorder.flush()
                #expect(recorder.waiting == 1, "still kept while the database is silent")
                #expect(try await harness.services.commands.find(envelope.id) == nil)

                proxy.thaw()
                try await eventually(timeout: .seconds(15), "recorded once the database answers") {
                    await recorder.flush()
                    return recorder.waiting == 0
                }
                #expect(try await harness.services.commands.find(envelope.id)?.status == .pending)
                try await Task.sleep(for: .seconds(1.5))
                #expect(try await harness.services.commands.find(envelope.id)?.failure == .outcomeUnknownExpired)
            }
        }
    }
}

/// Log lines of one logger, kept for a test to read.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])
    var messages: [String] { lines.withLock { $0 } }

    var handler: Handler { Handler(log: self) }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            log.lines.withLock { $0.append(event.message.description) }
        }
    }
}
