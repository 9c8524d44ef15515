import Foundation

/// Where and how to connect to an AMQP 0-9-1 broker.
public struct AMQPConfiguration: Sendable {
    /// Broker host name or address.
    public var host: String
    /// Broker port (5672 unless told otherwise).
    public var port: Int
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
    /// Back-off between reconnect attempts.
    public var reconnectBackoff: ReconnectBackoff
    /// Name shown in the broker's management UI (`connection_name`).
    public var connectionName: String

    /// A configuration with sane defaults for everything but the address and credentials.
    public init(
        host: String = "127.0.0.1",
        port: Int = 5672,
        username: String = "guest",
        password: String = "guest",
        virtualHost: String = "/",
        heartbeat: Duration = .seconds(5),
        connectTimeout: Duration = .seconds(5),
        reconnectBackoff: ReconnectBackoff = ReconnectBackoff(),
        connectionName: String = "swift-amqp-client"
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.virtualHost = virtualHost
        self.heartbeat = heartbeat
        self.connectTimeout = connectTimeout
        self.reconnectBackoff = reconnectBackoff
        self.connectionName = connectionName
    }

    /// Parses an `amqp://user:password@host:port/vhost` URL (the vhost percent-encoded, `%2F` for `/`).
    ///
    /// Throws ``AMQPError`` of kind `invalidURL` whose text never contains the password.
    public init(url: String) throws {
        guard let components = URLComponents(string: url), components.scheme == "amqp", let host = components.host, !host.isEmpty
        else {
            throw AMQPError(.invalidURL, "expected amqp://user:password@host:port/vhost")
        }
        self.init()
        self.host = host
        self.port = components.port ?? 5672
        if let user = components.user { self.username = user }
        if let password = components.password { self.password = password }
        let path = components.percentEncodedPath
        if path.count > 1 {
            guard let vhost = String(path.dropFirst()).removingPercentEncoding else {
                throw AMQPError(.invalidURL, "the virtual host is not valid percent-encoding")
            }
            self.virtualHost = vhost
        }
    }
}

extension AMQPConfiguration: CustomStringConvertible {
    /// The address without the password.
    public var description: String {
        "amqp://\(username)@\(host):\(port)/\(virtualHost == "/" ? "%2F" : virtualHost)"
    }
}
