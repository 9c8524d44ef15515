/// A message delivered to a consumer (or fetched with `basic.get`).
public struct AMQPDelivery: Sendable {
    /// The broker's tag for this delivery on its channel; used to acknowledge it.
    public let deliveryTag: UInt64
    /// True when the broker delivered this message before (to this or another consumer) without an ack.
    public let redelivered: Bool
    /// The exchange it was published to (empty for the default exchange).
    public let exchange: String
    /// The routing key it was published with.
    public let routingKey: String
    /// The message's properties and headers.
    public let properties: AMQPMessageProperties
    /// The message body.
    public let body: [UInt8]
    /// Which connection and channel the delivery came through: acks go back the same way or not at all.
    let origin: DeliveryOrigin

    /// Which incarnation of its connection the delivery came through; it changes after every reconnect.
    public var connectionGeneration: UInt64 { origin.generation }

    /// Which subscription of its consumer the delivery came through: it changes whenever the
    /// consumer was subscribed anew — after a reconnect, or after the broker closed its channel —
    /// which is when another consumer may have had the queue meanwhile, and state derived from
    /// earlier deliveries (a consumer's cache) may be stale.
    public var subscription: UInt64 { origin.incarnation }

    /// How many times quorum queues have delivered this message before (`x-delivery-count`), if known.
    public var deliveryCount: Int64? { properties.headers["x-delivery-count"]?.intValue }

    /// The `x-death` entries (newest first) of a message that was dead-lettered at least once.
    public var deaths: [AMQPDeath] {
        (properties.headers["x-death"]?.arrayValue ?? []).compactMap { $0.tableValue.map(AMQPDeath.init) }
    }
}

/// One entry of a dead-lettered message's `x-death` header.
public struct AMQPDeath: Sendable, Hashable {
    /// The queue the message was dead-lettered from.
    public let queue: String?
    /// Why: `rejected`, `expired`, `maxlen` or `delivery_limit`.
    public let reason: String?
    /// How many times it was dead-lettered from this queue for this reason.
    public let count: Int64?
    /// The exchange it had been published to.
    public let exchange: String?
    /// The routing keys it had.
    public let routingKeys: [String]

    init(_ table: AMQPTable) {
        queue = table["queue"]?.stringValue
        reason = table["reason"]?.stringValue
        count = table["count"]?.intValue
        exchange = table["exchange"]?.stringValue
        routingKeys = table["routing-keys"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }
}

/// Identifies the channel incarnation a delivery arrived on.
struct DeliveryOrigin: Sendable, Hashable {
    /// Increments on every (re)connection of the owning connection.
    let generation: UInt64
    /// The channel number.
    let channel: UInt16
    /// Which opening of that channel number (see `AMQPSession.channelIncarnations`).
    let incarnation: UInt64
}
