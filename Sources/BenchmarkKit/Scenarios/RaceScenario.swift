import ConcertPipeline
public import Foundation
import NIOHTTP1
import PostgresNIO

/// `race`: `clients` concurrent clients, one connection each, race for one seat (and then for
/// `hotSeats` seats, and then each for two seats together, best available) — first against the
/// pipeline with `Prefer: wait=10`, then against the lock baseline (`LockBaselineServer`) in
/// the same run, on the same database server.
///
/// Decided outcomes per second = answers that carry the outcome ÷ time from the first request
/// to the last answer. Winners are checked twice: exactly one `201` per seat, and exactly one
/// live reservation per seat in PostgreSQL.
public struct RaceScenario: Sendable {
    public var clients = 1000
    public var rounds = 3
    public var hotSeats = 10
    /// Whether to run the best-available rounds (a build before best available cannot).
    public var bestAvailable = true
    public var partitions = PipelineTopology.defaultPartitions
    /// The `concert-bench` executable, to start the lock baseline.
    public var benchExecutable: URL

    public init(benchExecutable: URL) {
        self.benchExecutable = benchExecutable
    }

    struct Round {
        let phase: PhaseReport
        let decidedPerSecond: Double
        let winnersOK: Bool
    }

    public func run(_ environment: BenchEnvironment, progress: Progress) async throws -> ScenarioReport {
        var report = ScenarioReport(scenario: "race")
        try await environment.withFreshSystem("race") { sandbox, database in
            // The single and hot seats, then two for every client in each best-available round, on both sides.
            let seatsNeeded = 2 * rounds * (1 + hotSeats) + 2 * rounds * 2 * clients + 10
            _ = try await sandbox.concert(["seed", "--concerts", "1", "--dates", "1", "--seats", "\(seatsNeeded)"])
            let schedule = try await E2EScenario.schedules(database, environment: environment)[0]
            let users = (0..<clients).map { "racer-\($0)" }
            var races = Races(scenario: self, schedule: schedule, database: database, environment: environment, progress: progress)

            let system = try await ConcertUnderTest.start(
                sandbox,
                port: try freePort(),
                environment: ["CONCERT_PARTITIONS": "\(partitions)", "CONCERT_QUEUE_CAPACITY": "10000000"]
            )
            do {
                progress.begin("race: issuing \(clients) waiting-room tokens")
                races.tokens = try await system.issueTokens(users: users, concert: schedule.concert, progress: progress)
                try await system.waitUntilActive(races.tokens.last!)
                try await races.run("pipeline", port: system.port, process: system.process, wait: true)
                await system.stop()
            } catch {
                await system.stop()
                throw error
            }

            let baselinePort = try freePort()
            let baseline = try await ChildProcess(
                name: "lock-baseline",
                executable: benchExecutable,
                arguments: ["lock-baseline", "--port", "\(baselinePort)"],
                environment: sandbox.concertEnvironment(),
                logFile: environment.outputDirectory.appendingPathComponent("logs/\(sandbox.database)-lock-baseline.log")
            )
            do {
                try await Self.waitForPort(baselinePort, process: baseline)
                try await races.run("lock", port: baselinePort, process: baseline, wait: false)
                await baseline.stop()
            } catch {
                await baseline.stop()
                throw error
            }
            report.phases = races.phases
            let pipelineOne = races.decided["pipeline 1"] ?? []
            let lockOne = races.decided["lock 1"] ?? []
            let pipelineHot = races.decided["pipeline \(hotSeats)"] ?? []
            let lockHot = races.decided["lock \(hotSeats)"] ?? []
            let winnersOK = races.winnersOK
            let pipeline = Self.median(pipelineOne)
            let lock = Self.median(lockOne)
            let pipelineBest = races.decided["pipeline best 2"] ?? []
            let lockBest = races.decided["lock best 2"] ?? []
            if bestAvailable {
                report.notes.append(
                    "best available, 2 together each, decided/s, median of \(rounds) rounds: pipeline \(Int(Self.median(pipelineBest))) vs lock \(Int(Self.median(lockBest))) (ratio \(String(format: "%.1f", Self.median(pipelineBest) / max(Self.median(lockBest), 1))))"
                )
            }
            report.notes.append(
                "decided/s, median of \(rounds) rounds: one seat pipeline \(Int(pipeline)) vs lock \(Int(lock)); \(hotSeats) seats pipeline \(Int(Self.median(pipelineHot))) vs lock \(Int(Self.median(lockHot))) (ratio \(String(format: "%.1f", Self.median(pipelineHot) / max(Self.median(lockHot), 1))))"
            )
            report.lastLine =
                "race pipeline=\(Int(pipeline))/s lock=\(Int(lock))/s ratio=\(String(format: "%.1f", pipeline / max(lock, 1))) winners=\(winnersOK ? "ok" : "WRONG")"
        }
        return report
    }

