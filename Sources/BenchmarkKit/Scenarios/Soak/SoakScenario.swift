import ConcertPipeline
import Foundation
import NIOHTTP1
import PostgresNIO

/// `soak`: the whole system — one `concert api`, two `concert worker` processes — under a steady
/// load of reservations and payments for many minutes, at half the highest rate it sustains
/// (found first, as `e2e` does), with holds short enough to expire during the run. Meanwhile a
/// worker is killed with SIGKILL, the broker and then the database are stopped and started again
/// (`SoakFaults`). When the load is over it waits until every command answered `202` has settled,
/// then checks with SQL that each reached `succeeded`, `failed` or the dead-letter archive and that
/// the invariants of DESIGN §7 hold (`SoakChecks`); memory of every part is sampled throughout.
public struct SoakScenario: Sendable {
    public var minutes = 30.0
    /// Reservations per second; `nil`: half the highest sustained rate.
    public var rate: Double?
    /// The share of fresh holds that are paid (the rest expire).
    public var payFraction = 0.5
    public var holdSeconds = 30
    public var concerts = 4
    public var dates = 8
    public var seats = 10_000
    public var partitions = PipelineTopology.defaultPartitions
    public var connections = 128
    /// Seconds per round: the load is sent in rounds (the next round pays for the last one's holds).
    public var roundSeconds = 10.0
    public var faults = true

    public init() {}

    public func run(_ environment: BenchEnvironment, progress: Progress) async throws -> ScenarioReport {
        var report = ScenarioReport(scenario: "soak")
        try await environment.withFreshSystem("soak") { sandbox, database in
            progress.begin("soak: seeding \(concerts) concerts × \(dates) dates × \(seats) seats")
            _ = try await sandbox.concert(["seed", "--concerts", "\(concerts)", "--dates", "\(dates)", "--seats", "\(seats)"])
            let schedules = try await E2EScenario.schedules(database, environment: environment)
            var plan = SeatPlan(schedules: schedules, seatsPerSchedule: seats)
            let settings = [
                "CONCERT_PARTITIONS": "\(partitions)",
                "CONCERT_HOLD_SECONDS": "\(holdSeconds)",
                "CONCERT_QUEUE_CAPACITY": "10000000",
                "CONCERT_ACTIVE_SECONDS": "86400",
                "CONCERT_ABANDON_SECONDS": "86400",
            ]
            let workers = WorkerPool(sandbox, environment: settings)
            let half = partitions / 2
            try await workers.start(partitions: "0-\(max(0, half - 1))")
            try await workers.start(partitions: "\(half)-\(partitions - 1)")
            let api = try await ConcertUnderTest.start(sandbox, subcommand: "api", port: try freePort(), environment: settings)
            do {
                try await soak(
                    api,
                    workers: workers,
                    sandbox: sandbox,
                    database: database,
                    environment: environment,
                    plan: &plan,
                    report: &report,
                    progress: progress
                )
            } catch {
                await api.stop()
                await workers.stopAll()
                throw error
            }
            await api.stop()
            await workers.stopAll()
        }
        return report
    }

