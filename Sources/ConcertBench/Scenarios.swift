import ArgumentParser
import BenchmarkKit
import ConcertPipeline
import Foundation
import Logging

struct E2E: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e2e",
        abstract: "Reservations of distinct seats over HTTP at the highest sustained rate and at half of it, submit → commit; then with Prefer: wait."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Skip the search and measure at this rate (per second).") var rate: Double?
    @Option(help: "The search's first rate.") var startRate = 400.0
    @Option(help: "Seconds per search step.") var stepSeconds = 4.0
    @Option(help: "Seconds of each measured phase.") var seconds = 10.0
    @Option(help: "Connections of the open-loop phases.") var connections = 256
    @Option(help: "Connections of the Prefer: wait closed loop.") var waitConnections = 64
    @Option(help: "Partitions (CONCERT_PARTITIONS of the measured process).") var partitions = PipelineTopology.defaultPartitions
    @Option(help: "Seeded concerts.") var concerts = 4
    @Option(help: "Seeded dates per concert.") var dates = 8
    @Option(help: "Seeded seats per date.") var seats = 10_000
    @Flag(help: "Only the Prefer: wait part.") var wait = false
    @Flag(help: "Only the submit-and-poll part.") var noWait = false

    var scenario: E2EScenario {
        var scenario = E2EScenario()
        scenario.rate = rate
        scenario.startRate = startRate
        scenario.stepSeconds = stepSeconds
        scenario.measureSeconds = seconds
        scenario.connections = connections
        scenario.waitConnections = waitConnections
        scenario.partitions = partitions
        scenario.concerts = concerts
        scenario.dates = dates
        scenario.seats = seats
        scenario.mode = wait ? .wait : noWait ? .poll : .both
        return scenario
    }

    func run() async throws {
        let scenario = scenario
        _ = try await measure(common) { try await scenario.run($0, progress: $1) }
    }
}

struct Race: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "1 000 concurrent clients race for one seat, then for 10 hot seats: the pipeline against a SELECT … FOR UPDATE baseline."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Concurrent clients (one connection each).") var clients = 1000
    @Option(help: "Rounds per race; the median counts.") var rounds = 3
    @Option(help: "Seats of the hot-seat race.") var hotSeats = 10
    @Flag(help: "Leave out the best-available rounds (to compare with a build before best available).") var noBestAvailable = false

    func run() async throws {
        var scenario = RaceScenario(benchExecutable: benchExecutable)
        scenario.clients = clients
        scenario.rounds = rounds
        scenario.hotSeats = hotSeats
        scenario.bestAvailable = !noBestAvailable
        let race = scenario
        _ = try await measure(common) { try await race.run($0, progress: $1) }
    }
}

struct SellOut: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sell-out",
        abstract:
            "A 60 000-seat stadium sold out: every buyer admitted at once asks for 1-4 seats best available; the pipeline against SELECT … FOR UPDATE SKIP LOCKED."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Buyers (one order each; about 25 000 sell the stadium out).") var buyers = 26_000
    @Option(help: "Connections the orders go over (closed loop).") var connections = 1000
    @Option(help: "Partitions (CONCERT_PARTITIONS).") var partitions = PipelineTopology.defaultPartitions

    func run() async throws {
        var scenario = SellOutScenario(benchExecutable: benchExecutable)
        scenario.buyers = buyers
        scenario.connections = connections
        scenario.partitions = partitions
        let sellOut = scenario
        _ = try await measure(common) { try await sellOut.run($0, progress: $1) }
    }
}

struct WaitingRoom: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waiting-room",
        abstract: "Token issue for new users, then status polls of 100 000 waiting tokens."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Tokens issued to new users.") var issues = 30_000
    @Option(help: "Waiting tokens polled.") var waitingTokens = 100_000
    @Option(help: "Seconds of polling.") var seconds = 10.0
    @Option(help: "Connections.") var connections = 64

    func run() async throws {
        var scenario = WaitingRoomScenario(benchExecutable: benchExecutable)
        scenario.issues = issues
        scenario.waitingTokens = waitingTokens
        scenario.seconds = seconds
        scenario.connections = connections
        let room = scenario
        _ = try await measure(common) { try await room.run($0, progress: $1) }
    }
}

struct Pipeline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Commands through the pipeline (publish → worker → commit) against the broker alone (publish → ack), same run."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Commands per round.") var messages = 40_000
    @Option(help: "Rounds; the medians count.") var rounds = 3
    @Option(help: "Partitions.") var partitions = PipelineTopology.defaultPartitions

    func run() async throws {
        var scenario = PipelineScenario()
        scenario.messages = messages
        scenario.rounds = rounds
        scenario.partitions = partitions
        let pipeline = scenario
        _ = try await measure(common) { try await pipeline.run($0, progress: $1) }
    }
}

