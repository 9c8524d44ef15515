import ConcertPipeline
import ConcertStorage
import Logging
import ServiceLifecycle
import Synchronization

/// What a starting process is doing or waiting for, until it has migrated the schema and declared
/// the topology; `/health/ready` and every API route tell it while it lasts.
public final class StartupProgress: Sendable {
    private let state: Mutex<String?>

    /// `finished: true` for a process (or a test) that has nothing left to prepare.
    public init(finished: Bool = false) {
        state = Mutex(finished ? nil : "connecting to the database")
    }

    /// `nil` once start-up has finished.
    public var current: String? { state.withLock { $0 } }

    func update(_ text: String) { state.withLock { $0 = text } }

    func finish() { state.withLock { $0 = nil } }

    /// Waits until start-up has finished; false if graceful shutdown or cancellation came first.
    func waitUntilFinished() async -> Bool {
        await cancelWhenGracefulShutdown {
            while self.current != nil, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        return current == nil
    }
}

/// Start-up of a long-running process as a service of its group: waits for the database and the
/// broker (saying once, then once a minute, what is wrong with them), migrates the schema and
/// declares the topology, then marks `progress` finished and ends. Meanwhile the HTTP server
/// already answers — `/health/ready` with what start-up waits for — and SIGTERM stops the
/// process at once.
struct Preparation: Service {
    let configuration: ConcertConfiguration
    let progress: StartupProgress
    /// Runs last, before start-up counts as finished (e.g. the first read of what the API serves).
    var finally: @Sendable () async throws -> Void = {}
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await ConcertServices.prepare(configuration, progress: progress, finally: finally, logger: logger)
            }
        } catch is CancellationError {
            // Stopped while starting: nothing to drain.
        }
    }
}

/// Runs a service once start-up has finished (it needs the schema or the topology); ends at once
/// when the process stops before that.
struct AfterStartup: Service {
    let service: any Service
    let progress: StartupProgress

    func run() async throws {
        guard await progress.waitUntilFinished() else { return }
        try await service.run()
    }
}