    private func soak(
        _ api: ConcertUnderTest,
        workers: WorkerPool,
        sandbox: Sandbox,
        database: PostgresClient,
        environment: BenchEnvironment,
        plan: inout SeatPlan,
        report: inout ScenarioReport,
        progress: Progress
    ) async throws {
        let users = plan.userNames
        progress.begin("soak: charging \(users.count) wallets")
        let charges = try await HTTPLoadGenerator.run(
            LoadPlan(
                port: api.port,
                connections: 32,
                shape: .closedLoop,
                requests: users.map {
                    LoadRequest(
                        method: .POST,
                        path: "/v1/users/\($0)/balance/charges",
                        headers: api.authorization($0),
                        body: Array(#"{"amount":100000000}"#.utf8)
                    )
                }
            )
        )
        guard charges.successes == users.count else { throw BenchError("charging wallets answered \(charges.statusCounts)") }
        var tokens: [Int: [String]] = [:]
        for concert in plan.concerts {
            progress.begin("soak: issuing \(users.count) waiting-room tokens for concert \(concert)")
            tokens[concert] = try await api.issueTokens(users: users, concert: concert, progress: progress)
        }
        for concert in plan.concerts { try await api.waitUntilActive(tokens[concert]!.last!) }

        let checks = SoakChecks(database: database, logger: environment.logger)
        var runner = PhaseRunner(
            system: api,
            probe: CommitProbe(client: database, logger: environment.logger),
            cpu: CPUSampler(parts: environment.parts(concert: api.process)),
            tokens: tokens,
            progress: progress
        )
        let rate: Double
        if let chosen = self.rate {
            rate = chosen
        } else {
            let maximum = try await runner.searchMaximum(
                startRate: 400,
                maximumSteps: 8,
                stepSeconds: 4,
                connections: 256,
                plan: &plan,
                notes: &report.notes
            )
            rate = maximum / 2
            report.notes.append("highest sustained rate \(Int(maximum))/s; the soak runs at half of it")
        }
        report.notes.append(
            "setup: concert api + 2 concert worker, \(partitions) partitions, \(schedules(plan)) schedules × \(seats) seats, \(users.count) users × \(plan.concerts.count) concerts, hold \(holdSeconds) s, \(Int(rate)) reservations/s for \(minutes) min, \(Int(payFraction * 100)) % of fresh holds paid"
        )

        var load = SoakLoad(plan: plan, tokens: tokens, users: users.count, payFraction: payFraction)
        let duration = Duration.seconds(minutes * 60)
        let start = ContinuousClock.now
        let startedAt = Date()
        let injecting = faults
        let faults = SoakFaults(
            workers: workers,
            services: environment.runDirectory.deletingLastPathComponent().appendingPathComponent("scripts/services"),
            progress: progress
        )
        let injector = Task { injecting ? try await faults.run(over: duration, from: start) : [] }
        let memory = MemoryLog(parts: { memoryParts(api: api, workers: workers, environment: environment) }, start: start)
        let sampler = Task { await memory.sample(every: .seconds(30)) }

        var accepted: [UUID] = []
        var unknown: [UUID] = []
        var statuses: [Int: Int] = [:]
        var answers = Timeline(bucket: .seconds(roundSeconds))
        var overdue: [Double] = []
        var round = 0
        while ContinuousClock.now - start < duration {
            round += 1
            let roundStart = ContinuousClock.now
            let held = (try? await load.stillHeld(database: database, logger: environment.logger)) ?? []
            let requests = load.round(reservations: Int((rate * roundSeconds).rounded()), held: held)
            progress.begin("soak round \(round) (+\(Int((roundStart - start).seconds)) s of \(Int(duration.seconds)) s)")
            let run = try await HTTPLoadGenerator.run(
                LoadPlan(
                    port: api.port,
                    connections: connections,
                    shape: .rate(perSecond: Double(requests.count) / roundSeconds),
                    requests: requests,
                    timeout: .seconds(20),
                    captureBody: { $0 == 202 || $0 == 503 }
                )
            )
            for (status, count) in run.statusCounts { statuses[status, default: 0] += count }
            var acceptedThisRound: [Int: UUID] = [:]
            for (index, body) in run.bodies {
                guard let id = JSONFields.scanString("commandId", in: body).flatMap(UUID.init(uuidString:)) else { continue }
                if run.statuses[index] == 202 {
                    accepted.append(id)
                    acceptedThisRound[index] = id
                } else {
                    unknown.append(id)
                }
            }
            answers.add(atNanos: UInt64((roundStart - start).seconds * 1e9), count: acceptedThisRound.count)
            load.settleRound(accepted: acceptedThisRound)
            await load.requeueSpentUsers(api)
            if let sample = try? await checks.mostOverdueHold() { overdue.append(sample) }
            let rest = roundStart + .seconds(roundSeconds) - ContinuousClock.now
            if rest > .zero { try await Task.sleep(for: rest) }
        }
        let events = try await injector.value
        sampler.cancel()
        _ = await sampler.value
        let loadSeconds = (ContinuousClock.now - start).seconds

        progress.begin("soak: waiting until all \(accepted.count) accepted commands have settled")
        let deadline = ContinuousClock.now + .seconds(600)
        var unsettled = try await checks.unsettled(accepted)
        while unsettled > 0, ContinuousClock.now < deadline {
            progress.update(done: accepted.count - unsettled, total: accepted.count)
            try await Task.sleep(for: .seconds(5))
            unsettled = try await checks.unsettled(accepted)
        }
        // The last holds expire, then the invariants are read.
        try await Task.sleep(for: .seconds(Double(holdSeconds) + 5))
        let invariants = try await checks.invariants()
        let totals = try await checks.totals()
        let unknownApplied = try await checks.applied(unknown)
        let readings = await memory.readings

        var phase = PhaseReport(
            name: "soak \(Int(rate))/s",
            requests: statuses.values.reduce(0, +),
            perSecond: Double(accepted.count) / loadSeconds,
            latency: LatencySummary().percentiles,
            cpu: [],
            answers: answers
        )
        phase.offeredPerSecond = rate
        phase.statuses = Dictionary(uniqueKeysWithValues: statuses.map { (String($0.key), $0.value) })
        report.phases.append(phase)
        report.notes.append(
            "load from \(ISO8601DateFormatter().string(from: startedAt)) for \(Int(loadSeconds)) s in \(round) rounds: answers \(phase.nonSuccessAndAll)"
        )
        report.notes += events.map { "fault at +\(Int($0.secondsSinceStart)) s: \($0.what)" }
        report.notes.append("accepted (202): \(accepted.count); unsettled after the drain: \(unsettled)")
        report.notes.append("answered 503 OUTCOME_UNKNOWN: \(unknown.count), of which applied: \(unknownApplied)")
        report.notes += totals.sorted { $0.key < $1.key }.map { "total \($0.key): \($0.value)" }
        report.notes += invariants.map { "invariant \($0.name): \($0.violations == 0 ? "holds" : "VIOLATED \($0.violations)×")" }
        report.notes.append(
            "most overdue live hold per round (s): max \(String(format: "%.1f", overdue.max() ?? 0)), last \(String(format: "%.1f", overdue.last ?? 0))"
        )
        report.notes += MemoryLog.summary(readings)
        let passed = unsettled == 0 && invariants.allSatisfy { $0.violations == 0 }
        report.lastLine =
            "soak minutes=\(minutes) rate=\(Int(rate))/s accepted=\(accepted.count) unsettled=\(unsettled) invariants=\(passed ? "hold" : "VIOLATED") faults=\(events.count)"
        if !passed { progress.note("soak: FAILED — see the notes") }
    }

    func schedules(_ plan: SeatPlan) -> Int { plan.schedules.count }

    /// What memory is read of: the API, each running worker, the broker, the database (postmaster and backends).
    func memoryParts(api: ConcertUnderTest, workers: WorkerPool, environment: BenchEnvironment) -> [String: Int] {
        var parts: [String: Int] = [:]
        parts["api"] = MemorySampler.anonymousResident(of: api.process.pid)
        parts["workers"] = workers.running.compactMap { MemorySampler.anonymousResident(of: $0.pid) }.reduce(0, +)
        if let broker = environment.brokerPID { parts["rabbitmq"] = MemorySampler.anonymousResident(of: broker) }
        if let postgres = environment.databasePID { parts["postgres"] = MemorySampler.anonymousResident(ofTree: postgres) }
        return parts
    }
}

extension PhaseReport {
    /// Every status with its count, e.g. `202×1000 409×3`.
    var nonSuccessAndAll: String {
        statuses.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")
    }
}

/// Memory readings over the run.
actor MemoryLog {
    let parts: @Sendable () -> [String: Int]
    let start: ContinuousClock.Instant
    private(set) var readings: [MemorySampler.Reading] = []

    init(parts: @escaping @Sendable () -> [String: Int], start: ContinuousClock.Instant) {
        self.parts = parts
        self.start = start
    }

    func sample(every interval: Duration) async {
        while !Task.isCancelled {
            readings.append(.init(secondsSinceStart: (ContinuousClock.now - start).seconds, kibibytes: parts()))
            try? await Task.sleep(for: interval)
        }
    }

    /// Per part: the reading after the first minute (warmed up), the highest, and the last; then
    /// the course over the run (about ten readings evenly spaced), to tell a plateau from a leak.
    static func summary(_ readings: [MemorySampler.Reading]) -> [String] {
        guard let last = readings.last else { return ["memory: no readings"] }
        let warm = readings.first { $0.secondsSinceStart >= 60 } ?? readings[0]
        let step = max(1, readings.count / 10)
        let course = Array(stride(from: 0, to: readings.count, by: step).map { readings[$0] }.dropLast()) + [last]
        return last.kibibytes.keys.sorted().flatMap { part in
            let peak = readings.compactMap { $0.kibibytes[part] }.max() ?? 0
            return [
                "memory \(part) (RssAnon MiB): +\(Int(warm.secondsSinceStart)) s \(mebibytes(warm.kibibytes[part])), peak \(mebibytes(peak)), end (+\(Int(last.secondsSinceStart)) s) \(mebibytes(last.kibibytes[part]))",
                "memory \(part) over the run (MiB at +s): "
                    + course.map { "\(mebibytes($0.kibibytes[part]))@\(Int($0.secondsSinceStart))" }.joined(separator: " "),
            ]
        }
    }

    static func mebibytes(_ kibibytes: Int?) -> String {
        kibibytes.map { String(format: "%.0f", Double($0) / 1024) } ?? "-"
    }
}
