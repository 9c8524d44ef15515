public import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A client of RabbitMQ's management HTTP API, for what AMQP cannot tell: unacked counts,
/// consumers, quorum members, bindings and permissions. It knows nothing of concerts.
///
/// On a cluster the client holds every node's address; `answeringNode()` finds one that answers,
/// and that node speaks for the whole cluster. Answers decode into the typed records below; a
/// field the broker leaves out (statistics not collected yet, a classic queue's missing members)
/// reads `nil`.
public struct ManagementClient: Sendable {
    /// The nodes' base addresses, without credentials.
    public let nodes: [URLComponents]
    let username: String
    let password: String
    /// How long one request may take.
    public var timeout: TimeInterval = 5

    /// - Parameters:
    ///   - nodes: Each node's base address (`http://host:15672`); credentials in them are dropped.
    ///   - username: The management user.
    ///   - password: Its password.
    public init(nodes: [URLComponents], username: String, password: String) {
        precondition(!nodes.isEmpty, "a management client needs at least one node")
        self.nodes = nodes.map {
            var node = $0
            node.user = nil
            node.password = nil
            return node
        }
        self.username = username
        self.password = password
    }

    /// The management API answered something other than 2xx.
    public struct Failure: Error, CustomStringConvertible {
        /// The HTTP status (0 when the answer was not HTTP).
        public let status: Int
        /// The path asked for.
        public let path: String
        public var description: String { "the management API answered \(status) to GET \(path)" }
    }

    /// The first node that answers `GET /api/overview`, or the first node when none does.
    /// - Returns: A node's base address.
    public func answeringNode() async -> URLComponents {
        for node in nodes where (try? await data("/api/overview", from: node)) != nil { return node }
        return nodes[0]
    }

    /// A user's permissions in a virtual host (`GET /api/permissions/<vhost>/<user>`).
    /// - Parameters:
    ///   - user: The user.
    ///   - virtualHost: The virtual host.
    ///   - node: The node to ask (the first by default).
    /// - Returns: The three regular expressions.
    /// - Throws: `Failure` with status 404 when the user has no permissions there; `Failure` or a
    ///   `URLError` when the API does not answer; `DecodingError` for an answer of another shape.
    public func permissions(of user: String, in virtualHost: String, from node: URLComponents? = nil) async throws -> Permissions {
        try await get(Permissions.self, "/api/permissions/\(Self.segment(virtualHost))/\(Self.segment(user))", from: node)
    }

    /// Every binding of a virtual host (`GET /api/bindings/<vhost>`).
    /// - Parameters:
    ///   - virtualHost: The virtual host.
    ///   - node: The node to ask (the first by default).
    /// - Returns: The bindings, exchange-to-exchange ones included.
    /// - Throws: As `permissions(of:in:from:)`.
    public func bindings(in virtualHost: String, from node: URLComponents? = nil) async throws -> [Binding] {
        try await get([Binding].self, "/api/bindings/\(Self.segment(virtualHost))", from: node)
    }

    /// Every client connection of the cluster (`GET /api/connections`).
    /// - Parameter node: The node to ask (the first by default).
    /// - Returns: The connections.
    /// - Throws: As `permissions(of:in:from:)`.
    public func connections(from node: URLComponents? = nil) async throws -> [Connection] {
        try await get([Connection].self, "/api/connections", from: node)
    }

    /// One queue, with its consumers (`GET /api/queues/<vhost>/<name>`: consumer details are only
    /// in the per-queue answer).
    /// - Parameters:
    ///   - name: The queue's name.
    ///   - virtualHost: Its virtual host.
    ///   - node: The node to ask (the first by default).
    /// - Returns: The queue's figures.
    /// - Throws: `Failure` with status 404 when there is no such queue; otherwise as `permissions(of:in:from:)`.
    public func queue(_ name: String, in virtualHost: String, from node: URLComponents? = nil) async throws -> Queue {
        try await get(Queue.self, "/api/queues/\(Self.segment(virtualHost))/\(Self.segment(name))", from: node)
    }

    private func get<Answer: Decodable>(_ type: Answer.Type, _ path: String, from node: URLComponents?) async throws -> Answer {
        try JSONDecoder().decode(type, from: try await data(path, from: node ?? nodes[0]))
    }

    private func data(_ path: String, from node: URLComponents) async throws -> Data {
        var components = node
        components.percentEncodedPath = path
        var request = URLRequest(url: components.url!)
        request.setValue("Basic \(Data("\(username):\(password)".utf8).base64EncodedString())", forHTTPHeaderField: "Authorization")
        request.timeoutInterval = timeout
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else { throw Failure(status: status, path: path) }
        return data
    }

    /// A name as one path segment: everything but letters and digits percent-encoded (`/` is `%2F`).
    static func segment(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name
    }
}