struct Broker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish-with-confirms and consume+ack rates: a raw librabbitmq loop (the ceiling) vs. AMQPClient."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Messages per measurement.") var messages = 20_000
    @Option(help: "Body size in bytes (a command envelope is about 300).") var size = 300
    @Option(help: "Rounds; the table shows each side's median.") var rounds = 3
    @Option(help: "AMQPClient publishes in flight at once.") var inFlight = 1_000
    @Option(help: "Raw loop: wait for confirms after this many publishes.") var confirmWindow = 500
    @Option(help: "Consumer prefetch (both sides).") var prefetch: UInt16 = 500

    func run() async throws {
        var scenario = BrokerScenario()
        scenario.messages = messages
        scenario.size = size
        scenario.rounds = rounds
        scenario.inFlight = inFlight
        scenario.confirmWindow = confirmWindow
        scenario.prefetch = prefetch
        let broker = scenario
        _ = try await measure(common) { try await broker.run($0, progress: $1) }
    }
}

struct All: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every scenario, briefly, and one summary table (under 10 minutes on a 2-core machine)."
    )

    @OptionGroup var common: CommonOptions

    func run() async throws {
        var reports: [ScenarioReport] = []
        var e2e = E2EScenario()
        e2e.stepSeconds = 3
        e2e.measureSeconds = 6
        e2e.maximumSteps = 8
        reports.append(try await measure(common) { try await e2e.run($0, progress: $1) })
        var race = RaceScenario(benchExecutable: benchExecutable)
        race.rounds = 3
        let raceScenario = race
        reports.append(try await measure(common) { try await raceScenario.run($0, progress: $1) })
        var room = WaitingRoomScenario(benchExecutable: benchExecutable)
        room.issues = 20_000
        room.seconds = 6
        let roomScenario = room
        reports.append(try await measure(common) { try await roomScenario.run($0, progress: $1) })
        var pipeline = PipelineScenario()
        pipeline.messages = 20_000
        pipeline.rounds = 2
        let pipelineScenario = pipeline
        reports.append(try await measure(common) { try await pipelineScenario.run($0, progress: $1) })
        var broker = BrokerScenario()
        broker.rounds = 2
        let brokerScenario = broker
        reports.append(try await measure(common) { try await brokerScenario.run($0, progress: $1) })

        print("")
        print("summary (\(reports.first?.machine ?? ""))")
        for line in ScenarioReport.render(header: ["scenario", "result"], rows: reports.map { [$0.scenario, $0.lastLine] }) { print(line) }
        print("")
        for report in reports { print(report.lastLine) }
    }
}

struct LockBaseline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock-baseline",
        abstract: "Serve the SELECT … FOR UPDATE reservation baseline (started by the race scenario)."
    )

    @Option(help: "Port to listen on.") var port = 18_082

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let database = environment["CONCERT_DATABASE_URL"], let secret = environment["CONCERT_TOKEN_SECRET"] else {
            throw ValidationError("CONCERT_DATABASE_URL and CONCERT_TOKEN_SECRET must be set")
        }
        var logger = Logger(label: "lock-baseline")
        logger.logLevel = .warning
        try await LockBaselineServer.run(
            port: port,
            databaseURL: database,
            tokenSecret: secret,
            holdSeconds: Int(environment["CONCERT_HOLD_SECONDS"] ?? "") ?? 300,
            logger: logger
        )
    }
}

struct Floor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floor",
        abstract: "Serve the hello-world Hummingbird floor the API's polls are compared with (started by the waiting-room scenario)."
    )

    @Option(help: "Port to listen on.") var port = 18_083

    func run() async throws {
        var logger = Logger(label: "floor")
        logger.logLevel = .warning
        try await FloorServer.run(port: port, logger: logger)
    }
}

struct Soak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Reservations and payments for many minutes at half the sustained rate, while a worker is killed and the broker and the database restart; then SQL checks of every accepted command and of the invariants."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Minutes of load.") var minutes = 30.0
    @Option(help: "Reservations per second (default: half the highest sustained rate, found first).") var rate: Double?
    @Option(help: "Share of fresh holds that are paid; the rest expire.") var payFraction = 0.5
    @Option(help: "Hold length in seconds (CONCERT_HOLD_SECONDS).") var holdSeconds = 30
    @Option(help: "Partitions (CONCERT_PARTITIONS).") var partitions = PipelineTopology.defaultPartitions
    @Flag(help: "Load only, no faults.") var noFaults = false

    func run() async throws {
        var scenario = SoakScenario()
        scenario.minutes = minutes
        scenario.rate = rate
        scenario.payFraction = payFraction
        scenario.holdSeconds = holdSeconds
        scenario.partitions = partitions
        scenario.faults = !noFaults
        let soak = scenario
        let report = try await measure(common) { try await soak.run($0, progress: $1) }
        if report.lastLine.contains("VIOLATED") { throw ExitCode(1) }
    }
}
