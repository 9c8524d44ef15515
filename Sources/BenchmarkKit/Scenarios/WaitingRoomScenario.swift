import ConcertAPI
import ConcertDomain
public import Foundation
import NIOHTTP1
import PostgresNIO

/// `waiting-room`: token issue for new users (closed loop), then status polls of `waitingTokens`
/// waiting tokens (closed loop, each request a random one of them), on one API process.
///
/// The waiting tokens beyond those issued over HTTP are inserted with SQL and signed here with
/// the same secret (issuing 100 000 over HTTP would only measure issue again); polling them
/// is exactly what a client does.
///
/// Last, the same polls go for the same time to `FloorServer` (Hummingbird with a fixed answer):
/// the floor of this HTTP stack on this machine, and the API's polls as a share of it.
public struct WaitingRoomScenario: Sendable {
    public var issues = 30_000
    public var waitingTokens = 100_000
    public var seconds = 10.0
    public var connections = 64
    /// `concert-bench` itself, to start the floor server.
    public var benchExecutable: URL

    public init(benchExecutable: URL) {
        self.benchExecutable = benchExecutable
    }

    public func run(_ environment: BenchEnvironment, progress: Progress) async throws -> ScenarioReport {
        var report = ScenarioReport(scenario: "waiting-room")
        try await environment.withFreshSystem("waiting-room") { sandbox, database in
            _ = try await sandbox.concert(["seed", "--concerts", "1", "--dates", "1", "--seats", "10"])
            // Capacity 1 and no abandonment during the run: every token stays waiting.
            let system = try await ConcertUnderTest.start(
                sandbox,
                port: try freePort(),
                environment: ["CONCERT_QUEUE_CAPACITY": "1", "CONCERT_ABANDON_SECONDS": "3600"]
            )
            do {
                var cpu = CPUSampler(parts: environment.parts(concert: system.process))
                let issueRequests = (0..<issues).map { index in
                    LoadRequest(
                        method: .POST,
                        path: "/v1/queue/tokens",
                        headers: system.authorization("visitor-\(index)"),
                        body: Array(#"{"concertId":1}"#.utf8)
                    )
                }
                progress.begin("waiting-room: issuing \(issues) tokens to new users")
                cpu.start()
                let issued = try await HTTPLoadGenerator.run(
                    LoadPlan(port: system.port, connections: connections, shape: .closedLoop, requests: issueRequests, captureBody: { $0 == 201 }),
                    progress: { done, _ in progress.update(done: done, total: issueRequests.count) }
                )
                let issuePhase = PhaseReport(name: "issue, \(connections) conns", connections: connections, run: issued, cpu: cpu.stop())
                progress.note(
                    "waiting-room issue: \(Int(issued.answeredPerSecond))/s, p99 \(ScenarioReport.format(issuePhase.latency.p99)) ms; \(issuePhase.cpu.summary)"
                )

                progress.begin("waiting-room: preparing \(waitingTokens) waiting tokens")
                var tokens = issued.bodies.values.compactMap { JSONFields.scanString("token", in: $0) }
                tokens += try await Self.moreWaitingTokens(max(0, waitingTokens - tokens.count), database: database, environment: environment)
                let polls = tokens.shuffled().map { token in
                    LoadRequest(method: .GET, path: "/v1/queue/status", headers: [("Authorization", "Bearer \(token)")])
                }
                progress.begin("waiting-room: polling \(tokens.count) waiting tokens for \(Int(seconds)) s")
                cpu.start()
                let polled = try await HTTPLoadGenerator.run(
                    pollPlan(polls, port: system.port),
                    progress: { done, _ in progress.update(done: done, total: 0) }
                )
                let pollPhase = PhaseReport(
                    name: "poll \(tokens.count / 1000)k waiting, \(connections) conns",
                    connections: connections,
                    run: polled,
                    cpu: cpu.stop()
                )
                progress.note(
                    "waiting-room poll: \(Int(polled.answeredPerSecond))/s, p99 \(ScenarioReport.format(pollPhase.latency.p99)) ms; \(pollPhase.cpu.summary)"
                )
                await system.stop()

                let floorPhase = try await floor(polls, environment: environment, sandbox: sandbox, progress: progress)
                let ratio = polled.answeredPerSecond / max(1, floorPhase.answeredPerSecond)
                progress.note(
                    "floor (Hummingbird, a fixed answer): \(Int(floorPhase.answeredPerSecond))/s, p99 \(ScenarioReport.format(floorPhase.latency.p99)) ms; \(floorPhase.cpu.summary); polls ÷ floor \(String(format: "%.2f", ratio))"
                )
                report.phases = [issuePhase, pollPhase, floorPhase]
                report.lastLine =
                    "waiting-room issue=\(Int(issued.answeredPerSecond))/s poll=\(Int(polled.answeredPerSecond))/s poll_p99_ms=\(ScenarioReport.format(pollPhase.latency.p99)) floor=\(Int(floorPhase.answeredPerSecond))/s poll_over_floor=\(String(format: "%.2f", ratio))"
            } catch {
                await system.stop()
                throw error
            }
        }
        return report
    }

    /// `polls` in a closed loop on `connections`, for `seconds`: the same for the API and the floor.
    func pollPlan(_ polls: [LoadRequest], port: Int) -> LoadPlan {
        LoadPlan(
            port: port,
            connections: connections,
            shape: .closedLoop,
            requests: polls,
            count: polls.count * 10,
            duration: .milliseconds(Int64(seconds * 1000))
        )
    }

    /// `polls` against the floor server, closed loop, as long as the API's poll phase.
    func floor(_ polls: [LoadRequest], environment: BenchEnvironment, sandbox: Sandbox, progress: Progress) async throws -> PhaseReport {
        let port = try freePort()
        let server = try await ChildProcess(
            name: "floor",
            executable: benchExecutable,
            arguments: ["floor", "--port", "\(port)"],
            environment: sandbox.concertEnvironment(),
            logFile: environment.outputDirectory.appendingPathComponent("logs/\(sandbox.database)-floor.log")
        )
        do {
            try await RaceScenario.waitForPort(port, process: server)
            progress.begin("waiting-room: the same polls against the floor for \(Int(seconds)) s")
            var cpu = CPUSampler(parts: [.init(name: server.name, pid: server.pid)])
            cpu.start()
            let run = try await HTTPLoadGenerator.run(pollPlan(polls, port: port), progress: { done, _ in progress.update(done: done, total: 0) })
            let phase = PhaseReport(name: "floor, \(connections) conns", connections: connections, run: run, cpu: cpu.stop())
            await server.stop()
            return phase
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Inserts `count` waiting tokens for concert 1 and signs them as the API would.
    static func moreWaitingTokens(_ count: Int, database: PostgresClient, environment: BenchEnvironment) async throws -> [String] {
        guard count > 0 else { return [] }
        let rows = try await database.query(
            """
            INSERT INTO queue_tokens (concert_id, seq, user_id, state)
            SELECT 1, nextval('queue_seq_1'), 'poller-' || g, 'waiting' FROM generate_series(1, \(count)) AS g
            RETURNING seq, user_id, issued_at
            """,
            logger: environment.logger
        )
        let signer = await QueueTokens(secret: environment.tokenSecret)
        var tokens: [String] = []
        let concert = ConcertID(1)!
        for try await (seq, user, issuedAt) in rows.decode((Int64, String, Date).self) {
            tokens.append(signer.sign(user: UserID(user)!, concert: concert, seq: seq, issuedAt: issuedAt))
        }
        return tokens
    }
}
