import AMQPClient
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// RabbitMQ's management API (`CONCERT_AMQP_MANAGEMENT_URL`), for what AMQP cannot tell: unacked
/// counts, active consumers, quorum members, bindings and permissions. On a cluster (a
/// comma-separated list) the first node that answers speaks for all.
struct ManagementAPI: Sendable {
    let nodes: [URLComponents]
    let username: String
    let password: String
    /// The broker's virtual host, percent-encoded for a path.
    let virtualHost: String
    /// The broker's user, percent-encoded for a path.
    let user: String

    /// `nil` without `CONCERT_AMQP_MANAGEMENT_URL`. Credentials default to the AMQP URL's.
    init?(_ configuration: ConcertConfiguration) {
        guard let text = configuration.managementURL, let broker = try? AMQPConfiguration(url: configuration.amqpURL) else { return nil }
        let nodes = text.split(separator: ",").compactMap { URLComponents(string: $0.trimmingCharacters(in: .whitespaces)) }
        guard let first = nodes.first else { return nil }
        username = first.user ?? broker.username
        password = first.password ?? broker.password
        self.nodes = nodes.map {
            var node = $0
            node.user = nil
            node.password = nil
            return node
        }
        virtualHost = broker.virtualHost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "%2F"
        user = broker.username.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? broker.username
    }

    /// The first node that answers `/api/overview`, with the others as they are when none does.
    func answeringNode() async -> URLComponents {
        for node in nodes where (try? await get("/api/overview", from: node)) != nil { return node }
        return nodes[0]
    }

    /// The JSON at `path` (already percent-encoded), from `node` (the first by default).
    func get(_ path: String, from node: URLComponents? = nil) async throws -> Any {
        var components = node ?? nodes[0]
        components.percentEncodedPath = path
        var request = URLRequest(url: components.url!)
        request.setValue("Basic \(Data("\(username):\(password)".utf8).base64EncodedString())", forHTTPHeaderField: "Authorization")
        request.timeoutInterval = 5
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else { throw Failure(status: status, path: path) }
        return try JSONSerialization.jsonObject(with: data)
    }

    /// The management API answered something other than 2xx.
    struct Failure: Error, CustomStringConvertible {
        let status: Int
        let path: String
        var description: String { "the management API answered \(status) to GET \(path)" }
    }
}
