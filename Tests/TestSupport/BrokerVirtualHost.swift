public import AMQPClient
public import Foundation
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A RabbitMQ virtual host of a test's own, so the pipeline's fixed queue names never collide
/// with another test's or a running `concert serve`. Made and deleted through the management API.
public enum BrokerVirtualHost {
    public static let isConfigured: Bool = {
        let environment = ProcessInfo.processInfo.environment
        return environment["CONCERT_AMQP_URL"] != nil || environment["CONCERT_REQUIRE_SERVICES"] == "1"
    }()

    /// The management API of every node (`CONCERT_AMQP_MANAGEMENT_URL`, comma-separated on a cluster).
    static var managementNodes: [URL] {
        let text = ProcessInfo.processInfo.environment["CONCERT_AMQP_MANAGEMENT_URL"] ?? "http://concert:concert@127.0.0.1:15672"
        return text.split(separator: ",").compactMap { URL(string: $0.trimmingCharacters(in: .whitespaces)) }
    }
    static var management: URL { managementNodes[0] }

    /// Runs `body` with the configuration of a fresh virtual host, deleted afterwards.
    public static func withVirtualHost<Result: Sendable>(_ body: (AMQPConfiguration) async throws -> Result) async throws -> Result {
        let url = ProcessInfo.processInfo.environment["CONCERT_AMQP_URL"] ?? "amqp://concert:concert@127.0.0.1:5672/%2F"
        var configuration = try AMQPConfiguration(url: url)
        let vhost = "test-\(UUID().uuidString.prefix(8).lowercased())"
        configuration.virtualHost = vhost
        configuration.heartbeat = .seconds(2)
        configuration.reconnectBackoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(500))
        do {
            try await request("PUT", "/api/vhosts/\(vhost)")
            try await request(
                "PUT",
                "/api/permissions/\(vhost)/\(configuration.username)",
                body: #"{"configure":".*","write":".*","read":".*"}"#
            )
        } catch {
            Issue.record("RabbitMQ management is not reachable at \(management.host ?? "?") — start it with scripts/services up (\(error))")
            throw error
        }
        do {
            let result = try await body(configuration)
            await settle(vhost)
            try await request("DELETE", "/api/vhosts/\(vhost)")
            return result
        } catch {
            await settle(vhost)
            _ = try? await request("DELETE", "/api/vhosts/\(vhost)")
            throw error
        }
    }

    /// Set once this process ran `scripts/services` (`ServicesScript`): it may have restarted,
    /// killed or paused a broker node.
    private static let disturbed = Atomic<Bool>(false)

    static func noteDisturbance() {
        disturbed.store(true, ordering: .relaxed)
    }

    /// After a disturbance of the broker (`ServicesScript`), waits until every quorum queue of the
    /// vhost runs with a leader (20 s at most).
    ///
    /// RabbitMQ 3.10.8: a queue with at-least-once dead-lettering deleted while its leader is still
    /// starting (just after a broker restart) crashes its dead-letter worker over and over, which
    /// takes down the node's `rabbit_fifo_dlx_sup`; every such queue declared afterwards fails
    /// with `541 INTERNAL_ERROR` until the node's app restarts. Tests must not delete their vhost
    /// in that window (`scripts/services rabbitmqctl start_app` also waits a few seconds for it).
    /// A queue's `state` comes from the management statistics, a few seconds late (absent until
    /// then), so the wait is skipped where nothing disturbed the broker: a quorum queue's
    /// declaration returns only once its leader runs.
    static func settle(_ vhost: String) async {
        guard disturbed.load(ordering: .relaxed) else { return }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            guard let data = try? await request("GET", "/api/queues/\(vhost)?columns=name,type,state,leader"),
                let queues = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]]
            else { break }
            let starting = queues.filter { ($0["type"] as? String) == "quorum" && (($0["state"] as? String) != "running" || $0["leader"] == nil) }
            if starting.isEmpty { break }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    /// The consumers of a queue as the management API counts them (standby consumers of a
    /// single-active-consumer queue included; its statistics lag a few seconds).
    public static func consumerCount(of queue: String, in vhost: String) async throws -> Int {
        let data = try await request("GET", "/api/queues/\(vhost)/\(queue)")
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return object?["consumers"] as? Int ?? 0
    }

    /// Closes every client connection to the virtual host, as an operator would from the management
    /// UI. The management API lists a new connection only after its statistics interval (a few
    /// seconds), so this waits until it has closed at least one.
    public static func closeConnections(in vhost: String, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let data = try await request("GET", "/api/vhosts/\(vhost)/connections")
            let connections = (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
            let names = connections.compactMap { $0["name"] as? String }
            for name in names {
                let path = name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name
                try await request("DELETE", "/api/connections/\(path)")
            }
            if !names.isEmpty { return }
            guard ContinuousClock.now < deadline else { throw ManagementError(description: "no connection to \(vhost) listed within \(timeout)") }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// A request to the management API of the first node that answers (a node that is down or
    /// paused is passed over after a few seconds).
    @discardableResult
    public static func request(_ method: String, _ path: String, body: String? = nil) async throws -> Data {
        var lastError: any Error = ManagementError(description: "no management URL")
        for node in managementNodes {
            do {
                return try await request(node, method, path, body: body)
            } catch let error as ManagementError {
                throw error
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    static func request(_ node: URL, _ method: String, _ path: String, body: String? = nil) async throws -> Data {
        var components = URLComponents(url: node, resolvingAgainstBaseURL: false)!
        let user = components.user ?? "guest"
        let password = components.password ?? "guest"
        components.user = nil
        components.password = nil
        let parts = path.split(separator: "?", maxSplits: 1).map(String.init)
        components.percentEncodedPath = parts[0]
        components.percentEncodedQuery = parts.count > 1 ? parts[1] : nil
        var request = URLRequest(url: components.url!)
        request.httpMethod = method
        request.setValue("Basic \(Data("\(user):\(password)".utf8).base64EncodedString())", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = body.map { Data($0.utf8) } ?? (method == "PUT" ? Data("{}".utf8) : nil)
        request.timeoutInterval = 5
        let (data, response) = try await URLSession.shared.data(for: request)
        guard let status = (response as? HTTPURLResponse)?.statusCode, (200..<300).contains(status) else {
            throw ManagementError(description: "\(method) \(path) answered \((response as? HTTPURLResponse)?.statusCode ?? 0)")
        }
        return data
    }
}

public struct ManagementError: Error, CustomStringConvertible {
    public let description: String
}
