import Foundation
import NIOHTTP1

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `concert serve` (or `api`) the scenario started on its sandbox, and the set-up it needs:
/// readiness, waiting-room tokens for its users, admission.
public struct ConcertUnderTest: Sendable {
    public let process: ChildProcess
    public let port: Int
    /// The identity provider's secret: the users' access tokens are signed with it.
    public let userTokenSecret: String

    /// Starts `concert <subcommand>` on `port` and waits until `/health/ready` says ready.
    public static func start(
        _ sandbox: Sandbox,
        subcommand: String = "serve",
        port: Int,
        environment: [String: String] = [:]
    ) async throws -> ConcertUnderTest {
        let process = try await sandbox.start("concert-\(subcommand)", arguments: [subcommand], port: port, environment)
        let system = ConcertUnderTest(process: process, port: port, userTokenSecret: sandbox.environment.userTokenSecret)
        try await system.waitUntilReady()
        return system
    }

    func waitUntilReady(timeout: Duration = .seconds(90)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw BenchError("concert exited during start-up:\n\(process.logTail())") }
            if let (status, _) = try? await HTTP.request("GET", port: port, path: "/health/ready"), status == 200 { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw BenchError("concert did not become ready within \(timeout):\n\(process.logTail())")
    }

    /// `Authorization` with an access token of `user`.
    public func authorization(_ user: String) -> [(String, String)] {
        BenchEnvironment.authorization(user, secret: userTokenSecret)
    }

    /// A waiting-room token for each (user, concert), issued over HTTP (32 connections).
    public func issueTokens(users: [String], concert: Int, progress: Progress? = nil) async throws -> [String] {
        let requests = users.map { user in
            LoadRequest(method: .POST, path: "/v1/queue/tokens", headers: authorization(user), body: Array(#"{"concertId":\#(concert)}"#.utf8))
        }
        let total = requests.count
        var report: (@Sendable (Int, Int) -> Void)?
        if let progress {
            report = { done, _ in progress.update(done: done, total: total) }
        }
        let run = try await HTTPLoadGenerator.run(
            LoadPlan(port: port, connections: 32, shape: .closedLoop, requests: requests, captureBody: { (200..<300).contains($0) }),
            progress: report
        )
        return try users.indices.map { index in
            guard let body = run.bodies[index], let token = JSONFields.string("token", in: body) else {
                throw BenchError("token issue for \(users[index]) answered \(run.statuses[index]); see \(process.logFile.path)")
            }
            return token
        }
    }

    /// Waits until `token` is active (the admission tick admits about once a second).
    public func waitUntilActive(_ token: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (status, body) = try await HTTP.request("GET", port: port, path: "/v1/queue/status", headers: ["Authorization": "Bearer \(token)"])
            if status == 200, JSONFields.string("status", in: Array(body)) == "active" { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw BenchError("tokens were not admitted within \(timeout)")
    }

    /// Stops the process (SIGTERM).
    public func stop() async {
        await process.stop()
    }
}

/// Single HTTP requests for set-up and checks (never in a measured phase).
enum HTTP {
    static func request(
        _ method: String,
        port: Int,
        path: String,
        headers: [String: String] = [:],
        body: String? = nil
    ) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = 10
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }
}

/// Reads top-level fields of small JSON answers without decoding a model.
enum JSONFields {
    static func object(_ body: some Collection<UInt8>) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    static func string(_ name: String, in body: some Collection<UInt8>) -> String? {
        object(body)?[name] as? String
    }

    /// The value of `"name":"…"` found by scanning (for bodies read by the thousand during a run).
    static func scanString(_ name: String, in body: [UInt8]) -> String? {
        let key = Array("\"\(name)\":\"".utf8)
        guard body.count > key.count else { return nil }
        var index = 0
        while index + key.count <= body.count {
            if body[index] == key[0], Array(body[index..<(index + key.count)]) == key {
                let start = index + key.count
                guard let end = body[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
                return String(decoding: body[start..<end], as: UTF8.self)
            }
            index += 1
        }
        return nil
    }
}
