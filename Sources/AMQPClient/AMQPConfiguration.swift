import Foundation

/// One node of a broker: host and AMQP port.
public struct AMQPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The node's host name or IP address.
    public var host: String
    /// The node's AMQP port (5672 unless told otherwise).
    public var port: Int

    /// An address of one broker node.
    ///
    /// - Parameters:
    ///   - host: The node's host name or IP address.
    ///   - port: The node's AMQP port.
    public init(host: String, port: Int = 5672) {
        self.host = host
        self.port = port
    }

    /// The address as `host:port`.
    public var description: String { "\(host):\(port)" }
}

/// Where and how to connect to an AMQP 0-9-1 broker: one node, or the nodes of one cluster.
public struct AMQPConfiguration: Sendable {
    /// The broker's nodes, all of one cluster (same users and virtual hosts). A connection uses one
    /// at a time; a failed connect or a lost connection moves on to the next (see `firstAddressIndex`).
    public var addresses: [AMQPAddress] {
        didSet { precondition(!addresses.isEmpty, "an AMQP configuration needs at least one address") }
    }
    /// Which address a connection tries first. By default the process id picks it, so that the
    /// processes of a deployment spread over the nodes while each one is predictable (all
    /// connections of one process start at the same node).
    public var firstAddressIndex: Int
    /// User name for PLAIN authentication.
    public var username: String
    /// Password for PLAIN authentication. Never logged or printed.
    public var password: String
    /// Virtual host.
    public var virtualHost: String
    /// Heartbeat interval negotiated with the broker; a silent connection is declared dead after about twice this.
    public var heartbeat: Duration
    /// How long a connection attempt (TCP + AMQP handshake) may take.
    public var connectTimeout: Duration
    /// How long a publish waits for the broker's confirm; past it the publish fails with
    /// `confirmTimeout` (its outcome unknown: the broker may still take it).
    public var confirmTimeout: Duration = .seconds(5)
    /// Back-off between reconnect attempts.
    public var reconnectBackoff: Backoff
    /// Name shown in the broker's management UI (`connection_name`).
    public var connectionName: String
    /// Sends runs of publishes and acks posted together as one burst (`TCP_CORK` around them)
    /// instead of a TCP segment per message. Measured on `scripts/bench e2e`: RabbitMQ ~13 % less
    /// CPU per command, p99 at half load lower. On by default.
    public var corksWriteBursts = true

    /// A configuration of a single node, with sane defaults for everything but the address and credentials.
    ///
    /// `firstAddressIndex` is the process id and `confirmTimeout` 5 seconds; `corksWriteBursts` is on.
    ///
    /// - Parameters:
    ///   - host: The broker node's host name or IP address.
    ///   - port: The broker node's AMQP port.
    ///   - username: User name for PLAIN authentication.
    ///   - password: Password for PLAIN authentication.
    ///   - virtualHost: The virtual host to open.
    ///   - heartbeat: Heartbeat interval proposed to the broker.
    ///   - connectTimeout: How long a connection attempt (TCP and AMQP handshake) may take.
    ///   - reconnectBackoff: Back-off between reconnect attempts.
    ///   - connectionName: Name shown in the broker's management UI.
    public init(
        host: String = "127.0.0.1",
        port: Int = 5672,
        username: String = "guest",
        password: String = "guest",
        virtualHost: String = "/",
        heartbeat: Duration = .seconds(5),
        connectTimeout: Duration = .seconds(5),
        reconnectBackoff: Backoff = Backoff(),
        connectionName: String = "swift-amqp-client"
    ) {
        self.addresses = [AMQPAddress(host: host, port: port)]
        self.firstAddressIndex = Int(ProcessInfo.processInfo.processIdentifier)
        self.username = username
        self.password = password
        self.virtualHost = virtualHost
        self.heartbeat = heartbeat
        self.connectTimeout = connectTimeout
        self.reconnectBackoff = reconnectBackoff
        self.connectionName = connectionName
    }

