import ConcertPipeline
public import Foundation
import NIOHTTP1
import PostgresNIO

/// `sell-out`: the 60 000-seat stadium of `scripts/catalogue/stadium`, every buyer admitted at
/// once, each asking for 1–4 seats best available (a fixed, seeded mix), all at once over
/// `connections` keep-alive connections — against the pipeline (`Prefer: wait=30`, one date),
/// then against the lock baseline's `SELECT … FOR UPDATE SKIP LOCKED LIMIT n` (the other date of
/// the same stadium), in one run, on the same database server.
///
/// Per side: the time from the first request to the answer that sold the last seat sold, seats
/// and orders per second over it, request → outcome p50/p99, orders refused after the sell-out,
/// single free seats left stranded between taken ones (or a row's end), and seats held by two
/// live reservations (must be 0), both counted in PostgreSQL. "Sold" is held by a reservation:
/// paying is a second command, the same on both sides, and not part of the rush.
public struct SellOutScenario: Sendable {
    /// More orders than the stadium has seats for (≈ 2.4 seats an order ≈ 62 400 asked), so the
    /// end of the sale is measured too.
    public var buyers = 26_000
    public var connections = 1000
    public var seed: UInt64 = 20_270_605
    public var partitions = PipelineTopology.defaultPartitions
    /// The `concert-bench` executable, to start the lock baseline.
    public var benchExecutable: URL

    public init(benchExecutable: URL) {
        self.benchExecutable = benchExecutable
    }

