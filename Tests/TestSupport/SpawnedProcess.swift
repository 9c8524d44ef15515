public import Foundation
import Glibc

/// A long-running child (e.g. `concert serve`) started with `posix_spawn`, its output appended
/// to a log file, stopped with SIGTERM and reaped with `waitpid` — never through Foundation's
/// `Process`, which on Linux sometimes misses a child's exit.
public final class SpawnedProcess: Sendable {
    public let pid: pid_t
    public let log: URL

    /// Starts `path arguments…` with exactly `environment`, stdout and stderr to `log`.
    public init(_ path: String, _ arguments: [String], environment: [String: String], log: URL) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        self.pid = pid
        self.log = log
    }

    /// SIGTERM, then waits up to `timeout` for the exit (SIGKILL after it); returns the exit
    /// status, or nil when it had to be killed. Blocks the calling thread: call it from a thread
    /// of its own (`onThread`), not from the concurrency pool.
    public func stop(timeout: Duration = .seconds(20)) -> Int32? {
        kill(pid, SIGTERM)
        return waitForExit(timeout: timeout)
    }

    /// Waits up to `timeout` for the process to end by itself; its exit status, or nil (then it
    /// is killed). Blocks the calling thread, as `stop` does.
    public func waitForExit(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            if waitpid(pid, &status, WNOHANG) == pid { return (status >> 8) & 0xFF }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        return nil
    }

    /// The log's lines so far.
    public func logLines() -> [String] {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").components(separatedBy: "\n")
    }
}

/// Runs blocking `work` on a thread of its own and awaits its result, so that waiting on a child
/// process or a script never holds one of the concurrency pool's few threads.
public func onThread<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async -> Result {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}
