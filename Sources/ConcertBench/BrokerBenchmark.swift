import AMQPClient
import ArgumentParser
import Foundation
import Logging

/// `concert-bench broker`: raw librabbitmq vs. AMQPClient, same broker, same run.
struct BrokerBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Publish-with-confirms and consume+ack rates: a raw librabbitmq loop (the ceiling) vs. AMQPClient."
    )

    @Option(help: "Messages per measurement.") var messages = 20_000
    @Option(help: "Body size in bytes (a command envelope is about 300).") var size = 300
    @Option(help: "Rounds; the table shows each side's median.") var rounds = 3
    @Option(help: "AMQPClient publishes in flight at once.") var inFlight = 1_000
    @Option(help: "Raw loop: wait for confirms after this many publishes.") var confirmWindow = 500
    @Option(help: "Consumer prefetch (both sides).") var prefetch: UInt16 = 500

    func run() async throws {
        let url = ProcessInfo.processInfo.environment["CONCERT_AMQP_URL"] ?? "amqp://concert:concert@127.0.0.1:5672/%2F"
        var configuration = try AMQPConfiguration(url: url)
        configuration.connectionName = "concert-bench"
        var logger = Logger(label: "concert-bench")
        logger.logLevel = .warning
        let connection = AMQPConnection(configuration: configuration, logger: logger)
        let body = Self.envelope(size: size)

        let raw = RawBrokerLoop(configuration: configuration, confirmWindow: confirmWindow, prefetch: prefetch)
        let wrapper = WrapperBrokerLoop(connection: connection, inFlight: inFlight, prefetch: prefetch)
        var rawRates: [(publish: Double, consume: Double)] = []
        var wrapperRates: [(publish: Double, consume: Double)] = []

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await connection.run() }
            defer { group.cancelAll() }
            try await connection.waitUntilConnected(timeout: .seconds(10))

            for round in 1...rounds {
                // Alternate which side goes first, so drift on a shared machine does not favour one.
                for side in round % 2 == 1 ? ["raw", "wrapper"] : ["wrapper", "raw"] {
                    let queue = "bench.\(side).\(UUID().uuidString.prefix(8))"
                    try await connection.declare(AMQPQueue(name: queue, arguments: ["x-queue-type": "quorum"]))
                    let publish: Duration
                    let consume: Duration
                    if side == "raw" {
                        publish = try await Self.onThread { try raw.publish(count: messages, body: body, queue: queue) }
                        consume = try await Self.onThread { try raw.consume(count: messages, queue: queue) }
                    } else {
                        publish = try await wrapper.publish(count: messages, body: body, queue: queue)
                        consume = try await wrapper.consume(count: messages, queue: queue)
                    }
                    try await connection.deleteQueue(queue)
                    let rates = (publish: Self.rate(messages, publish), consume: Self.rate(messages, consume))
                    if side == "raw" { rawRates.append(rates) } else { wrapperRates.append(rates) }
                    print("round \(round) \(side.padding(toLength: 8, withPad: " ", startingAt: 0))" + String(format: "publish+confirm %8.0f/s   consume+ack %8.0f/s", rates.publish, rates.consume))
                }
            }
        }

        let rawPublish = Self.median(rawRates.map(\.publish))
        let rawConsume = Self.median(rawRates.map(\.consume))
        let wrapperPublish = Self.median(wrapperRates.map(\.publish))
        let wrapperConsume = Self.median(wrapperRates.map(\.consume))
        print("")
        print("broker: \(messages) persistent \(body.count)-byte messages per measurement, quorum queue, median of \(rounds) rounds")
        print("                      publish+confirm/s   consume+ack/s")
        print(String(format: "raw librabbitmq       %17.0f   %13.0f", rawPublish, rawConsume))
        print(String(format: "AMQPClient            %17.0f   %13.0f", wrapperPublish, wrapperConsume))
        print(String(format: "broker ratio publish=%.2f consume=%.2f", wrapperPublish / rawPublish, wrapperConsume / rawConsume))
    }

    /// A JSON body shaped like a reservation command envelope, padded to `size` bytes.
    static func envelope(size: Int) -> [UInt8] {
        let base = #"{"id":"6f1c2b8e-3d4a-4c5b-9e7f-1a2b3c4d5e6f","type":"ReserveSeat","version":1,"userId":"user-000042","#
            + #""partitionKey":"concert-1/2026-12-24","payload":{"concertId":1,"date":"2026-12-24","seatNumber":17},"#
            + #""submittedAt":"2026-11-25T12:00:00Z","pad":""#
        let padding = String(repeating: "x", count: max(0, size - base.utf8.count - 2))
        return Array((base + padding + #""}"#).utf8)
    }

    /// Runs a blocking librabbitmq loop on a thread of its own, never on the concurrency pool.
    static func onThread<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Swift.Result { try body() }) }.start()
        }
    }

    static func rate(_ count: Int, _ elapsed: Duration) -> Double {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(count) / seconds
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
