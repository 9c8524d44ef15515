/// An exchange to declare.
public struct AMQPExchange: Sendable, Hashable {
    /// Exchange types this client declares.
    public enum Kind: String, Sendable, Hashable {
        case direct, fanout, topic, headers
    }

    public var name: String
    public var type: Kind
    public var durable: Bool
    public var autoDelete: Bool
    public var `internal`: Bool
    public var arguments: AMQPTable

    /// A durable exchange unless told otherwise.
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
    /// Empty asks the broker for a server-named queue.
    public var name: String
    public var durable: Bool
    public var exclusive: Bool
    public var autoDelete: Bool
    public var arguments: AMQPTable

    /// A durable queue unless told otherwise.
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
    public var queue: String
    public var exchange: String
    public var routingKey: String
    public var arguments: AMQPTable

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
