import Foundation
import FoundationNetworking
import Glibc
import TestSupport

/// A real Prometheus (Debian's `prometheus`, `scripts/monitoring-tools` installs it) started by a
/// test on a free port of 127.0.0.1, its data in a temporary folder, with the test's config and
/// rule files; asked through its HTTP API.
struct PrometheusServer: Sendable {
    let process: SpawnedProcess
    let port: Int
    let directory: URL

    /// `prometheus` on the PATH, or nil.
    static var executable: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/prometheus" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The suite runs where Prometheus is installed, and fails where it must run but is missing.
    static let isAvailableOrRequired = executable != nil || ProcessInfo.processInfo.environment["CONCERT_REQUIRE_SERVICES"] == "1"

    /// Starts it with `configuration` (prometheus.yml; `RULES` in it is replaced by the rule files'
    /// paths) and `rules` (file name → contents), and waits until it is ready.
    static func start(configuration: String, rules: [String: String]) async throws -> PrometheusServer {
        guard let executable else {
            throw TestFailure("prometheus is not installed (scripts/monitoring-tools installs it)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prometheus-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        for (name, text) in rules { try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let ruleList = rules.keys.sorted().map { "  - \(directory.appendingPathComponent($0).path)" }.joined(separator: "\n")
        let config = directory.appendingPathComponent("prometheus.yml")
        try configuration.replacingOccurrences(of: "RULES", with: ruleList).write(to: config, atomically: true, encoding: .utf8)
        let port = try freeLocalPort()
        let process = try await SpawnedProcess(
            executable,
            [
                "--config.file=\(config.path)", "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
            ],
            environment: ["PATH": "/usr/bin:/bin", "HOME": directory.path],
            log: directory.appendingPathComponent("prometheus.log")
        )
        let server = PrometheusServer(process: process, port: port, directory: directory)
        try await eventually(timeout: .seconds(30), "Prometheus is ready") {
            guard process.isRunning else { throw TestFailure("prometheus exited: \(process.logLines().suffix(10).joined(separator: "\n"))") }
            return (try? await server.get("/-/ready")) != nil
        }
        return server
    }

    func stop() async {
        _ = await process.stop(timeout: .seconds(10))
        try? FileManager.default.removeItem(at: directory)
    }

    /// The body of `GET path` (status 200), else an error.
    func get(_ path: String) async throws -> Data {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else {
            throw TestFailure("GET \(path): \((response as? HTTPURLResponse)?.statusCode ?? 0) \(String(decoding: data, as: UTF8.self))")
        }
        return data
    }

    /// The `data` member of an API answer.
    private func data(_ path: String) async throws -> Any? {
        let body = try JSONSerialization.jsonObject(with: try await get(path)) as? [String: Any]
        guard body?["status"] as? String == "success" else { throw TestFailure("\(path): \(String(describing: body))") }
        return body?["data"]
    }

    /// The series an instant query returns now (each one's labels).
    func query(_ expression: String) async throws -> [[String: String]] {
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
        let result = (try await data("/api/v1/query?query=\(encoded)") as? [String: Any])?["result"] as? [[String: Any]] ?? []
        return result.map { $0["metric"] as? [String: String] ?? [:] }
    }

    /// The alerts firing now: each one's labels.
    func firingAlerts() async throws -> [[String: String]] {
        let alerts = (try await data("/api/v1/alerts") as? [String: Any])?["alerts"] as? [[String: Any]] ?? []
        return alerts.filter { $0["state"] as? String == "firing" }.map { $0["labels"] as? [String: String] ?? [:] }
    }

    /// The health of each scrape target: job → "up"/"down"/"unknown".
    func targets() async throws -> [(job: String, health: String, error: String)] {
        let active = (try await data("/api/v1/targets") as? [String: Any])?["activeTargets"] as? [[String: Any]] ?? []
        return active.map {
            (($0["labels"] as? [String: String])?["job"] ?? "?", $0["health"] as? String ?? "?", $0["lastError"] as? String ?? "")
        }
    }

}