    /// How many seats each buyer asks for: 1 (20 %), 2 (40 %), 3 (20 %) or 4 (20 %), from `seed`.
    func quantities() -> [Int] {
        var state = seed
        return (0..<buyers).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let draw = (state >> 33) % 10
            return draw < 2 ? 1 : draw < 6 ? 2 : draw < 8 ? 3 : 4
        }
    }

    /// One side's figures.
    struct Side {
        let phase: PhaseReport
        let seats: Int
        let orders: Int
        let refused: Int
        let seconds: Double
        let stranded: Int
        let double: Int
        var seatsPerSecond: Double { Double(seats) / max(seconds, 0.001) }
    }

    public func run(_ environment: BenchEnvironment, progress: Progress) async throws -> ScenarioReport {
        var report = ScenarioReport(scenario: "sell-out")
        try await environment.withFreshSystem("sell-out") { sandbox, database in
            let file = environment.outputDirectory.appendingPathComponent("stadium-\(sandbox.database).json")
            let stadium = try await runToCompletion(
                URL(fileURLWithPath: "/usr/bin/env"),
                ["python3", "scripts/catalogue/stadium", "--dates", "2", "--capacity", "10000000", "--key", "bench-stadium"],
                environment: ProcessInfo.processInfo.environment
            )
            try stadium.write(to: file, atomically: true, encoding: .utf8)
            let users = (0..<buyers).map { "fan-\($0)" }
            let quantities = quantities()
            let system = try await ConcertUnderTest.start(
                sandbox,
                port: try freePort(),
                environment: ["CONCERT_PARTITIONS": "\(partitions)", "CONCERT_MAX_SEATS_PER_USER": "4"]
            )
            var pipeline: Side
            var dates: [String] = []
            var concert = 0
            do {
                progress.begin("sell-out: importing the stadium (two dates of 60 000 seats)")
                let imported = try await sandbox.concert(["catalogue", "import", file.path])
                guard let id = imported.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
                    throw BenchError("the import said: \(imported)")
                }
                concert = id
                dates = try await Self.dates(of: concert, database, environment: environment)
                progress.begin("sell-out: issuing \(buyers) waiting-room tokens")
                let tokens = try await system.issueTokens(users: users, concert: concert, progress: progress)
                try await system.waitUntilActive(tokens.last!)
                pipeline = try await rush(
                    "pipeline",
                    port: system.port,
                    process: system.process,
                    tokens: tokens,
                    quantities: quantities,
                    concert: concert,
                    date: dates[0],
                    wait: true,
                    database: database,
                    environment: environment,
                    progress: progress
                )
                await system.stop()
                // The baseline's best shot: an index of exactly the free seats its query walks (the
                // schema's own partial index keeps held seats too, which each query would step over).
                try await database.query(
                    "CREATE INDEX bench_seats_free_only ON seats (schedule_id, number) WHERE state = 'free'",
                    logger: environment.logger
                )
                let baselinePort = try freePort()
                let baseline = try await ChildProcess(
                    name: "lock-baseline",
                    executable: benchExecutable,
                    arguments: ["lock-baseline", "--port", "\(baselinePort)"],
                    environment: sandbox.concertEnvironment(),
                    logFile: environment.outputDirectory.appendingPathComponent("logs/\(sandbox.database)-lock-baseline.log")
                )
                do {
                    try await RaceScenario.waitForPort(baselinePort, process: baseline)
                    let lock = try await rush(
                        "lock",
                        port: baselinePort,
                        process: baseline,
                        tokens: tokens,
                        quantities: quantities,
                        concert: concert,
                        date: dates[1],
                        wait: false,
                        database: database,
                        environment: environment,
                        progress: progress
                    )
                    await baseline.stop()
                    report.phases = [pipeline.phase, lock.phase]
                    let ratio = pipeline.seatsPerSecond / max(lock.seatsPerSecond, 1)
                    for (name, side) in [("pipeline", pipeline), ("lock", lock)] {
                        report.notes.append(
                            "\(name): \(side.seats) seats in \(side.orders) orders in \(String(format: "%.2f", side.seconds)) s (\(Int(side.seatsPerSecond)) seats/s, \(Int(Double(side.orders) / max(side.seconds, 0.001))) orders/s); request → outcome p50 \(ScenarioReport.format(side.phase.latency.p50)) ms, p99 \(ScenarioReport.format(side.phase.latency.p99)) ms; \(side.refused) orders refused; \(side.stranded) single seats stranded; \(side.double) seats held twice"
                        )
                    }
                    report.lastLine =
                        "sell-out seats=\(pipeline.seats) time_s=\(String(format: "%.2f", pipeline.seconds)) pipeline=\(Int(pipeline.seatsPerSecond))/s lock=\(Int(lock.seatsPerSecond))/s ratio=\(String(format: "%.1f", ratio)) stranded=\(pipeline.stranded) double=\(pipeline.double + lock.double)"
                } catch {
                    await baseline.stop()
                    throw error
                }
            } catch {
                await system.stop()
                throw error
            }
        }
        return report
    }

    /// Every buyer's order of one side at once: each connection sends its next order as soon as
    /// the last is answered, `connections` of them.
    func rush(
        _ side: String,
        port: Int,
        process: ChildProcess,
        tokens: [String],
        quantities: [Int],
        concert: Int,
        date: String,
        wait: Bool,
        database: PostgresClient,
        environment: BenchEnvironment,
        progress: Progress
    ) async throws -> Side {
        let requests = tokens.indices.map { index in
            var headers = [("Authorization", "Bearer \(tokens[index])")]
            if wait { headers.append(("Prefer", "wait=30")) }
            return LoadRequest(
                method: .POST,
                path: "/v1/reservations",
                headers: headers,
                body: Array(#"{"concertId":\#(concert),"date":"\#(date)","quantity":\#(quantities[index])}"#.utf8)
            )
        }
        var cpu = CPUSampler(parts: environment.parts(concert: process))
        progress.begin("sell-out \(side): \(requests.count) orders over \(connections) connections")
        cpu.start()
        let run = try await HTTPLoadGenerator.run(
            LoadPlan(port: port, connections: connections, shape: .closedLoop, requests: requests, timeout: .seconds(60)),
            progress: { done, _ in progress.update(done: done, total: requests.count) }
        )
        let shares = cpu.stop()
        // The answer that sold the last seat: the latest 201.
        let sold = run.statuses.indices.filter { run.statuses[$0] == 201 }
        let lastSold = sold.map { run.doneNanos[$0] }.max() ?? 0
        let seconds = Double(lastSold) / 1e9
        let (seats, stranded, double) = try await Self.count(concert: concert, date: date, database, environment: environment)
        var phase = PhaseReport(name: "sell-out \(side)", connections: connections, run: run, cpu: shares)
        phase.extra["seats"] = Double(seats)
        phase.extra["secondsToLastSeat"] = seconds
        phase.extra["stranded"] = Double(stranded)
        phase.extra["double"] = Double(double)
        let side = Side(
            phase: phase,
            seats: seats,
            orders: sold.count,
            refused: run.statusCounts[409] ?? 0,
            seconds: seconds,
            stranded: stranded,
            double: double
        )
        progress.note(
            "sell-out \(side.phase.name): \(seats) seats in \(sold.count) orders, last seat after \(String(format: "%.2f", seconds)) s (\(Int(side.seatsPerSecond)) seats/s); \(side.refused) refused; p99 \(ScenarioReport.format(phase.latency.p99)) ms; stranded \(stranded), double \(double); \(phase.nonSuccess); \(shares.summary)"
        )
        return side
    }

    static func dates(of concert: Int, _ database: PostgresClient, environment: BenchEnvironment) async throws -> [String] {
        let rows = try await database.query(
            "SELECT to_char(date, 'YYYY-MM-DD') FROM schedules WHERE concert_id = \(Int64(concert)) ORDER BY date",
            logger: environment.logger
        )
        var dates: [String] = []
        for try await date in rows.decode(String.self) { dates.append(date) }
        guard dates.count == 2 else { throw BenchError("the stadium has \(dates.count) dates, not 2") }
        return dates
    }

    /// Seats taken, single free seats stranded (free, with a taken seat or a row's end on each
    /// side), and seats in more than one live reservation, on one date.
    static func count(concert: Int, date: String, _ database: PostgresClient, environment: BenchEnvironment) async throws -> (Int, Int, Int) {
        let rows = try await database.query(
            """
            WITH d AS (SELECT id FROM schedules WHERE concert_id = \(Int64(concert)) AND date = \(date)::date),
            s AS (
                SELECT seats.section, seats.row_label, seats.number, seats.state = 'free' AS free FROM seats WHERE seats.schedule_id = (SELECT id FROM d)
            ), w AS (
                SELECT free, lag(free) OVER r AS before, lead(free) OVER r AS after FROM s
                WINDOW r AS (PARTITION BY section, row_label ORDER BY number)
            ), taken AS (
                SELECT n FROM reservations r, unnest(coalesce(r.seat_numbers, ARRAY[r.seat_number])) AS n
                WHERE r.schedule_id = (SELECT id FROM d) AND r.status IN ('held', 'paid')
            )
            SELECT (SELECT count(*) FROM s WHERE NOT free)::int,
                (SELECT count(*) FROM w WHERE free AND coalesce(NOT before, true) AND coalesce(NOT after, true))::int,
                (SELECT count(*) FROM (SELECT n FROM taken GROUP BY n HAVING count(*) > 1) twice)::int
            """,
            logger: environment.logger
        )
        for try await counts in rows.decode((Int, Int, Int).self) { return counts }
        return (0, 0, 0)
    }
}
