import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertStorage
import Foundation
import PostgresNIO
import Synchronization
import TestSupport
import Testing

/// The highly available PostgreSQL `scripts/services up --pg-ha` starts (`CONCERT_PG_HA=1` in its
/// `.run/env`, whose `CONCERT_DATABASE_URL` is HAProxy's). `scripts/test` runs these tests on it.
enum FailoverEnvironment {
    static let environment = ProcessInfo.processInfo.environment
    static let isRunning = environment["CONCERT_PG_HA"] == "1"
    /// The setup is there, or demanded (`CONCERT_REQUIRE_PG_HA=1`: then a missing one fails the test).
    static let isConfigured = isRunning || environment["CONCERT_REQUIRE_PG_HA"] == "1"
    /// Patroni's leader key lives this long unless renewed (services.d/pg-ha.sh).
    static let ttl = Duration.seconds(10)

    /// `scripts/services pg-node N ACTION` (kill, pause, resume, start).
    static func member(_ member: Int, _ action: String) async -> Int32 {
        await ServicesScript.run(["pg-node", String(member), action], disturbing: false)
    }

    /// The member that leads (`pg-node leader`), or the synchronous standby (`pg-node standby`).
    static func current(_ role: String) async -> Int? {
        guard let (status, output) = try? await ServicesScript.output(["pg-node", role], disturbing: false, standardError: .discarded), status == 0
        else {
            return nil
        }
        return Int(output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A `concert SUBCOMMAND` process (the debug build) with `environment`, logging to a temporary file.
    static func start(_ subcommand: String, _ environment: [String: String], name: String) async throws -> SpawnedProcess {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("concert-\(name)-\(UUID().uuidString.prefix(6)).log")
        return try await SpawnedProcess(
            ClusterEnvironment.root.appendingPathComponent(".build/debug/concert").path,
            [subcommand],
            environment: environment,
            log: log
        )
    }
}

/// Buyers' top-ups: each charge has an Idempotency-Key of its own, and every one answered `200`
/// is kept, to be found in the ledger after the failover.
final class Charger: Sendable {
    let api: LiveAPI
    let buyers: [Burst.Buyer]
    private let stopped = Atomic<Bool>(false)
    private let charged = Mutex<[String]>([])

    init(api: LiveAPI, buyers: [Burst.Buyer]) {
        self.api = api
        self.buyers = buyers
    }

    var keys: [String] { charged.withLock { $0 } }
    func stop() { stopped.store(true, ordering: .relaxed) }

    func run() async {
        var sequence = 0
        while !stopped.load(ordering: .relaxed) {
            let buyer = buyers[sequence % buyers.count]
            sequence += 1
            let key = "failover-\(UUID().uuidString.lowercased())"
            let answer = await api.send(
                "POST",
                "/v1/users/\(buyer.user)/balance/charges",
                bearer: buyer.access,
                body: #"{"amount":1000}"#,
                headers: ["Idempotency-Key": key]
            )
            if answer.status == 200 { charged.withLock { $0.append(key) } } else { try? await Task.sleep(for: .milliseconds(100)) }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// What `/health/ready` said about the database while a fault lasted.
final class ReadinessWatch: Sendable {
    let api: LiveAPI
    private let stopped = Atomic<Bool>(false)
    private let seen = Mutex<[(at: ContinuousClock.Instant, state: String)]>([])

    init(api: LiveAPI) { self.api = api }

    var states: [String: Int] { seen.withLock { Dictionary(grouping: $0, by: \.state).mapValues(\.count) } }

    /// The states in order from `since` on, each with how many answers in a row said it.
    func sequence(since: ContinuousClock.Instant) -> String {
        var runs: [(String, Int)] = []
        for (_, state) in seen.withLock({ $0 }).filter({ $0.at >= since }) {
            if runs.last?.0 == state { runs[runs.count - 1].1 += 1 } else { runs.append((state, 1)) }
        }
        return runs.map { "\($0.0) ×\($0.1)" }.joined(separator: " → ")
    }
    func stop() { stopped.store(true, ordering: .relaxed) }

    /// Asks every 250 ms without waiting for the answer before: a probe can take its whole
    /// budget while the leader is paused, and one at a time would leave most of the window
    /// between the old leader's silence and the new one's promotion unasked.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            while !stopped.load(ordering: .relaxed) {
                group.addTask {
                    let answer = await self.api.send("GET", "/health/ready", bearer: nil)
                    let state = answer.string("database") ?? "no answer (\(answer.status))"
                    self.seen.withLock { $0.append((answer.at, state)) }
                }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
    }
}

/// PostgreSQL's leader dies under `concert api` and two `concert worker` processes while buyers
/// reserve, pay and top up their balances: killed (`kill -9` of its PostgreSQL; Patroni promotes the
/// synchronous standby), started again (it rejoins as a replica), then the new leader is paused
/// (`SIGSTOP` of Patroni and PostgreSQL) for longer than Patroni's TTL. After each: every accepted
/// command reached its outcome or the dead-letter archive, every command and charge a client saw
/// succeed is in the database, every wallet equals its ledger, no seat is held or sold twice, every
/// overdue hold expired. It prints how long until a new leader, how long the API answered 503, and
/// the answers by status.
@Suite(.serialized, .enabled(if: FailoverEnvironment.isConfigured))
struct DisruptivePostgresFailoverTests {
    static let holdSeconds = 8
    static let seats = 400
    static let partitions = 6

    @Test func losingTheLeaderMidBurstLosesNothingAcknowledged() async throws {
        #expect(FailoverEnvironment.isRunning, "no HA setup: start one with scripts/services up --pg-ha and source .run/env")
        guard FailoverEnvironment.isRunning else { return }
        try await BrokerVirtualHost.withVirtualHost { amqp in
            try await DatabaseEnvironment.withIsolatedDatabaseAndURL { client, databaseURL in
                try await Migrator().migrate(client, logger: PurchaseInvariants.logger)
                _ = try await DemoData(concerts: 1, dates: 3, seats: Self.seats).seed(client, logger: PurchaseInvariants.logger)
                let userSecret = "failover-tests-user-secret-0123456789abcdef"
                let port = try freeLocalPort()
                let environment = ClusterEnvironment.serveEnvironment(
                    amqp: amqp,
                    databaseURL: databaseURL,
                    port: port,
                    partitions: Self.partitions,
                    userSecret: userSecret,
                    // Statements on a dead or paused leader give up within 3 s (the default is 10).
                    ["CONCERT_HOLD_SECONDS": String(Self.holdSeconds), "CONCERT_DATABASE_TIMEOUT_SECONDS": "3"]
                )
                let api = try await FailoverEnvironment.start("api", environment, name: "failover-api")
                let workers = [
                    try await FailoverEnvironment.start("worker", environment, name: "failover-worker-1"),
                    try await FailoverEnvironment.start("worker", environment, name: "failover-worker-2"),
                ]
                let processes = [api] + workers
                do {
                    try await Self.scenario(LiveAPI(port: port), client: client, userSecret: userSecret)
                } catch {
                    print("failover test failed; logs: \(processes.map(\.log.path).joined(separator: ", "))")
                    await Self.restore()
                    for process in processes { _ = await process.stop() }
                    throw error
                }
                for process in processes {
                    let status = await process.stop()
                    #expect(status == 0, "a concert process did not stop cleanly on SIGTERM; log: \(process.log.path)")
                }
            }
        }
    }

    /// Members a failed run left paused or stopped are brought back for the next run.
    static func restore() async {
        for member in 1...2 {
            _ = await FailoverEnvironment.member(member, "resume")
            _ = await FailoverEnvironment.member(member, "start")
        }
    }

    static func scenario(_ api: LiveAPI, client: PostgresClient, userSecret: String) async throws {
        let buyers = try await api.readyBuyers("failover-buyer", userSecret: userSecret)
        let dates = try await api.datesOfConcert1(access: buyers[0].access)
        var readinessSeen: [String: Int] = [:]

        // (a) kill -9 of the leader's PostgreSQL mid-burst: the synchronous standby is promoted.
        let killed = try #require(await FailoverEnvironment.current("leader"), "no member leads")
        readinessSeen.merge(
            try await Self.fault(api, buyers: buyers, dates: dates, client: client, name: "kill -9 of pg\(killed)'s PostgreSQL", from: killed) {
                #expect(await FailoverEnvironment.member(killed, "kill") == 0)
                try await Task.sleep(for: .seconds(20))
            },
            uniquingKeysWith: +
        )

        // (b) the old leader runs again, as a replica; a synchronous standby is back in place.
        let restarting = ContinuousClock.now
        #expect(await FailoverEnvironment.member(killed, "start") == 0)
        try await eventually(timeout: .seconds(90), "pg\(killed) is the synchronous standby again") {
            await FailoverEnvironment.current("standby") == killed
        }
        print("failover: pg\(killed) rejoined as the synchronous standby \(ContinuousClock.now - restarting) after its start")

        // (c) the new leader paused (Patroni and PostgreSQL) for longer than the TTL, then resumed.
        let paused = try #require(await FailoverEnvironment.current("leader"), "no member leads after the rejoin")
        readinessSeen.merge(
            try await Self.fault(api, buyers: buyers, dates: dates, client: client, name: "SIGSTOP of pg\(paused) for 15 s", from: paused) {
                #expect(await FailoverEnvironment.member(paused, "pause") == 0)
                try await Task.sleep(for: FailoverEnvironment.ttl + .seconds(5))
                #expect(await FailoverEnvironment.member(paused, "resume") == 0)
                try await Task.sleep(for: .seconds(10))
            },
            uniquingKeysWith: +
        )
        try await eventually(timeout: .seconds(90), "pg\(paused) is the synchronous standby after the pause") {
            await FailoverEnvironment.current("standby") == paused
        }
        print("failover: /health/ready's database over both faults: \(readinessSeen.sorted { $0.key < $1.key })")
        #expect(readinessSeen["failing-over", default: 0] > 0, "readiness never said the database was failing over")
        #expect(readinessSeen["up", default: 0] > 0)
    }

    /// Runs buyers and top-ups, does `fault` 5 s in, stops them, and checks what must hold. Returns
    /// what readiness said meanwhile.
    static func fault(
        _ api: LiveAPI,
        buyers: [Burst.Buyer],
        dates: [String],
        client: PostgresClient,
        name: String,
        from leader: Int,
        _ fault: () async throws -> Void
    ) async throws -> [String: Int] {
        let burst = Burst(api: api, buyers: buyers, dates: dates, seats: seats)
        let charger = Charger(api: api, buyers: buyers)
        let readiness = ReadinessWatch(api: api)
        let running = Task {
            async let buying: Void = burst.run()
            async let charging: Void = charger.run()
            async let watching: Void = readiness.run()
            _ = await (buying, charging, watching)
        }
        try await Task.sleep(for: .seconds(5))
        let started = ContinuousClock.now
        let newLeader = Task {
            while !Task.isCancelled {
                if let now = await FailoverEnvironment.current("leader"), now != leader { return ContinuousClock.now - started }
                try? await Task.sleep(for: .milliseconds(200))
            }
            return Duration.zero
        }
        try await fault()
        burst.stop()
        charger.stop()
        readiness.stop()
        await running.value
        let promoted = await newLeader.value
        newLeader.cancel()
        print("failover: after \(name): a new leader \(promoted) after it; \(burst.failover(since: started))")
        print("failover: answers by status over the burst: \(burst.statusCounts); \(charger.keys.count) top-ups answered 200")
        print("failover: /health/ready's database from the fault on: \(readiness.sequence(since: started))")
        #expect(promoted > .zero, "no new leader after \(name)")
        try await PurchaseInvariants.expectSettled(client, burst.accepted)
        try await PurchaseInvariants.expectConfirmedDurable(client, burst.confirmed)
        try await PurchaseInvariants.expectWalletsMatchLedgers(client, charges: charger.keys)
        let deadLettered = try await PurchaseInvariants.count(client, "SELECT count(*) FROM dead_letters")
        #expect(deadLettered == 0, "\(deadLettered) commands were dead-lettered across the failover")
        return readiness.states
    }
}
