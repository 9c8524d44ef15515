import AMQPClient
import Foundation

/// `broker`: publish-with-confirms and consume+ack rates of a raw librabbitmq loop (the ceiling)
/// against `AMQPClient`, same broker, same run, rounds alternating which goes first.
public struct BrokerScenario: Sendable {
    public var messages = 20_000
    /// Body size in bytes (a command envelope is about 300).
    public var size = 300
    public var rounds = 3
    /// AMQPClient publishes in flight at once.
    public var inFlight = 1_000
    /// Raw loop: wait for confirms after this many publishes.
    public var confirmWindow = 500
    /// Consumer prefetch (both sides).
    public var prefetch: UInt16 = 500

    public init() {}

    public func run(_ environment: BenchEnvironment, progress: Progress) async throws -> ScenarioReport {
        var report = ScenarioReport(scenario: "broker")
        var configuration = try AMQPConfiguration(url: environment.amqpURL)
        configuration.connectionName = "concert-bench"
        let connection = AMQPConnection(configuration: configuration, logger: environment.logger)
        let body = Self.envelope(size: size)
        let raw = RawBrokerLoop(configuration: configuration, confirmWindow: confirmWindow, prefetch: prefetch)
        let wrapper = WrapperBrokerLoop(connection: connection, inFlight: inFlight, prefetch: prefetch)
        var rawRates: [(publish: Double, consume: Double)] = []
        var wrapperRates: [(publish: Double, consume: Double)] = []
        var cpu = CPUSampler(parts: environment.brokerPID.map { [.init(name: "rabbitmq", pid: $0)] } ?? [])

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await connection.run() }
            defer { group.cancelAll() }
            try await connection.waitUntilConnected(timeout: .seconds(10))
            for round in 1...rounds {
                // Alternate which side goes first, so drift on a shared machine does not favour one.
                for side in round % 2 == 1 ? ["raw", "wrapper"] : ["wrapper", "raw"] {
                    let queue = "bench.\(side).\(UUID().uuidString.prefix(8))"
                    try await connection.declare(AMQPQueue(name: queue, arguments: ["x-queue-type": "quorum"]))
                    progress.begin("broker round \(round): \(side == "raw" ? "raw librabbitmq" : "AMQPClient")")
                    cpu.start()
                    let publish: Duration
                    let consume: Duration
                    if side == "raw" {
                        publish = try await onOwnThread { try raw.publish(count: messages, body: body, queue: queue) }
                        consume = try await onOwnThread { try raw.consume(count: messages, queue: queue) }
                    } else {
                        publish = try await wrapper.publish(count: messages, body: body, queue: queue)
                        consume = try await wrapper.consume(count: messages, queue: queue)
                    }
                    let shares = cpu.stop()
                    try await connection.deleteQueue(queue)
                    let rates = (publish: Double(messages) / publish.seconds, consume: Double(messages) / consume.seconds)
                    if side == "raw" { rawRates.append(rates) } else { wrapperRates.append(rates) }
                    var phase = PhaseReport(
                        name: "\(side) #\(round)",
                        requests: messages,
                        perSecond: rates.publish,
                        latency: LatencySummary().percentiles,
                        cpu: shares,
                        answers: Timeline(bucket: .milliseconds(250))
                    )
                    phase.extra["consumePerSecond"] = rates.consume
                    report.phases.append(phase)
                    progress.note(
                        String(format: "broker round %d %@ publish+confirm %8.0f/s   consume+ack %8.0f/s", round, side, rates.publish, rates.consume)
                    )
                }
            }
        }

        let rawPublish = median(rawRates.map(\.publish))
        let rawConsume = median(rawRates.map(\.consume))
        let wrapperPublish = median(wrapperRates.map(\.publish))
        let wrapperConsume = median(wrapperRates.map(\.consume))
        report.notes += [
            "\(messages) persistent \(body.count)-byte messages per measurement, quorum queue, median of \(rounds) rounds",
            "                      publish+confirm/s   consume+ack/s",
            String(format: "raw librabbitmq       %17.0f   %13.0f", rawPublish, rawConsume),
            String(format: "AMQPClient            %17.0f   %13.0f", wrapperPublish, wrapperConsume),
        ]
        report.lastLine = String(format: "broker ratio publish=%.2f consume=%.2f", wrapperPublish / rawPublish, wrapperConsume / rawConsume)
        return report
    }

    /// A JSON body shaped like a reservation command envelope, padded to `size` bytes.
    static func envelope(size: Int) -> [UInt8] {
        let base =
            #"{"id":"6f1c2b8e-3d4a-4c5b-9e7f-1a2b3c4d5e6f","type":"ReserveSeat","version":1,"userId":"user-000042","#
            + #""partitionKey":"concert-1/2026-12-24","payload":{"concertId":1,"date":"2026-12-24","seatNumber":17},"#
            + #""submittedAt":"2026-11-25T12:00:00Z","pad":""#
        let padding = String(repeating: "x", count: max(0, size - base.utf8.count - 2))
        return Array((base + padding + #""}"#).utf8)
    }

    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
