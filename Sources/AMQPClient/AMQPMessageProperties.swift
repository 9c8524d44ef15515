/// The properties (header frame) of a message: what a publisher sets and a consumer reads.
public struct AMQPMessageProperties: Sendable, Hashable {
    /// MIME type of the body, e.g. `application/json`.
    public var contentType: String?
    /// Persistent messages (delivery mode 2) survive a broker restart on durable queues.
    public var persistent: Bool
    /// Application message id; also lets the broker and consumers recognise duplicates.
    public var messageId: String?
    /// Application message type name.
    public var type: String?
    /// Creation time, whole seconds since the Unix epoch.
    public var timestamp: UInt64?
    /// Correlation id for request/reply.
    public var correlationId: String?
    /// Where the consumer should send a reply (a queue name, through the default exchange).
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as the decimal string AMQP expects.
    public var expiration: String?
    /// Application headers. Deliveries that were dead-lettered carry `x-death` here.
    public var headers: AMQPTable

    /// Properties for a publish: persistent by default.
    ///
    /// - Parameters:
    ///   - contentType: MIME type of the body, e.g. `application/json`.
    ///   - persistent: Whether the message survives a broker restart on a durable queue (delivery mode 2).
    ///   - messageId: Application message id.
    ///   - type: Application message type name.
    ///   - timestamp: Creation time, whole seconds since the Unix epoch.
    ///   - correlationId: Correlation id for request/reply.
    ///   - replyTo: Where the consumer should send a reply.
    ///   - expiration: Per-message TTL in milliseconds, as a decimal string.
    ///   - headers: Application headers.
    public init(
        contentType: String? = nil,
        persistent: Bool = true,
        messageId: String? = nil,
        type: String? = nil,
        timestamp: UInt64? = nil,
        correlationId: String? = nil,
        replyTo: String? = nil,
        expiration: String? = nil,
        headers: AMQPTable = [:]
    ) {
        self.contentType = contentType
        self.persistent = persistent
        self.messageId = messageId
        self.type = type
        self.timestamp = timestamp
        self.correlationId = correlationId
        self.replyTo = replyTo
        self.expiration = expiration
        self.headers = headers
    }
}
