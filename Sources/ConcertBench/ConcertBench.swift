import ArgumentParser
import BenchmarkKit
import Foundation
import Logging

/// `scripts/bench`: measurements against the real broker and database, reported as numbers.
@main
struct ConcertBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concert-bench",
        abstract: "Benchmarks of the concert reservation system (run them through scripts/bench).",
        subcommands: [
            E2E.self, Race.self, SellOut.self, WaitingRoom.self, Pipeline.self, Broker.self, All.self, Soak.self, LockBaseline.self, Floor.self,
        ]
    )
}

/// Options every scenario takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "Where reports (JSON), pictures (SVG) and the logs of started processes go.")
    var out = ".run/bench"

    @Option(help: "The concert executable to measure (default: the one built next to concert-bench), e.g. an older build to compare.")
    var concert: String?

    func environment() throws -> BenchEnvironment {
        try BenchEnvironment(outputDirectory: URL(fileURLWithPath: out), concertExecutable: concert.map { URL(fileURLWithPath: $0) })
    }
}

/// Runs one scenario: progress on standard error, then its table, where its files went, and its last line.
func measure(
    _ options: CommonOptions,
    _ body: (BenchEnvironment, BenchmarkKit.Progress) async throws -> ScenarioReport
) async throws -> ScenarioReport {
    let environment = try options.environment()
    ChildProcess.stopAllOnSignal()
    let report = try await body(environment, BenchmarkKit.Progress())
    print(report.table)
    let (json, picture) = try report.write(to: environment.outputDirectory)
    print("wrote \(json.path) and \(picture.path)")
    print(report.lastLine)
    return report
}

/// The `concert-bench` executable itself (to start the lock baseline as a process of its own).
var benchExecutable: URL {
    URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
}
