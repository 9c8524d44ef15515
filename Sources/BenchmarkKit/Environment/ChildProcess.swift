import Dispatch
public import Foundation
import Glibc
import Subprocess
import Synchronization
import SystemPackage

/// A process the benchmark starts and measures (`concert serve`, `concert worker`, the lock baseline).
/// Its output goes to a log file; it is stopped with SIGTERM (then SIGKILL after a grace period).
///
/// `Subprocess.run` runs it on a task of its own, which ends when the child has exited and been
/// reaped: waiting for it is awaiting that task, on no thread of its own and blocking none of the
/// concurrency pool's.
public final class ChildProcess: Sendable {
    /// What it is, for tables and logs.
    public let name: String
    /// Where its standard output and error went.
    public let logFile: URL
    /// Its process id.
    public let pid: Int32
    /// Runs it to its end (`Subprocess.run`, which reaps it): its exit status.
    private let ended: Task<Int32, Never>
    /// Its exit status once reaped; signals go to `pid` only before then.
    private let reaped: ReapedStatus

    /// Starts `executable` with `arguments` in exactly `environment`, appending its output to `logFile`.
    public init(name: String, executable: URL, arguments: [String], environment: [String: String], logFile: URL) async throws {
        try FileManager.default.createDirectory(at: logFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        let output = try FileDescriptor.open(
            FilePath(logFile.path),
            .writeOnly,
            options: [.create, .append, .closeOnExec],
            permissions: FilePermissions(rawValue: 0o644)
        )
        let configuration = Subprocess.Configuration(
            executable: .path(FilePath(executable.path)),
            arguments: Arguments(arguments),
            environment: exactly(environment)
        )
        let reaped = ReapedStatus()
        let (starts, start) = AsyncStream.makeStream(of: Result<Int32, any Error>.self)
        let ended = Task { () -> Int32 in
            var started: Int32?
            var status: Int32 = -1
            do {
                // Standard input inherited (as Foundation's `Process` left it); output and error
                // into the one log file, opened for appending (the child closes it when done).
                let result = try await Subprocess.run(
                    configuration,
                    input: .currentStandardInput,
                    output: .fileDescriptor(output, closeAfterSpawningProcess: true),
                    error: .combinedWithOutput
                ) { (execution) -> Void in
                    let pid = execution.processIdentifier.value
                    started = pid
                    ChildProcess.running.withLock { _ = $0.insert(pid) }
                    start.yield(.success(pid))
                }
                status = shellStatus(result.terminationStatus)
            } catch {
                // Not started: the error is the initialiser's. Started, then no longer
                // watchable (Subprocess could not monitor or reap it): -1.
                if started == nil { start.yield(.failure(error)) }
            }
            start.finish()
            if let started { ChildProcess.running.withLock { _ = $0.remove(started) } }
            reaped.set(status)
            return status
        }
        var iterator = starts.makeAsyncIterator()
        switch await iterator.next() {
        case .success(let pid)?:
            self.pid = pid
        case .failure(let error)?:
            throw BenchError("cannot start \(executable.path): \(error)")
        case nil:
            throw BenchError("cannot start \(executable.path)")
        }
        self.name = name
        self.logFile = logFile
        self.ended = ended
        self.reaped = reaped
    }

    /// Children still running, so that an interrupted benchmark can stop them (see `stopAllOnSignal`).
    static let running = Mutex<Set<Int32>>([])

    /// On SIGINT or SIGTERM: SIGTERM every child still running, wait a little, then exit —
    /// an interrupted benchmark leaves no `concert` process behind.
    public static func stopAllOnSignal() {
        guard signalSources.isEmpty else { return }
        for signal in [SIGINT, SIGTERM] {
            Glibc.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler {
                let children = running.withLock { $0 }
                for pid in children { kill(pid, SIGTERM) }
                let deadline = Date().addingTimeInterval(10)
                while Date() < deadline, children.contains(where: { kill($0, 0) == 0 }) { usleep(50_000) }
                for pid in children where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
                exit(130)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Kept alive for the life of the process. Written once, from the main task before any scenario
    /// starts (dispatch sources are not `Sendable`).
    nonisolated(unsafe) private static var signalSources: [any DispatchSourceSignal] = []

    /// True while it runs (until it has exited and been reaped).
    public var isRunning: Bool { reaped.value == nil }

    /// Sends `signal` (e.g. SIGKILL) unless it has already been reaped.
    public func send(_ signal: Int32) {
        reaped.whileRunning { _ = kill(pid, signal) }
    }

    /// SIGTERM, then SIGKILL if it has not stopped within `grace`; returns its exit status
    /// (killed by a signal: 128 + the signal).
    @discardableResult
    public func stop(grace: Duration = .seconds(15)) async -> Int32 {
        send(SIGTERM)
        _ = await exitStatus(killingAfter: grace)
        return await ended.value
    }

    /// Its exit status if it ends within `timeout`; otherwise SIGKILL, and nil.
    private func exitStatus(killingAfter timeout: Duration) async -> Int32? {
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

    /// The last lines of its log, for error messages.
    public func logTail(lines: Int = 15) -> String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
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

/// `environment` exactly, nothing inherited.
private func exactly(_ environment: [String: String]) -> Subprocess.Environment {
    .custom(Dictionary(uniqueKeysWithValues: environment.map { (Subprocess.Environment.Key(rawValue: $0.key)!, $0.value) }))
}

/// Exited normally: its exit code; killed by a signal: 128 + the signal, as a shell says.
private func shellStatus(_ status: TerminationStatus) -> Int32 {
    switch status {
    case .exited(let code): code
    case .signaled(let signal): 128 + signal
    }
}

/// Runs a command to completion and returns its output (for `concert seed` and the like).
///
/// Through `Subprocess.run`, which waits for the exit without a thread of its own and reaps the
/// child (Foundation's `Process` on Linux could miss a child's exit and report it running for
/// ever: a soak hung on a zombie `scripts/services start-postgres`). Standard input is
/// `/dev/null`; the output goes to a temporary file, not a pipe: a pipe would stay open as long as
/// any daemon the command starts.
public func runToCompletion(_ executable: URL, _ arguments: [String], environment: [String: String]) async throws -> String {
    let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("concert-bench-\(UUID().uuidString).out")
    defer { try? FileManager.default.removeItem(at: outputFile) }
    let output = try FileDescriptor.open(
        FilePath(outputFile.path),
        .writeOnly,
        options: [.create, .append, .closeOnExec],
        permissions: FilePermissions(rawValue: 0o600)
    )
    let status: Int32
    do {
        let result = try await Subprocess.run(
            .path(FilePath(executable.path)),
            arguments: Arguments(arguments),
            environment: exactly(environment),
            input: .none,
            output: .fileDescriptor(output, closeAfterSpawningProcess: true),
            error: .combinedWithOutput
        )
        status = shellStatus(result.terminationStatus)
    } catch {
        throw BenchError("cannot start \(executable.path): \(error)")
    }
    let text = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    guard status == 0 else {
        throw BenchError("\(executable.lastPathComponent) \(arguments.joined(separator: " ")) exited with \(status):\n\(text)")
    }
    return text
}

/// Something that stops a benchmark run, said plainly.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs blocking work on a thread of its own and awaits it: never on the Swift concurrency pool.
public func onOwnThread<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Swift.Result { try body() }) }.start()
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it).
public func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw BenchError("socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
    guard bound == 0 else { throw BenchError("bind() failed") }
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { throw BenchError("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
