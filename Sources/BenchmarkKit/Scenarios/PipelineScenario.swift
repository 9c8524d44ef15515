import AMQPClient
import ConcertDomain
import ConcertPipeline
import ConcertWire
import Foundation
import PostgresNIO
import Synchronization

/// `pipeline`: the same reservation commands (a) through the pipeline — published to their
/// partitions, applied and committed by a `concert worker` — and (b) through the broker alone —
/// published to as many plain queues of the same kind and consumed with acks by our AMQP client,
/// in the same run. Both are timed from the first publish to the last commit (last ack), and
/// the ratio pipeline ÷ broker says what the workers and PostgreSQL cost on top of the broker.
public struct PipelineScenario: Sendable {
    public var messages = 40_000
    public var rounds = 3
    public var partitions = PipelineTopology.defaultPartitions
    public var inFlight = 2_000
    public var concerts = 4
    public var dates = 8
    public var seats = 10_000

    public init() {}

    public func run(_ environment: BenchEnvironment, progress: Progress) async throws -> ScenarioReport {
        var report = ScenarioReport(scenario: "pipeline")
        try await environment.withFreshSystem("pipeline") { sandbox, database in
            _ = try await sandbox.concert(["seed", "--concerts", "\(concerts)", "--dates", "\(dates)", "--seats", "\(seats)"])
            var plan = SeatPlan(schedules: try await E2EScenario.schedules(database, environment: environment), seatsPerSchedule: seats)
            let worker = try await sandbox.start("concert-worker", arguments: ["worker"], ["CONCERT_PARTITIONS": "\(partitions)"])
            var configuration = try AMQPConfiguration(url: sandbox.amqpURL)
            configuration.connectionName = "concert-bench publish"
            let publishing = AMQPConnection(configuration: configuration, logger: environment.logger)
            configuration.connectionName = "concert-bench consume"
            let consuming = AMQPConnection(configuration: configuration, logger: environment.logger)
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await publishing.run() }
                    group.addTask { try await consuming.run() }
                    defer { group.cancelAll() }
                    try await publishing.waitUntilConnected(timeout: .seconds(10))
                    try await consuming.waitUntilConnected(timeout: .seconds(10))
                    try await Self.waitForWorkers(publishing, partitions: partitions, worker: worker)
                    let probe = CommitProbe(client: database, logger: environment.logger)
                    var cpu = CPUSampler(parts: environment.parts(concert: worker))
                    var pipelineRates: [Double] = []
                    var brokerRates: [Double] = []
                    for round in 1...rounds {
                        let batch = try Self.commands(messages, plan: &plan, partitions: partitions)
                        // Alternate which goes first, so drift on a shared machine favours neither.
                        for side in round % 2 == 1 ? ["broker", "pipeline"] : ["pipeline", "broker"] {
                            let phase: PhaseReport
                            if side == "broker" {
                                phase = try await brokerRound(
                                    round,
                                    batch,
                                    publishing: publishing,
                                    consuming: consuming,
                                    cpu: &cpu,
                                    progress: progress
                                )
                                brokerRates.append(phase.answeredPerSecond)
                            } else {
                                let fresh = try Self.commands(messages, plan: &plan, partitions: partitions)
                                phase = try await pipelineRound(round, fresh, publishing: publishing, probe: probe, cpu: &cpu, progress: progress)
                                pipelineRates.append(phase.answeredPerSecond)
                            }
                            report.phases.append(phase)
                        }
                    }
                    let pipeline = RaceScenario.median(pipelineRates)
                    let broker = RaceScenario.median(brokerRates)
                    report.notes.append(
                        "\(messages) reservation commands per round, \(partitions) partitions, \(inFlight) publishes in flight; median of \(rounds) rounds: pipeline \(Int(pipeline))/s (publish → commit), broker \(Int(broker))/s (publish → ack)"
                    )
                    report.lastLine =
                        "pipeline ratio=\(String(format: "%.2f", pipeline / max(broker, 1))) pipeline=\(Int(pipeline))/s broker=\(Int(broker))/s"
                }
                await worker.stop()
            } catch {
                await worker.stop()
                throw error
            }
        }
        return report
    }

    /// One command and where it goes.
    struct Prepared: Sendable {
        let partition: Int
        let envelope: CommandEnvelope
    }

    static func commands(_ count: Int, plan: inout SeatPlan, partitions: Int) throws -> [Prepared] {
        if let shortfall = plan.shortfall(count, for: "the next round") { throw BenchError(shortfall) }
        return (0..<count).map { _ in
            let (schedule, seat, user) = plan.take()!
            let key = ScheduleKey(concertID: ConcertID(Int64(schedule.concert))!, date: ScheduleDate(schedule.date)!)
            let envelope = CommandEnvelope(
                id: UUID(),
                userId: UserID("bench-user-\(user)")!,
                partitionKey: key.partitionKey,
                command: .reserveSeat(.init(concertId: key.concertID, date: key.date, seatNumber: SeatNumber(seat)!)),
                submittedAt: Date()
            )
            return Prepared(partition: key.partition(of: partitions), envelope: envelope)
        }
    }

    /// Publishes every command with at most `inFlight` unconfirmed, returns when the last was
    /// confirmed, with the time each publish began.
    @discardableResult
    func publishAll(
        _ batch: [Prepared],
        on connection: AMQPConnection,
        route: @escaping @Sendable (Prepared) -> (exchange: String, key: String)
    ) async throws -> [Date] {
        var starts: [Date] = []
        starts.reserveCapacity(batch.count)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, command) in batch.enumerated() {
                if index >= inFlight { try await group.next() }
                starts.append(Date())
                let (exchange, key) = route(command)
                let body = command.envelope.encoded()
                group.addTask {
                    try await connection.publish(
                        exchange: exchange,
                        routingKey: key,
                        body: body,
                        properties: AMQPMessageProperties(
                            contentType: "application/json",
                            persistent: true,
                            messageId: command.envelope.id.uuidString.lowercased(),
                            type: command.envelope.command.type.rawValue
                        ),
                        mandatory: true
                    )
                }
            }
            try await group.waitForAll()
        }
        return starts
    }

    private func pipelineRound(
        _ round: Int,
        _ batch: [Prepared],
        publishing: AMQPConnection,
        probe: CommitProbe,
        cpu: inout CPUSampler,
        progress: Progress
    ) async throws -> PhaseReport {
        let before = try await probe.decided()
        progress.begin("pipeline round \(round): \(batch.count) commands through the workers")
        cpu.start()
        let start = ContinuousClock.now
        let startDate = Date()
        let starts = try await publishAll(batch, on: publishing) { command in
            (PipelineTopology.commandsExchange, PipelineTopology.partitionRoutingKey(command.partition))
        }
        let published = ContinuousClock.now
        let done = try await probe.waitUntilDecided(before + batch.count, from: before, progress: progress)
        let shares = cpu.stop()
        let elapsed = done - start
        let completions = try await probe.completions(of: batch.map(\.envelope.id))
        var latency = LatencySummary()
        var commits = Timeline(bucket: .milliseconds(250))
        for (index, command) in batch.enumerated() {
            guard let committed = completions[command.envelope.id] else { continue }
            commits.add(atNanos: UInt64(max(0, committed.timeIntervalSince(startDate)) * 1e9))
            latency.record(milliseconds: committed.timeIntervalSince(starts[index]) * 1000)
        }
        let rate = Double(batch.count) / elapsed.seconds
        progress.note(
            "pipeline round \(round): \(Int(rate))/s publish → commit (all published after \(ScenarioReport.format((published - start).milliseconds)) ms); \(shares.summary)"
        )
        return PhaseReport(
            name: "pipeline #\(round)",
            requests: batch.count,
            perSecond: rate,
            latency: latency.percentiles,
            cpu: shares,
            answers: commits
        )
    }

    private func brokerRound(
        _ round: Int,
        _ batch: [Prepared],
        publishing: AMQPConnection,
        consuming: AMQPConnection,
        cpu: inout CPUSampler,
        progress: Progress
    ) async throws -> PhaseReport {
        let queues = (0..<partitions).map { "bench.raw.\(round).p\($0)" }
        // The same kind of queue as a partition's, without the dead-letter target.
        for queue in queues {
            try await publishing.declare(
                AMQPQueue(name: queue, arguments: ["x-queue-type": "quorum", "x-single-active-consumer": true, "x-delivery-limit": 5])
            )
        }
        progress.begin("pipeline round \(round): \(batch.count) commands through the broker alone")
        let acked = AckCounter()
        let total = batch.count
        var timeline = Timeline(bucket: .milliseconds(250))
        cpu.start()
        let start = ContinuousClock.now
        let elapsed = try await withThrowingTaskGroup(of: Void.self) { group -> Duration in
            for queue in queues {
                let consumer = try await consuming.consume(queue: queue, prefetch: 500)
                group.addTask {
                    for try await deliveries in consumer.batches {
                        guard let last = deliveries.last else { continue }
                        try consumer.ack(last, multiple: true)
                        if acked.value.add(deliveries.count, ordering: .relaxed).newValue >= total { break }
                    }
                    try await consumer.cancel()
                }
            }
            try await publishAll(batch, on: publishing) { command in ("", queues[command.partition]) }
            var seen = 0
            while seen < total {
                try await Task.sleep(for: .milliseconds(5))
                let now = acked.value.load(ordering: .relaxed)
                progress.update(done: now, total: total)
                timeline.add(atNanos: UInt64((ContinuousClock.now - start).milliseconds * 1e6), count: now - seen)
                seen = now
            }
            let elapsed = ContinuousClock.now - start
            group.cancelAll()
            return elapsed
        }
        let shares = cpu.stop()
        for queue in queues { _ = try? await publishing.deleteQueue(queue) }
        let rate = Double(total) / elapsed.seconds
        progress.note("pipeline round \(round): broker alone \(Int(rate))/s publish → ack; \(shares.summary)")
        // Per-message latency is not tracked on this side: the round's rate is the comparison.
        return PhaseReport(
            name: "broker #\(round)",
            requests: total,
            perSecond: rate,
            latency: LatencySummary().percentiles,
            cpu: shares,
            answers: timeline
        )
    }

    static func waitForWorkers(_ connection: AMQPConnection, partitions: Int, worker: ChildProcess) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard worker.isRunning else { throw BenchError("concert worker exited:\n\(worker.logTail())") }
            var ready = 0
            for partition in 0..<partitions {
                if let state = try? await connection.inspectQueue(PipelineTopology.partitionQueue(partition)), state.consumerCount > 0 { ready += 1 }
            }
            if ready == partitions { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw BenchError("the worker did not subscribe to every partition within 60 s:\n\(worker.logTail())")
    }
}

/// Acknowledged deliveries, counted by every consumer task.
final class AckCounter: Sendable {
    let value = Atomic<Int>(0)
}
