public import Foundation
import Glibc
import Subprocess
import Synchronization
import SystemPackage

/// A long-running child (e.g. `concert serve`) run by `Subprocess.run` on a task of its own, its
/// standard output and error appended to a log file, stopped with SIGTERM (SIGKILL after a
/// timeout). The task ends when the child has exited and `Subprocess.run` has reaped it — killed
/// children included; waiting for it is awaiting that task, which blocks no thread of the
/// concurrency pool.
public final class SpawnedProcess: Sendable {
    public let pid: Int32
    public let log: URL
    /// Runs it to its end (`Subprocess.run`, which reaps it): its exit status.
    private let ended: Task<Int32, Never>
    /// Its exit status once reaped; signals go to `pid` only before then.
    private let reaped: ReapedStatus

    /// Starts `path arguments…` with exactly `environment`, stdout and stderr appended to `log`
    /// (standard input this process's).
    public init(_ path: String, _ arguments: [String], environment: [String: String], log: URL) async throws {
        let output = try FileDescriptor.open(
            FilePath(log.path),
            .writeOnly,
            options: [.create, .append, .closeOnExec],
            permissions: FilePermissions(rawValue: 0o644)
        )
        let configuration = Subprocess.Configuration(
            executable: .path(FilePath(path)),
            arguments: Arguments(arguments),
            environment: exactly(environment)
        )
        let reaped = ReapedStatus()
        let (starts, start) = AsyncStream.makeStream(of: Result<Int32, any Error>.self)
        let ended = Task { () -> Int32 in
            var started = false
            var status: Int32 = -1
            do {
                let result = try await Subprocess.run(
                    configuration,
                    input: .currentStandardInput,
                    output: .fileDescriptor(output, closeAfterSpawningProcess: true),
                    error: .combinedWithOutput
                ) { (execution) -> Void in
                    started = true
                    start.yield(.success(execution.processIdentifier.value))
                }
                status = shellStatus(result.terminationStatus)
            } catch {
                // Not started: the error is the initialiser's. Started, then no longer
                // watchable (Subprocess could not monitor or reap it): -1.
                if !started { start.yield(.failure(error)) }
            }
            start.finish()
            reaped.set(status)
            return status
        }
        var iterator = starts.makeAsyncIterator()
        switch await iterator.next() {
        case .success(let pid)?:
            self.pid = pid
        case .failure(let error)?:
            throw error
        case nil:
            throw POSIXError(.ECHILD)
        }
        self.log = log
        self.ended = ended
        self.reaped = reaped
    }

    /// True until it has exited and been reaped.
    public var isRunning: Bool { reaped.value == nil }

    /// Sends `signal` (e.g. SIGKILL) unless it has already been reaped.
    public func send(_ signal: Int32) {
        reaped.whileRunning { _ = kill(pid, signal) }
    }

    /// SIGTERM, without waiting.
    public func terminate() {
        send(SIGTERM)
    }

    /// SIGTERM, then waits up to `timeout` for the exit (SIGKILL after it); returns the exit
    /// status, or nil when it had to be killed.
    public func stop(timeout: Duration = .seconds(20)) async -> Int32? {
        send(SIGTERM)
        return await waitForExit(timeout: timeout)
    }

    /// Waits up to `timeout` for the process to end by itself; its exit status (killed by a
    /// signal: 128 + the signal), or nil (then it is killed, and reaped before this returns).
    public func waitForExit(timeout: Duration) async -> Int32? {
        await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await self.ended.value }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first: Int32? = await group.next() ?? nil
            // The group ends when both tasks have: the exit's only once the child is gone.
            if first == nil { send(SIGKILL) }
            group.cancelAll()
            return first
        }
    }

    /// The log's lines so far.
    public func logLines() -> [String] {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").components(separatedBy: "\n")
    }
}

/// A child's exit status once `Subprocess.run` has reaped it. Signals to its pid are sent under the
/// same lock and only while there is none, so none reaches another process given the pid later (but
/// for the instant between the reap inside `Subprocess.run` and `set`).
private final class ReapedStatus: Sendable {
    private let status = Mutex<Int32?>(nil)

    var value: Int32? { status.withLock { $0 } }

    func set(_ value: Int32) {
        status.withLock { $0 = value }
    }

    func whileRunning(_ body: () -> Void) {
        status.withLock { value in
            if value == nil { body() }
        }
    }
}