    /// The rounds of one side (pipeline or lock): `rounds` races for one seat, then `rounds` for `hotSeats` seats.
    struct Races {
        let scenario: RaceScenario
        let schedule: SeatPlan.Schedule
        let database: PostgresClient
        let environment: BenchEnvironment
        let progress: Progress
        var tokens: [String] = []
        /// The one-seat and hot-seat races take seats above those the best-available rounds take
        /// (best available takes the lowest free seats, on both sides).
        lazy var nextSeat = 2 * scenario.rounds * 2 * scenario.clients + 1
        var phases: [PhaseReport] = []
        /// Decided outcomes per second of each round, by "side seats".
        var decided: [String: [Double]] = [:]
        var winnersOK = true

        mutating func run(_ side: String, port: Int, process: ChildProcess, wait: Bool) async throws {
            var cpu = CPUSampler(parts: environment.parts(concert: process))
            for seatsPerRace in [1, scenario.hotSeats] {
                for round in 1...scenario.rounds {
                    let seats = Array(nextSeat..<(nextSeat + seatsPerRace))
                    nextSeat += seatsPerRace
                    let result = try await scenario.race(
                        "\(side) \(seatsPerRace) seat\(seatsPerRace == 1 ? "" : "s") #\(round)",
                        port: port,
                        seats: seats,
                        schedule: schedule,
                        tokens: tokens,
                        wait: wait,
                        cpu: &cpu,
                        database: database,
                        environment: environment,
                        progress: progress
                    )
                    phases.append(result.phase)
                    decided["\(side) \(seatsPerRace)", default: []].append(result.decidedPerSecond)
                    winnersOK = winnersOK && result.winnersOK
                }
            }
            for round in 1...scenario.rounds where scenario.bestAvailable {
                let result = try await scenario.race(
                    "\(side) best 2 #\(round)",
                    port: port,
                    seats: [],
                    quantity: 2,
                    schedule: schedule,
                    tokens: tokens,
                    wait: wait,
                    cpu: &cpu,
                    database: database,
                    environment: environment,
                    progress: progress
                )
                phases.append(result.phase)
                decided["\(side) best 2", default: []].append(result.decidedPerSecond)
                winnersOK = winnersOK && result.winnersOK
            }
        }
    }

