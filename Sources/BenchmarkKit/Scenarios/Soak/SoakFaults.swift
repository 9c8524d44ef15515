import Foundation
import Synchronization

/// The `concert worker` processes of a soak: two at first, each active for half the partitions
/// and standing by for the other half; one is killed and replaced during the run.
final class WorkerPool: Sendable {
    private let sandbox: Sandbox
    private let environment: [String: String]
    private let workers = Mutex<[(process: ChildProcess, partitions: String)]>([])
    private let started = Atomic<Int>(0)

    init(_ sandbox: Sandbox, environment: [String: String]) {
        self.sandbox = sandbox
        self.environment = environment
    }

    /// Starts a worker preferring `partitions` (e.g. `0-3`).
    func start(partitions: String) async throws {
        let number = started.add(1, ordering: .relaxed).newValue
        let worker = try await sandbox.start("concert-worker-\(number)", arguments: ["worker", "--partitions", partitions], environment)
        workers.withLock { $0.append((worker, partitions)) }
    }

    var running: [ChildProcess] { workers.withLock { $0.map(\.process).filter(\.isRunning) } }

    /// SIGKILL to the first running worker: no chance to clean up. Returns its name and the
    /// partitions it preferred.
    func killFirst() -> (name: String, partitions: String)? {
        guard let victim = workers.withLock({ $0.first { $0.process.isRunning } }) else { return nil }
        victim.process.send(SIGKILL)
        return (victim.process.name, victim.partitions)
    }

    func stopAll() async {
        for worker in workers.withLock({ $0 }) { await worker.process.stop() }
    }
}

/// The faults a soak injects, at fixed fractions of its duration: a worker killed with SIGKILL
/// (replaced 15 s later), the broker's application stopped for 10 s, PostgreSQL stopped for 10 s.
struct SoakFaults {
    let workers: WorkerPool
    let services: URL
    let progress: Progress

    /// What happened when, for the report.
    struct Event: Sendable, Codable {
        let secondsSinceStart: Double
        let what: String
    }

    func run(over duration: Duration, from start: ContinuousClock.Instant) async throws -> [Event] {
        var events: [Event] = []
        func note(_ what: String) {
            let event = Event(secondsSinceStart: (ContinuousClock.now - start).seconds, what: what)
            events.append(event)
            progress.note("soak +\(Int(event.secondsSinceStart)) s: \(what)")
        }
        try await sleep(until: start + duration * 0.2)
        let killed = workers.killFirst()
        note("SIGKILL to \(killed?.name ?? "no worker")")
        try await Task.sleep(for: .seconds(15))
        if let killed {
            try await workers.start(partitions: killed.partitions)
            note("a new worker started for partitions \(killed.partitions)")
        }

        try await sleep(until: start + duration * 0.45)
        note("broker stopping (rabbitmqctl stop_app) for 10 s")
        try await service("rabbitmqctl", "-q", "stop_app")
        try await Task.sleep(for: .seconds(10))
        try await service("rabbitmqctl", "-q", "start_app")
        note("broker started again")

        try await sleep(until: start + duration * 0.7)
        note("PostgreSQL stopping for 10 s")
        try await service("stop-postgres")
        try await Task.sleep(for: .seconds(10))
        try await service("start-postgres")
        note("PostgreSQL started again")
        return events
    }

    private func sleep(until instant: ContinuousClock.Instant) async throws {
        let now = ContinuousClock.now
        if instant > now { try await Task.sleep(for: instant - now) }
    }

    private func service(_ arguments: String...) async throws {
        _ = try await runToCompletion(services, arguments, environment: ProcessInfo.processInfo.environment)
    }
}
