/// An exchange to declare.
public struct AMQPExchange: Sendable, Hashable {
    /// Exchange types this client declares.
    public enum Kind: String, Sendable, Hashable {
        /// An exchange type, its raw value the AMQP name: `direct` routes by exact routing key,
        /// `fanout` to every bound queue, `topic` by routing-key pattern, `headers` by header values.
        case direct, fanout, topic, headers
    }

    /// The exchange's name.
    public var name: String
    /// How the exchange routes messages to its bound queues.
    public var type: Kind
    /// Whether the exchange survives a broker restart.
    public var durable: Bool
    /// Whether the broker deletes the exchange once its last binding is removed.
    public var autoDelete: Bool
    /// Whether publishers cannot publish to it directly (only other exchanges route to it).
    public var `internal`: Bool
    /// Exchange arguments, e.g. `alternate-exchange`.
    public var arguments: AMQPTable

    /// A durable exchange unless told otherwise.
    ///
    /// - Parameters:
    ///   - name: The exchange's name.
    ///   - type: How the exchange routes messages.
    ///   - durable: Whether the exchange survives a broker restart.
    ///   - autoDelete: Whether the broker deletes it once its last binding is removed.
    ///   - internal: Whether publishers cannot publish to it directly.
    ///   - arguments: Exchange arguments.
    public init(name: String, type: Kind, durable: Bool = true, autoDelete: Bool = false, internal: Bool = false, arguments: AMQPTable = [:]) {
        self.name = name
        self.type = type
        self.durable = durable
        self.autoDelete = autoDelete
        self.internal = `internal`
        self.arguments = arguments
    }
}

/// A queue to declare. Arguments carry `x-queue-type`, `x-single-active-consumer`, `x-delivery-limit`,
/// `x-message-ttl`, `x-dead-letter-exchange`, `x-dead-letter-routing-key` and the like.
public struct AMQPQueue: Sendable, Hashable {
    /// The queue's name; empty asks the broker for a server-named queue.
    public var name: String
    /// Whether the queue survives a broker restart.
    public var durable: Bool
    /// Whether only the declaring connection may use the queue; the broker deletes it when that connection closes.
    public var exclusive: Bool
    /// Whether the broker deletes the queue once its last consumer is cancelled.
    public var autoDelete: Bool
    /// Queue arguments (`x-queue-type`, `x-delivery-limit` and the like).
    public var arguments: AMQPTable

    /// A durable queue unless told otherwise.
    ///
    /// - Parameters:
    ///   - name: The queue's name; empty for a server-named queue.
    ///   - durable: Whether the queue survives a broker restart.
    ///   - exclusive: Whether only the declaring connection may use it.
    ///   - autoDelete: Whether the broker deletes it once its last consumer is cancelled.
    ///   - arguments: Queue arguments.
    public init(name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false, arguments: AMQPTable = [:]) {
        self.name = name
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.arguments = arguments
    }
}

/// A binding of a queue to an exchange.
public struct AMQPBinding: Sendable, Hashable {
    /// The queue that receives the messages.
    public var queue: String
    /// The exchange the messages are published to.
    public var exchange: String
    /// The binding key: for a direct exchange the routing key to match, for a topic exchange a pattern.
    public var routingKey: String
    /// Binding arguments (for a headers exchange, the headers to match and `x-match`).
    public var arguments: AMQPTable

    /// A binding of `queue` to `exchange`.
    ///
    /// - Parameters:
    ///   - queue: The queue that receives the messages.
    ///   - exchange: The exchange the messages are published to.
    ///   - routingKey: The binding key.
    ///   - arguments: Binding arguments.
    public init(queue: String, exchange: String, routingKey: String, arguments: AMQPTable = [:]) {
        self.queue = queue
        self.exchange = exchange
        self.routingKey = routingKey
        self.arguments = arguments
    }
}

/// What the broker said about a declared queue.
public struct AMQPQueueState: Sendable, Hashable {
    /// The queue's name (the generated one for a server-named queue).
    public let name: String
    /// Messages ready for delivery.
    public let messageCount: Int
    /// Consumers attached.
    public let consumerCount: Int
}