    /// One race: client i reserves `seats[i % seats.count]` — or, with `quantity`, that many
    /// seats best available — all at once, one connection each.
    func race(
        _ name: String,
        port: Int,
        seats: [Int],
        quantity: Int? = nil,
        schedule: SeatPlan.Schedule,
        tokens: [String],
        wait: Bool,
        cpu: inout CPUSampler,
        database: PostgresClient,
        environment: BenchEnvironment,
        progress: Progress
    ) async throws -> Round {
        let requests = tokens.indices.map { index in
            var headers = [("Authorization", "Bearer \(tokens[index])")]
            if wait { headers.append(("Prefer", "wait=10")) }
            return LoadRequest(
                method: .POST,
                path: "/v1/reservations",
                headers: headers,
                body: Array(
                    (quantity.map { #"{"concertId":\#(schedule.concert),"date":"\#(schedule.date)","quantity":\#($0)}"# }
                        ?? #"{"concertId":\#(schedule.concert),"date":"\#(schedule.date)","seatNumber":\#(seats[index % seats.count])}"#).utf8
                )
            )
        }
        progress.begin("race \(name)")
        cpu.start()
        let run = try await HTTPLoadGenerator.run(
            LoadPlan(port: port, connections: requests.count, shape: .burst, requests: requests),
            progress: { done, _ in progress.update(done: done, total: requests.count) }
        )
        let shares = cpu.stop()
        let counts = run.statusCounts
        let decided = (counts[201] ?? 0) + (counts[409] ?? 0)
        // Outcomes that did not come within the wait are committed later; wait for them before counting winners.
        if (counts[202] ?? 0) > 0 {
            try await Task.sleep(for: .seconds(3))
        }
        if quantity != nil {
            // Every client gets its seats (there are enough), and no seat of the date is in two live reservations.
            let twice = try await Self.seatsHeldTwice(schedule, database: database, environment: environment)
            var phase = PhaseReport(name: name, connections: requests.count, run: run, cpu: shares)
            let decidedPerSecond = Double(decided) / max(run.elapsed.seconds, 0.001)
            phase.extra["decidedPerSecond"] = decidedPerSecond
            phase.extra["seatsHeldTwice"] = Double(twice)
            progress.note(
                "race \(name): \(Int(decidedPerSecond)) decided/s in \(ScenarioReport.format(run.elapsed.milliseconds)) ms, \(counts[201] ?? 0) orders filled, seats held twice \(twice), p99 \(ScenarioReport.format(phase.latency.p99)) ms; \(phase.nonSuccess); \(shares.summary)"
            )
            return Round(phase: phase, decidedPerSecond: decidedPerSecond, winnersOK: (counts[201] ?? 0) == requests.count && twice == 0)
        }
        var live = 0
        let rows = try await database.query(
            """
            SELECT count(*) FROM reservations r JOIN schedules s ON s.id = r.schedule_id
            WHERE s.concert_id = \(Int64(schedule.concert)) AND r.seat_number = ANY(\(seats)) AND r.status IN ('held', 'paid')
            GROUP BY r.seat_number
            """,
            logger: environment.logger
        )
        var perSeat: [Int] = []
        for try await count in rows.decode(Int.self) { perSeat.append(count) }
        live = perSeat.count
        let winnersOK = (counts[201] ?? 0) == seats.count && live == seats.count && perSeat.allSatisfy { $0 == 1 }
        var phase = PhaseReport(name: name, connections: requests.count, run: run, cpu: shares)
        let decidedPerSecond = Double(decided) / max(run.elapsed.seconds, 0.001)
        phase.extra["decidedPerSecond"] = decidedPerSecond
        phase.extra["winners"] = Double(counts[201] ?? 0)
        progress.note(
            "race \(name): \(Int(decidedPerSecond)) decided/s in \(ScenarioReport.format(run.elapsed.milliseconds)) ms, winners \(counts[201] ?? 0) (db: \(perSeat)), p99 \(ScenarioReport.format(phase.latency.p99)) ms; \(phase.nonSuccess); \(shares.summary)"
        )
        return Round(phase: phase, decidedPerSecond: decidedPerSecond, winnersOK: winnersOK)
    }

    /// Seats of the schedule in more than one live reservation.
    static func seatsHeldTwice(_ schedule: SeatPlan.Schedule, database: PostgresClient, environment: BenchEnvironment) async throws -> Int {
        let rows = try await database.query(
            """
            SELECT count(*)::int FROM (
                SELECT n FROM reservations r JOIN schedules s ON s.id = r.schedule_id,
                    unnest(coalesce(r.seat_numbers, ARRAY[r.seat_number])) AS n
                WHERE s.concert_id = \(Int64(schedule.concert)) AND s.date = \(schedule.date)::date AND r.status IN ('held', 'paid')
                GROUP BY n HAVING count(*) > 1
            ) twice
            """,
            logger: environment.logger
        )
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    static func waitForPort(_ port: Int, process: ChildProcess) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw BenchError("\(process.name) exited:\n\(process.logTail())") }
            if let (status, _) = try? await HTTP.request("POST", port: port, path: "/v1/reservations", body: "{}"), status > 0 { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw BenchError("\(process.name) did not listen on :\(port):\n\(process.logTail())")
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
