import Dispatch
public import Foundation
import Glibc
import Synchronization

/// A process the benchmark starts and measures (`concert serve`, `concert worker`, the lock baseline).
/// Its output goes to a log file; it is stopped with SIGTERM (then SIGKILL after a grace period).
public final class ChildProcess: Sendable {
    /// What it is, for tables and logs.
    public let name: String
    /// Where its standard output and error went.
    public let logFile: URL
    private let process: Process

    /// Starts `executable` with `arguments` in `environment`, appending its output to `logFile`.
    public init(name: String, executable: URL, arguments: [String], environment: [String: String], logFile: URL) throws {
        self.name = name
        self.logFile = logFile
        try FileManager.default.createDirectory(at: logFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: logFile.path) { _ = FileManager.default.createFile(atPath: logFile.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: logFile)
        handle.seekToEndOfFile()
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        Self.running.withLock { _ = $0.insert(process.processIdentifier) }
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

    /// Its process id.
    public var pid: Int32 { process.processIdentifier }

    /// True while it runs.
    public var isRunning: Bool { process.isRunning }

    /// SIGTERM, then SIGKILL if it has not stopped within `grace`; returns its exit status.
    @discardableResult
    public func stop(grace: Duration = .seconds(15)) async -> Int32 {
        if process.isRunning { process.terminate() }
        let deadline = ContinuousClock.now + grace
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        }
        Self.running.withLock { _ = $0.remove(process.processIdentifier) }
        return process.terminationStatus
    }

    /// The last lines of its log, for error messages.
    public func logTail(lines: Int = 15) -> String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

/// Runs a command to completion and returns its output (for `concert seed` and the like).
///
/// Spawned and reaped directly (`posix_spawn`, `waitpid` on a thread of its own), its output in a
/// temporary file: Foundation's `Process` on Linux can miss a child's exit and report it running
/// for ever (a soak hung on a zombie `scripts/services start-postgres`), and a pipe would stay open
/// as long as any daemon the command starts.
public func runToCompletion(_ executable: URL, _ arguments: [String], environment: [String: String]) async throws -> String {
    let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("concert-bench-\(UUID().uuidString).out")
    defer { try? FileManager.default.removeItem(at: outputFile) }
    let status = try await onOwnThread { try spawnAndWait(executable.path, arguments, environment: environment, output: outputFile.path) }
    let text = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    guard status == 0 else {
        throw BenchError("\(executable.lastPathComponent) \(arguments.joined(separator: " ")) exited with \(status):\n\(text)")
    }
    return text
}

/// Starts `path` with its standard output and error appended to `output`, waits for it and returns its exit status.
private func spawnAndWait(_ path: String, _ arguments: [String], environment: [String: String], output: String) throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        for pointer in argv + envp { free(pointer) }
    }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
    guard spawned == 0 else { throw BenchError("cannot start \(path): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw BenchError("waiting for \(path) failed: \(String(cString: strerror(errno)))") }
    }
    // Exited normally: its exit code; killed by a signal: 128 + the signal, as a shell says.
    return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
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
