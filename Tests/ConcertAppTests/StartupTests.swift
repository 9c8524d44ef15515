import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc
import Testing

/// The `concert` executable (the debug build `scripts/test` makes) started with settings that
/// cannot work: one-shot commands fail at once with one line that names the setting; `serve`
/// keeps trying, says once what is wrong, shows it in `/health/ready`, and stops on SIGTERM.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CONCERT_REQUIRE_SERVICES"] == "1"))
struct StartupTests {
    static let executable = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/concert")

    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The database URL of the running services with one part changed.
    static func database(password: String? = nil, database: String? = nil, port: Int? = nil) -> String {
        var url = URLComponents(string: environment["CONCERT_DATABASE_URL"] ?? "postgres://concert:concert@127.0.0.1:5432/concert")!
        if let password { url.password = password }
        if let database { url.path = "/\(database)" }
        if let port { url.port = port }
        return url.string!
    }

    static func broker(password: String? = nil, virtualHost: String? = nil, port: Int? = nil) -> String {
        var url = URLComponents(string: environment["CONCERT_AMQP_URL"] ?? "amqp://concert:concert@127.0.0.1:5672/%2F")!
        if let password { url.password = password }
        if let virtualHost { url.path = "/\(virtualHost)" }
        if let port { url.port = port }
        return url.string!
    }

    struct Finished {
        let status: Int32
        let errorLines: [String]
        let elapsed: Duration
    }

    /// Runs `concert arguments…` with `changes` to the environment, to the end (at most 60 s).
    static func run(_ arguments: [String], _ changes: [String: String]) throws -> Finished {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment.merging(changes) { _, new in new }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let started = ContinuousClock.now
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
        return Finished(status: process.terminationStatus, errorLines: lines, elapsed: ContinuousClock.now - started)
    }

    @Test(arguments: [
        (["migrate"], "password authentication failed"),
        (["seed"], "password authentication failed"),
        (["status"], "password authentication failed"),
        (["dead-letters", "list"], "password authentication failed"),
    ])
    func oneShotCommandsRefusedByTheDatabaseFailAtOnce(arguments: [String], expected: String) throws {
        let finished = try Self.run(arguments, ["CONCERT_DATABASE_URL": Self.database(password: "wrong")])
        Self.expectOneLineFailure(finished, containing: expected, naming: "CONCERT_DATABASE_URL")
    }

    @Test(arguments: [
        (Self.database(database: "no_such_database"), "database \"no_such_database\" does not exist"),
        (Self.database(port: 1), "cannot reach PostgreSQL at 127.0.0.1:1"),
        ("mysql://somewhere/else", "invalid CONCERT_DATABASE_URL"),
    ])
    func aDatabaseURLThatCannotWorkFailsMigrateAtOnce(url: String, expected: String) throws {
        let finished = try Self.run(["migrate"], ["CONCERT_DATABASE_URL": url])
        Self.expectOneLineFailure(finished, containing: expected, naming: "CONCERT_DATABASE_URL")
    }

    @Test(arguments: [
        (Self.broker(password: "wrong"), "RabbitMQ refused the login"),
        (Self.broker(virtualHost: "no-such-vhost"), "virtual host \"no-such-vhost\" does not exist"),
        (Self.broker(port: 1), "cannot reach RabbitMQ at 127.0.0.1:1"),
    ])
    func aBrokerURLThatCannotWorkFailsTopologyApplyAtOnce(url: String, expected: String) throws {
        let finished = try Self.run(["topology", "apply"], ["CONCERT_AMQP_URL": url])
        Self.expectOneLineFailure(finished, containing: expected, naming: "CONCERT_AMQP_URL")
    }

    /// Without a way to verify access tokens the API does not start: one line naming the variables.
    @Test(arguments: ["api", "serve"])
    func theAPIRefusesToStartWithoutAccessTokenKeys(subcommand: String) throws {
        let finished = try Self.run([subcommand], [
            "CONCERT_USER_TOKEN_SECRET": "",
            "CONCERT_USER_JWKS": "",
            "CONCERT_TOKEN_SECRET": "startup-tests-secret-0123456789abcdef",
            "CONCERT_HTTP_PORT": String(try Self.freePort()),
        ])
        Self.expectOneLineFailure(finished, containing: "must be set", naming: "CONCERT_USER_TOKEN_SECRET or CONCERT_USER_JWKS")
    }

    static func expectOneLineFailure(_ finished: Finished, containing expected: String, naming variable: String) {
        #expect(finished.status == 1)
        #expect(finished.elapsed < .seconds(10))
        #expect(finished.errorLines.count == 1, "\(finished.errorLines)")
        #expect(finished.errorLines.first?.contains(expected) == true, "\(finished.errorLines)")
        #expect(finished.errorLines.first?.contains(variable) == true, "\(finished.errorLines)")
    }

    /// `serve` with a database that refuses its login: HTTP answers anyway, `/health/ready` says
    /// what start-up waits for, the API answers 503, the log says it once, and SIGTERM stops it.
    @Test func serveWaitingForTheDatabaseSaysWhyOnceAndStopsOnSIGTERM() async throws {
        let port = try Self.freePort()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("concert-startup-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = ["serve"]
        process.environment = Self.environment.merging([
            "CONCERT_DATABASE_URL": Self.database(password: "wrong"),
            "CONCERT_HTTP_PORT": String(port),
            "CONCERT_TOKEN_SECRET": "startup-tests-secret-0123456789abcdef",
            "CONCERT_USER_TOKEN_SECRET": "startup-tests-user-secret-0123456789abcdef",
        ]) { _, new in new }
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        var ready: (status: Int, body: [String: String])?
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let answer = try? await Self.get(port: port, "/health/ready"), answer.body["startup"]?.contains("refused the login") == true {
                ready = answer
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let readiness = try #require(ready, "no /health/ready naming the refused login within 20 s")
        #expect(readiness.status == 503)
        #expect(readiness.body["status"] == "starting")
        let concerts = try await Self.get(port: port, "/v1/concerts")
        #expect(concerts.status == 503)
        #expect(concerts.body["code"] == "SERVICE_UNAVAILABLE")
        #expect(concerts.body["detail"]?.contains("refused the login") == true)

        // A few retries later, the log still says it once.
        try await Task.sleep(for: .seconds(3))
        let said = try String(contentsOf: log, encoding: .utf8).components(separatedBy: "\n").filter { $0.contains("refused the login") }
        #expect(said.count == 1, "\(said)")

        let stopping = ContinuousClock.now
        kill(process.processIdentifier, SIGTERM)
        while process.isRunning, ContinuousClock.now - stopping < .seconds(15) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning, "serve did not stop within 15 s of SIGTERM")
        #expect(process.terminationStatus == 0)
    }

    static func get(port: Int, _ path: String) async throws -> (status: Int, body: [String: String]) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, object.compactMapValues { $0 as? String })
    }

    /// A TCP port nothing listens on now.
    static func freePort() throws -> Int {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