    /// The first address (a single node's configuration has only it). Setting it makes the
    /// configuration a single node's.
    public var host: String {
        get { addresses[0].host }
        set { addresses = [AMQPAddress(host: newValue, port: port)] }
    }
    /// The first address's port; setting it makes the configuration a single node's.
    public var port: Int {
        get { addresses[0].port }
        set { addresses = [AMQPAddress(host: host, port: newValue)] }
    }

    /// The address a connection tries after `attempt` failed connects or losses (0 for the first).
    ///
    /// Starts at `firstAddressIndex` (modulo the number of addresses) and goes round the list.
    ///
    /// - Parameters:
    ///   - attempt: How many connects have failed or connections been lost so far.
    /// - Returns: The node to try next.
    public func address(attempt: Int) -> AMQPAddress {
        addresses[(firstAddressIndex % addresses.count + attempt % addresses.count) % addresses.count]
    }

    /// Parses an `amqp://user:password@host:port/vhost` URL (the vhost percent-encoded, `%2F` for
    /// `/`), or a comma-separated list of them naming the nodes of one cluster: every URL of a list
    /// must have the same user, password and virtual host.
    ///
    /// A URL without user or password gets the default (`guest`), one without a path the virtual
    /// host `/`; every other setting gets the default of `init(host:port:…)`.
    ///
    /// - Parameters:
    ///   - url: One `amqp://` URL, or several separated by commas.
    /// - Throws: `AMQPError` of kind `invalidURL` when a URL is not an `amqp://` URL with a host,
    ///   its virtual host is not valid percent-encoding, or the URLs of a list differ in user,
    ///   password or virtual host. Its text never contains the password.
    public init(url: String) throws {
        let urls = url.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let nodes = try urls.map(Self.parseOne)
        self.init()
        addresses = nodes.map(\.address)
        let first = nodes[0]
        username = first.username ?? username
        password = first.password ?? password
        virtualHost = first.virtualHost
        for node in nodes.dropFirst()
        where (node.username ?? "guest") != (first.username ?? "guest") || (node.password ?? "guest") != (first.password ?? "guest")
            || node.virtualHost != first.virtualHost
        {
            throw AMQPError(.invalidURL, "the URLs of a list name the nodes of one cluster: each needs the same user, password and virtual host")
        }
    }

    private struct Node {
        let address: AMQPAddress
        let username: String?
        let password: String?
        let virtualHost: String
    }

    private static func parseOne(_ url: String) throws -> Node {
        guard let components = URLComponents(string: url), components.scheme == "amqp", let host = components.host, !host.isEmpty
        else {
            throw AMQPError(.invalidURL, "expected amqp://user:password@host:port/vhost, or several separated by commas")
        }
        var virtualHost = "/"
        let path = components.percentEncodedPath
        if path.count > 1 {
            guard let vhost = String(path.dropFirst()).removingPercentEncoding else {
                throw AMQPError(.invalidURL, "the virtual host is not valid percent-encoding")
            }
            virtualHost = vhost
        }
        return Node(
            address: AMQPAddress(host: host, port: components.port ?? 5672),
            username: components.user,
            password: components.password,
            virtualHost: virtualHost
        )
    }
}

extension AMQPConfiguration: CustomStringConvertible {
    /// The address (every node's) without the password.
    public var description: String {
        "amqp://\(username)@\(addresses.map(\.description).joined(separator: ","))/\(virtualHost == "/" ? "%2F" : virtualHost)"
    }

    /// One node's address in the same form as `description`, without the password.
    ///
    /// - Parameters:
    ///   - address: The node to describe.
    /// - Returns: `amqp://user@host:port/vhost` for that node.
    public func describe(_ address: AMQPAddress) -> String {
        "amqp://\(username)@\(address)/\(virtualHost == "/" ? "%2F" : virtualHost)"
    }
}
