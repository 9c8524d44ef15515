import ConcertPipeline
import Foundation
import PostgresNIO

/// `e2e`: reservations of distinct seats over HTTP, from submit to committed result.
///
/// 1. finds the highest rate the system sustains (or takes `rate`): open-loop steps of growing
///    rate, each judged by `RateSearch.sustained` (the API kept up, errors under 1 %, commits
///    within half a second of submits), the backlog drained between steps;
/// 2. runs at that rate and at half of it, waits until every accepted command is committed,
///    and reports submitted/s, committed/s (first submit → last commit) and submit → commit
///    latency (the client's due time to the command's `completed_at` in PostgreSQL);
/// 3. with `Prefer: wait=10` (the outcome in the answer): a closed loop of `waitConnections`
///    for the outcome rate, then an open loop at half of it for latency.
public struct E2EScenario: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        case both, poll, wait
    }

    public var concerts = 4
    public var dates = 8
    public var seats = 10_000
    public var partitions = PipelineTopology.defaultPartitions
    public var stepSeconds = 4.0
    public var measureSeconds = 10.0
    public var startRate = 400.0
    public var rate: Double?
    public var connections = 256
    public var waitConnections = 64
    public var maximumSteps = 9
    public var mode = Mode.both
    /// Extra environment for the `concert` process (e.g. a tuning knob being measured).
    public var concertEnvironment: [String: String] = [:]

    public init() {}

    public func run(_ environment: BenchEnvironment, progress: Progress) async throws -> ScenarioReport {
        var report = ScenarioReport(scenario: "e2e")
        try await environment.withFreshSystem("e2e") { sandbox, database in
            progress.begin("e2e: seeding \(concerts) concerts × \(dates) dates × \(seats) seats")
            _ = try await sandbox.concert(["seed", "--concerts", "\(concerts)", "--dates", "\(dates)", "--seats", "\(seats)"])
            let schedules = try await Self.schedules(database, environment: environment)
            var plan = SeatPlan(schedules: schedules, seatsPerSchedule: seats)
            let port = try freePort()
            let system = try await ConcertUnderTest.start(
                sandbox,
                port: port,
                environment: ["CONCERT_PARTITIONS": "\(partitions)", "CONCERT_QUEUE_CAPACITY": "10000000"].merging(concertEnvironment) { $1 }
            )
            do {
                progress.begin("e2e: issuing \(plan.users * plan.concerts.count) waiting-room tokens")
                var tokens: [Int: [String]] = [:]
                for concert in plan.concerts {
                    tokens[concert] = try await system.issueTokens(users: plan.userNames, concert: concert, progress: progress)
                }
                for concert in plan.concerts { try await system.waitUntilActive(tokens[concert]!.last!) }
                var runner = PhaseRunner(
                    system: system,
                    probe: CommitProbe(client: database, logger: environment.logger),
                    cpu: CPUSampler(parts: environment.parts(concert: system.process)),
                    tokens: tokens,
                    progress: progress
                )
                report.notes.append(
                    "setup: \(schedules.count) schedules × \(seats) seats, \(partitions) partitions, \(plan.users) users × \(plan.concerts.count) concerts active; concert log \(system.process.logFile.path)"
                )
                var committedMax: Double?
                var p99Half: Double?
                if mode != .wait {
                    let best: Double
                    if let rate {
                        best = rate
                    } else {
                        best = try await runner.searchMaximum(
                            startRate: startRate,
                            maximumSteps: maximumSteps,
                            stepSeconds: stepSeconds,
                            connections: connections,
                            plan: &plan,
                            notes: &report.notes
                        )
                    }
                    let top = try await runner.pollPhase(
                        "max \(Int(best))/s",
                        rate: best,
                        seconds: measureSeconds,
                        connections: connections,
                        plan: &plan
                    )
                    let half = try await runner.pollPhase(
                        "half \(Int(best / 2))/s",
                        rate: best / 2,
                        seconds: measureSeconds,
                        connections: connections,
                        plan: &plan
                    )
                    report.phases += [top.phase, half.phase]
                    committedMax = top.phase.committedPerSecond
                    p99Half = half.phase.commitLatency?.p99
                }
                var waitRate: Double?
                if mode != .poll {
                    let closed = try await runner.waitPhase(
                        "wait max, \(waitConnections) conns",
                        rate: nil,
                        seconds: measureSeconds,
                        connections: waitConnections,
                        plan: &plan
                    )
                    let outcomes = closed.extra["outcomesPerSecond"] ?? 0
                    let half = try await runner.waitPhase(
                        "wait half \(Int(outcomes / 2))/s",
                        rate: max(1, outcomes / 2),
                        seconds: measureSeconds,
                        connections: waitConnections,
                        plan: &plan
                    )
                    report.phases += [closed, half]
                    waitRate = outcomes
                }
                report.lastLine = "e2e committed=\(Self.number(committedMax))/s p99_half_ms=\(Self.number(p99Half)) wait=\(Self.number(waitRate))/s"
                await system.stop()
            } catch {
                await system.stop()
                throw error
            }
        }
        return report
    }

    static func number(_ value: Double?) -> String {
        value.map { String(Int($0.rounded())) } ?? "-"
    }

    static func schedules(_ database: PostgresClient, environment: BenchEnvironment) async throws -> [SeatPlan.Schedule] {
        var schedules: [SeatPlan.Schedule] = []
        let rows = try await database.query(
            "SELECT concert_id, to_char(date, 'YYYY-MM-DD') FROM schedules ORDER BY date, concert_id",
            logger: environment.logger
        )
        for try await (concert, date) in rows.decode((Int64, String).self) { schedules.append(.init(concert: Int(concert), date: date)) }
        guard !schedules.isEmpty else { throw BenchError("the seed made no schedules") }
        return schedules
    }
}

extension BenchEnvironment {
    /// The parts whose CPU a phase reports: the process under test, the broker, the database.
    func parts(concert: ChildProcess) -> [CPUSampler.Part] {
        var parts = [CPUSampler.Part(name: concert.name, pid: concert.pid)]
        if !brokerPIDs.isEmpty { parts.append(.init(name: brokerPIDs.count > 1 ? "rabbitmq ×\(brokerPIDs.count)" : "rabbitmq", pids: brokerPIDs)) }
        if !databasePIDs.isEmpty {
            parts.append(.init(name: databasePIDs.count > 1 ? "postgres ×\(databasePIDs.count)" : "postgres", pids: databasePIDs))
        }
        return parts
    }
}
