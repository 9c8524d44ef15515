import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

@testable import AMQPClient

/// The RabbitMQ that `scripts/test` started, and helpers to use it from tests.
enum BrokerEnvironment {
    /// Integration tests run when a broker is configured (`CONCERT_AMQP_URL`) or demanded
    /// (`CONCERT_REQUIRE_SERVICES=1`, as `scripts/test` sets). A configured broker that is down
    /// makes them fail — they never pass or skip silently against a missing service.
    static let isConfigured: Bool = {
        let environment = ProcessInfo.processInfo.environment
        return environment["CONCERT_AMQP_URL"] != nil || environment["CONCERT_REQUIRE_SERVICES"] == "1"
    }()

    static var configuration: AMQPConfiguration {
        get throws {
            let url = ProcessInfo.processInfo.environment["CONCERT_AMQP_URL"] ?? "amqp://concert:concert@127.0.0.1:5672/%2F"
            var configuration = try AMQPConfiguration(url: url)
            configuration.connectionName = "amqp-client-tests"
            configuration.heartbeat = .seconds(2)
            configuration.reconnectBackoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(500))
            return configuration
        }
    }

    static let logger: Logger = {
        var logger = Logger(label: "amqp-client-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["CONCERT_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error
        return logger
    }()

    /// A name no other test uses.
    static func uniqueName(_ prefix: String) -> String {
        "test.\(prefix).\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Runs `body` with a running connection and shuts it down afterwards.
    ///
    /// Fails with a clear message when the broker cannot be reached.
    static func withConnection<Result: Sendable>(
        _ configuration: AMQPConfiguration? = nil,
        _ body: (AMQPConnection) async throws -> Result
    ) async throws -> Result {
        let configuration = try configuration ?? self.configuration
        return try await TestSupport.withRunning(AMQPConnection(configuration: configuration, logger: logger)) { connection in
            do {
                try await connection.waitUntilConnected(timeout: .seconds(10))
            } catch {
                Issue.record("RabbitMQ is not reachable at \(configuration) — start it with scripts/services up (\(error))")
                throw error
            }
            return try await body(connection)
        }
    }

    /// Runs `scripts/services rabbitmqctl ARGS` (to list or close connections) and returns its output.
    @discardableResult
    static func rabbitmqctl(_ arguments: String...) async throws -> String {
        try await rabbitmqctl(arguments, disturbing: false)
    }

    /// Stops or starts the broker's application (`rabbitmqctl -q stop_app` / `start_app`).
    static func brokerApp(_ action: String) async throws {
        try await rabbitmqctl(["-q", action], disturbing: true)
    }

    @discardableResult
    private static func rabbitmqctl(_ arguments: [String], disturbing: Bool) async throws -> String {
        let (status, output) = try await ServicesScript.output(["rabbitmqctl"] + arguments, disturbing: disturbing)
        guard status == 0 else {
            throw TestFailure(description: "rabbitmqctl \(arguments.joined(separator: " ")) exited with \(status)")
        }
        return output
    }

    /// Closes, from the broker's side, every client connection whose `connection_name` is `name`
    /// — as a crashed process or a dead network would end it.
    static func closeConnections(named name: String) async throws {
        // One line per connection: `<pid>\t[…,{"connection_name","NAME"}]`.
        let listing = try await rabbitmqctl("list_connections", "-q", "--no-table-headers", "pid", "client_properties")
        let pids = listing.split(separator: "\n")
            .filter { $0.contains("{\"connection_name\",\"\(name)\"}") }
            .compactMap { $0.split(separator: "\t").first.map(String.init) }
        guard !pids.isEmpty else { throw TestFailure(description: "no connection named \(name) in \(listing)") }
        for pid in pids { try await rabbitmqctl("close_connection", pid, "closed by a test") }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
}

/// Collects a consumer's deliveries on a task of its own, so tests can wait for them with a deadline.
///
/// (Cancelling a task that awaits an `AsyncThrowingStream` ends the stream, so a test must not time out
/// an individual `next()`.)
final class DeliveryCollector: Sendable {
    private final class State: Sendable {
        let mutex = Mutex<(deliveries: [AMQPDelivery], error: (any Error)?, finished: Bool)>(([], nil, false))
    }

    private let state = State()
    private let task: Task<Void, Never>

    /// Starts iterating `consumer`; with `autoAck` every delivery is acknowledged as it arrives.
    init(_ consumer: AMQPConsumer, autoAck: Bool = false) {
        let state = self.state
        task = Task {
            do {
                for try await delivery in consumer {
                    if autoAck { try consumer.ack(delivery) }
                    state.mutex.withLock { $0.deliveries.append(delivery) }
                }
                state.mutex.withLock { $0.finished = true }
            } catch {
                state.mutex.withLock {
                    $0.error = error
                    $0.finished = true
                }
            }
        }
    }

    deinit { task.cancel() }

    var deliveries: [AMQPDelivery] { state.mutex.withLock(\.deliveries) }
    var count: Int { state.mutex.withLock(\.deliveries.count) }
    var error: (any Error)? { state.mutex.withLock(\.error) }
    var finished: Bool { state.mutex.withLock(\.finished) }

    /// Waits until at least `count` deliveries arrived and returns them.
    @discardableResult
    func waitFor(_ count: Int, timeout: Duration = .seconds(10)) async throws -> [AMQPDelivery] {
        try await eventually(timeout: timeout, "\(count) deliveries arrived (have \(self.count))") { self.count >= count }
        return deliveries
    }
}
