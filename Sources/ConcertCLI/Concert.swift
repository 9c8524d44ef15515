import ArgumentParser
import ConcertApp
import ConcertDomain
import ConcertOperations
import ConcertPipeline
import ConcertStorage
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// The `concert` executable: parses arguments, reads the environment, and hands over to ConcertApp.
@main
struct Concert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concert",
        abstract: "Concert-ticket reservation backend: HTTP API, partition workers and operator tools.",
        subcommands: [
            Serve.self, API.self, Worker.self, Migrate.self, Seed.self, Topology.self, DeadLetters.self, Status.self, Users.self, Doctor.self,
            Catalogue.self,
        ]
    )
}

/// The registry behind this process's metrics, served at `/metrics`; filled once `bootstrap` ran.
let metricsRegistry = PrometheusCollectorRegistry()

/// Reads and checks the configuration — every problem said at once, before anything connects —
/// and sets up logging and metrics once, for every subcommand.
func bootstrap(label: String, role: ConcertConfiguration.Role = .other) throws -> (ConcertConfiguration, Logger) {
    let (configuration, problems) = ConcertConfiguration.read(environment: ProcessInfo.processInfo.environment, role: role)
    guard problems.isEmpty else { throw ConfigurationProblems(problems) }
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metricsRegistry))
    let traceIDs = ConcertConfiguration.traceLogMetadata(ProcessInfo.processInfo.environment)
    LoggingSystem.bootstrap(
        { name, provider in DeferredMetadataLogHandler.standardError(label: name, level: configuration.logLevel, metadataProvider: provider) },
        metadataProvider: traceIDs
    )
    return (configuration, Logger(label: label))
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole system in one process — HTTP API, partition workers, admitter — until SIGTERM or Ctrl-C."
    )

    func run() async throws {
        let (configuration, logger) = try bootstrap(label: "concert.serve", role: .api)
        let tracing = try configuration.startTracing(processKind: "serve", environment: ProcessInfo.processInfo.environment)
        try await ConcertServices.buildServeGroup(configuration, metrics: metricsRegistry, tracing: tracing, logger: logger).run()
    }
}

struct API: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Run the HTTP API alone (no workers): add API processes behind a load balancer."
    )

    func run() async throws {
        let (configuration, logger) = try bootstrap(label: "concert.api", role: .api)
        let tracing = try configuration.startTracing(processKind: "api", environment: ProcessInfo.processInfo.environment)
        try await ConcertServices.buildServeGroup(configuration, pipeline: false, metrics: metricsRegistry, tracing: tracing, logger: logger).run()
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every partition's queue depth and active consumer, the admission state and the dead-letter count."
    )

    func run() async throws {
        let (configuration, logger) = try bootstrap(label: "concert.status")
        print(try await SystemStatus.report(configuration, logger: logger))
    }
}

struct Catalogue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The catalogue: list concerts with their dates' seats by state, or import one from a file.",
        subcommands: [List.self, Import.self]
    )

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the catalogue say what FILE says: a concert with its dates and seat maps (JSON), found by its externalKey.",
            discussion: """
                The concert is created, or updated where its fields differ; each date whose seats differ gets the file's map \
                through its partition worker (a worker must be running). Importing the same file again changes nothing. \
                Exit status 0 only when every date has the file's seats.
                """
        )

        /// Said as it is, without the usage text an argument error adds.
        struct InvalidFile: Error, CustomStringConvertible {
            let description: String
        }

        @Argument(help: "The JSON file (scripts/catalogue/ has samples).")
        var file: String

        @Option(help: "Open the queue now and start the sale this many seconds later, whatever the file says (a demo's on-sale).")
        var onSaleIn: Int?

        @Option(help: "Seconds to wait for each seat map's outcome.")
        var timeout = 60

        func run() async throws {
            let (configuration, logger) = try bootstrap(label: "concert.catalogue")
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            let now = Date()
            let saleTimes = onSaleIn.map { (queueOpensAt: now, onSaleAt: now.addingTimeInterval(TimeInterval(max(0, $0)))) }
            let catalogue: CatalogueFile
            do {
                catalogue = try CatalogueFile(data, saleTimes: saleTimes)
            } catch {
                throw InvalidFile(description: "\(file): \(error)")
            }
            let report = try await configuration.traced(
                processKind: "catalogue",
                operation: "catalogue import",
                environment: ProcessInfo.processInfo.environment,
                logger: logger
            ) {
                try await CatalogueImport.run(catalogue, configuration: configuration, timeout: .seconds(max(1, timeout)), logger: logger)
            }
            print(report)
            if !report.succeeded { throw ExitCode.failure }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every concert with its sale times and status, and each date's free, held and sold seats."
        )

        func run() async throws {
            let (configuration, logger) = try bootstrap(label: "concert.catalogue")
            print(try await CatalogueReport.report(configuration, logger: logger))
        }
    }
}

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the configuration, the database, the broker and the topology; say what is wrong with each.",
        discussion:
            "Prints the effective configuration (secrets masked), then one line per check with ✓ or ✗ and why. Changes nothing. Exit status 0 only when no check failed."
    )

    func run() async throws {
        // Doctor reports malformed variables instead of stopping at them.
        let environment = ProcessInfo.processInfo.environment
        let level = ConcertConfiguration.read(environment: environment).0.logLevel
        LoggingSystem.bootstrap { name in DeferredMetadataLogHandler.standardError(label: name, level: max(level, .warning)) }
        let report = await ConcertOperations.Doctor.examine(environment: environment, logger: Logger(label: "concert.doctor"))
        print(report.text)
        if !report.passed { throw ExitCode.failure }
    }
}

struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run partition workers, admitter and archiver without HTTP; start several to share the partitions."
    )

    @Option(help: "Partitions this worker prefers (it is active for them; it stands by for the rest): 0-3, 2, 0,2. Default: all.")
    var partitions: String?

    func run() async throws {
        let (configuration, logger) = try bootstrap(label: "concert.worker")
        let chosen = try partitions.map { try PartitionSelection.parse($0, count: configuration.partitions) } ?? Array(0..<configuration.partitions)
        logger.info("worker starting", metadata: ["partitions.preferred": "\(chosen.map(String.init).joined(separator: ","))"])
        let tracing = try configuration.startTracing(processKind: "worker", environment: ProcessInfo.processInfo.environment)
        try await ConcertServices.buildWorkerGroup(configuration, preferred: chosen, metrics: metricsRegistry, tracing: tracing, logger: logger).run()
    }
}

/// Parses `--partitions`.
enum PartitionSelection {
    static func parse(_ text: String, count: Int) throws -> [Int] {
        var chosen = Set<Int>()
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-", maxSplits: 1).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard let lower = bounds.first ?? nil, let upper = bounds.count == 2 ? bounds[1] : lower, lower <= upper, lower >= 0, upper < count else {
                throw ValidationError("--partitions: \(part) is not a partition or range within 0-\(count - 1)")
            }
            chosen.formUnion(lower...upper)
        }
        return chosen.sorted()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Bring the database schema up to date.")

    func run() async throws {
        let (configuration, logger) = try bootstrap(label: "concert.migrate")
        let applied = try await ConcertServices.withDatabase(configuration, logger: logger) { database in
            try await Migrator().migrate(database, logger: logger)
        }
        print(applied.isEmpty ? "schema is up to date" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
    }
}

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load the demo concerts, dates and seats (idempotent; migrates first)."
    )

    @Option(help: "Concerts (ids 1…).") var concerts = 3
    @Option(help: "Dates per concert, a week apart from a week ahead.") var dates = 5
    @Option(help: "Seats per date (1…\(SeatNumber.maximum)).") var seats = 50

    func validate() throws {
        guard (1...1000).contains(concerts) else { throw ValidationError("--concerts must be 1…1000") }
        guard (1...520).contains(dates) else { throw ValidationError("--dates must be 1…520") }
        guard (1...SeatNumber.maximum).contains(seats) else { throw ValidationError("--seats must be 1…\(SeatNumber.maximum)") }
    }

    func run() async throws {
        let (configuration, logger) = try bootstrap(label: "concert.seed")
        let demo = DemoData(concerts: concerts, dates: dates, seats: seats)
        let summary = try await ConcertServices.withDatabase(configuration, logger: logger) { database in
            try await Migrator().migrate(database, logger: logger)
            return try await demo.seed(database, logger: logger)
        }
        print("demo data: \(summary.concerts) concerts, \(summary.schedules) schedules, \(summary.seats) seats")
    }
}

struct Topology: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The RabbitMQ topology: declare it, or write it in RabbitMQ's definitions format.",
        subcommands: [Apply.self, Export.self]
    )

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Declare every exchange, queue and binding (idempotent; CONCERT_PARTITIONS and CONCERT_HOLD_SECONDS shape it)."
        )

        func run() async throws {
            let (configuration, logger) = try bootstrap(label: "concert.topology")
            let topology = configuration.topology
            try await ConcertServices.withBroker(configuration, logger: logger) { broker in
                try await topology.apply(to: broker)
            }
            print("declared \(topology.exchanges.count) exchanges, \(topology.queues.count) queues, \(topology.bindings.count) bindings")
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the topology as RabbitMQ definitions JSON.")

        @Option(name: .shortAndLong, help: "Where to write it ('-' for standard output).")
        var output = "topology/definitions.json"

        func run() async throws {
            let (configuration, _) = try bootstrap(label: "concert.topology")
            let json = configuration.topology.definitionsJSON()
            if output == "-" {
                FileHandle.standardOutput.write(json)
            } else {
                try json.write(to: URL(fileURLWithPath: output))
                print("wrote \(output)")
            }
        }
    }
}

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Users' access tokens.",
        subcommands: [Token.self]
    )

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print an HS256 access token for USER, signed with CONCERT_USER_TOKEN_SECRET (for the demo, tests and operators).",
            discussion: "It carries sub = USER, iat, exp, and iss / aud when CONCERT_USER_TOKEN_ISSUER / CONCERT_USER_TOKEN_AUDIENCE are set."
        )

        @Argument(help: "The user id (letters, digits, '.', '_', '-'; 1-64 characters).")
        var user: String

        @Option(help: "How long the token is valid, in seconds.")
        var ttl = 3600

        func run() async throws {
            let (configuration, _) = try bootstrap(label: "concert.users")
            guard let user = UserID(user) else {
                throw ValidationError("USER must be 1-64 letters, digits, '.', '_' or '-', got '\(user)'")
            }
            guard ttl > 0 else { throw ValidationError("--ttl must be a positive number of seconds") }
            let token = try await configuration.signAccessToken(for: user, lifetime: TimeInterval(ttl))
            print(token)
        }
    }
}
