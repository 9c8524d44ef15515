import ArgumentParser

/// `scripts/bench`: measurements against the real broker and database, reported as numbers.
@main
struct ConcertBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concert-bench",
        abstract: "Benchmarks of the concert reservation system.",
        subcommands: [BrokerBenchmark.self]
    )
}
