import Foundation
import NIOHTTP1

/// Runs the measured phases of the reservation scenarios against a running system: builds the
/// requests for fresh seats, drives the load, waits for the commits and turns it all into a `PhaseReport`.
struct PhaseRunner {
    let system: ConcertUnderTest
    let probe: CommitProbe
    var cpu: CPUSampler
    /// Waiting-room tokens per concert, by user index.
    let tokens: [Int: [String]]
    let progress: Progress

    /// What a fire-and-poll phase showed.
    struct PollStep {
        let phase: PhaseReport
        let sustained: Bool
        let backlog: Int
    }

    /// Reservation requests for the next `count` seats of `plan`.
    func reservations(_ count: Int, plan: inout SeatPlan, wait: Bool) throws -> [LoadRequest] {
        if let shortfall = plan.shortfall(count, for: "the next phase") { throw BenchError(shortfall) }
        return (0..<count).map { _ in
            let (schedule, seat, user) = plan.take()!
            var headers = [("Authorization", "Bearer \(tokens[schedule.concert]![user])")]
            if wait { headers.append(("Prefer", "wait=10")) }
            return LoadRequest(
                method: .POST,
                path: "/v1/reservations",
                headers: headers,
                body: Array(#"{"concertId":\#(schedule.concert),"date":"\#(schedule.date)","seatNumber":\#(seat)}"#.utf8)
            )
        }
    }

    /// The highest reservation rate the system sustains (see `RateSearch`), a note per step.
    mutating func searchMaximum(
        startRate: Double,
        maximumSteps: Int,
        stepSeconds: Double,
        connections: Int,
        plan: inout SeatPlan,
        notes: inout [String]
    ) async throws -> Double {
        var search = RateSearch(start: startRate, maximumSteps: maximumSteps)
        while let offered = search.nextRate {
            let step = try await pollPhase(
                "search \(Int(offered))/s",
                rate: offered,
                seconds: stepSeconds,
                connections: connections,
                plan: &plan,
                judge: true
            )
            search.record(offered: offered, sustained: step.sustained)
            notes.append(
                "search step \(Int(offered))/s: answered \(Int(step.phase.answeredPerSecond))/s, backlog \(step.backlog) at the last answer, \(step.phase.nonSuccess) non-2xx → \(step.sustained ? "sustained" : "not sustained")"
            )
        }
        guard let found = search.best else { throw BenchError("no rate was sustained, not even \(search.steps.map(\.offered).min() ?? 0)/s") }
        return found
    }

    /// Submits at `rate` for `seconds` and waits for every accepted command to commit. When
    /// `judge`, it also says whether the step was sustained (see `RateSearch.sustained`).
    mutating func pollPhase(
        _ name: String,
        rate: Double,
        seconds: Double,
        connections: Int,
        plan: inout SeatPlan,
        judge: Bool = false
    ) async throws -> PollStep {
        let requests = try reservations(Int((rate * seconds).rounded()), plan: &plan, wait: false)
        let before = try await probe.decided()
        progress.begin("e2e \(name)")
        cpu.start()
        let run = try await HTTPLoadGenerator.run(
            LoadPlan(port: system.port, connections: connections, shape: .rate(perSecond: rate), requests: requests, captureBody: { $0 == 202 }),
            progress: { [progress] done, _ in progress.update(done: done, total: requests.count) }
        )
        let accepted = run.statuses.reduce(0) { $0 + ($1 == 202 ? 1 : 0) }
        var backlog = 0
        var sustained = true
        if judge {
            // Measured when the last answer came: a grace period would let a short step hide an overload.
            backlog = max(0, before + accepted - (try await probe.decided()))
            let errors = run.sent - accepted
            sustained = RateSearch.sustained(
                offered: rate,
                answeredPerSecond: Double(run.sent) / max(run.elapsed.seconds, Double(run.sent) / rate),
                answered: run.sent,
                errors: errors,
                backlog: backlog
            )
        }
        progress.begin("e2e \(name): waiting for \(accepted) commits")
        try await probe.waitUntilDecided(before + accepted, from: before, progress: progress)
        let shares = cpu.stop()
        var ids: [UUID] = []
        var dueByID: [UUID: Date] = [:]
        for (index, body) in run.bodies {
            guard let text = JSONFields.scanString("commandId", in: body), let id = UUID(uuidString: text) else { continue }
            ids.append(id)
            dueByID[id] = run.dueDate(index)
        }
        let completions = try await probe.completions(of: ids)
        var commitLatency = LatencySummary()
        var commits = Timeline(bucket: .milliseconds(250))
        var lastCommit = run.startedAt
        for (id, committed) in completions {
            guard let due = dueByID[id] else { continue }
            commitLatency.record(milliseconds: committed.timeIntervalSince(due) * 1000)
            commits.add(atNanos: UInt64(max(0, committed.timeIntervalSince(run.startedAt)) * 1e9))
            lastCommit = max(lastCommit, committed)
        }
        let firstDue = run.sentIndices.map(run.dueDate).min() ?? run.startedAt
        let committedPerSecond = Double(completions.count) / max(lastCommit.timeIntervalSince(firstDue), 0.001)
        let phase = PhaseReport(
            name: name,
            offeredPerSecond: rate,
            connections: connections,
            run: run,
            committedPerSecond: committedPerSecond,
            commitLatency: commitLatency.percentiles,
            commits: commits,
            cpu: shares
        )
        progress.note(
            "e2e \(name): submitted \(Int(phase.answeredPerSecond))/s, committed \(Int(committedPerSecond))/s, commit p50 \(ScenarioReport.format(commitLatency.p50)) ms p99 \(ScenarioReport.format(commitLatency.p99)) ms; \(shares.summary)"
        )
        return PollStep(phase: phase, sustained: sustained, backlog: backlog)
    }

    /// `Prefer: wait=10`: the outcome comes in the answer. A closed loop (`rate` nil) or an open
    /// loop at `rate`, for `seconds`; then waits until what was accepted is committed.
    mutating func waitPhase(_ name: String, rate: Double?, seconds: Double, connections: Int, plan: inout SeatPlan) async throws -> PhaseReport {
        let count = rate.map { Int(($0 * seconds).rounded()) } ?? min(plan.remaining, Int(seconds * 8_000))
        let requests = try reservations(count, plan: &plan, wait: true)
        let before = try await probe.decided()
        progress.begin("e2e \(name)")
        cpu.start()
        let run = try await HTTPLoadGenerator.run(
            LoadPlan(
                port: system.port,
                connections: connections,
                shape: rate.map { .rate(perSecond: $0) } ?? .closedLoop,
                requests: requests,
                duration: rate == nil ? .milliseconds(Int64(seconds * 1000)) : nil
            ),
            progress: { [progress] done, _ in progress.update(done: done, total: rate == nil ? 0 : requests.count) }
        )
        if rate == nil {
            // A closed loop that used up its seats before its time would measure a shorter phase than asked.
            if run.sent >= requests.count, run.elapsed.seconds < seconds * 0.95 {
                let missing = Int(Double(run.sent) / max(run.elapsed.seconds, 0.001) * seconds) - run.sent
                let elapsed = String(format: "%.1f", run.elapsed.seconds)
                throw BenchError(
                    plan.shortfall(max(1, missing), for: "\(name) for \(seconds) s")
                        ?? "\(name) sent every request prepared for it (\(requests.count)) in \(elapsed) s of \(seconds)"
                )
            }
            // It takes seats for the fastest it could go and sends them in order: the rest go back.
            plan.giveBack(max(0, requests.count - run.sent))
        }
        let counts = run.statusCounts
        // An outcome is an answer that carries the command's result: 201, or a business failure.
        let outcomes = counts.filter { [201, 402, 403, 404, 409, 410].contains($0.key) }.values.reduce(0, +)
        let commands = outcomes + (counts[202] ?? 0)
        try await probe.waitUntilDecided(before + commands, from: before, progress: progress)
        let shares = cpu.stop()
        var phase = PhaseReport(name: name, offeredPerSecond: rate, connections: connections, run: run, cpu: shares)
        let outcomesPerSecond = Double(outcomes) / max(run.elapsed.seconds, 0.001)
        phase.extra["outcomesPerSecond"] = outcomesPerSecond
        phase.extra["answeredWithoutOutcome"] = Double(counts[202] ?? 0)
        progress.note(
            "e2e \(name): \(Int(outcomesPerSecond)) outcomes/s, p50 \(ScenarioReport.format(phase.latency.p50)) ms p99 \(ScenarioReport.format(phase.latency.p99)) ms, \(counts[202] ?? 0) answered 202 (no outcome within 10 s); \(shares.summary)"
        )
        return phase
    }
}
