internal import CRabbitMQ
import Logging

/// A consumer the session keeps alive across reconnects.
struct ConsumerRegistration {
    let queue: String
    let prefetch: UInt16
    let exclusive: Bool
    let arguments: AMQPTable
    /// Deliveries go over in batches (all that one read of the socket brought), one wake-up per batch.
    let deliveries: DeliveryBuffer
    var consumerTag = ""
}

/// How a consumer settles a delivery.
enum Settlement: Sendable {
    case ack
    case nack(requeue: Bool)
    case reject(requeue: Bool)
}

extension AMQPSession {
    /// Subscribes a new consumer on a channel of its own and returns that channel.
    ///
    /// Channels are taken in turn from `firstConsumerChannel` up to below `sparePublishChannel`,
    /// then from the start again: never the number a consumer gave up just before. librabbitmq keeps
    /// the frames that arrive during a synchronous method (a `basic.cancel`, a `channel.close`) and
    /// hands them out afterwards, so a delivery sent to a consumer just cancelled can be read after
    /// its channel number was opened again — and would pass for a delivery of the new consumer.
    func startConsumer(_ registration: ConsumerRegistration) throws(AMQPError) -> UInt16 {
        _ = try requireConnection()
        var channel = nextConsumerChannel
        for _ in Self.firstConsumerChannel..<Self.sparePublishChannel {
            guard consumers[channel] != nil || openChannels.contains(channel) else { break }
            channel = Self.consumerChannel(after: channel)
        }
        guard consumers[channel] == nil, !openChannels.contains(channel) else {
            throw AMQPError(.protocolError, "no channel left for another consumer")
        }
        nextConsumerChannel = Self.consumerChannel(after: channel)
        var registration = registration
        registration.consumerTag = try subscribe(registration, on: channel)
        consumers[channel] = registration
        return channel
    }

    /// The consumer channel taken after `channel`.
    static func consumerChannel(after channel: UInt16) -> UInt16 {
        channel + 1 < sparePublishChannel ? channel + 1 : firstConsumerChannel
    }

    /// `basic.qos` + `basic.consume` on `channel`; returns the broker's consumer tag.
    private func subscribe(_ registration: ConsumerRegistration, on channel: UInt16) throws(AMQPError) -> String {
        let state = try requireConnection()
        try ensureOpen(channel: channel)
        if amqp_basic_qos(state, channel, 0, registration.prefetch, 0) == nil {
            try check(amqp_get_rpc_reply(state), channel: channel, doing: "basic.qos")
        }
        let ok = CArena.with { arena in
            amqp_basic_consume(
                state,
                channel,
                arena.bytes(registration.queue),
                amqp_empty_bytes,
                0,
                0,
                registration.exclusive ? 1 : 0,
                arena.table(registration.arguments)
            )
        }
        guard let ok else {
            try check(amqp_get_rpc_reply(state), channel: channel, doing: "basic.consume \(registration.queue)")
            throw AMQPError(.protocolError, "basic.consume returned nothing")
        }
        return CDecoding.string(ok.pointee.consumer_tag)
    }

    /// After a reconnect: subscribes every registered consumer again on its old channel number.
    func resubscribeConsumers() {
        for channel in consumers.keys.sorted() {
            guard let registration = consumers[channel], isConnected else { return }
            do {
                // Subscribed first, stored after: a failing subscribe ends the consumer (`channelClosed`
                // removes it from `consumers`), which must not happen inside an access to `consumers`.
                let tag = try subscribe(registration, on: channel)
                consumers[channel]?.consumerTag = tag
                logger.info("AMQP consumer re-subscribed", metadata: ["amqp.queue": "\(registration.queue)", "amqp.channel": "\(channel)"])
            } catch {
                // A closed channel already ended the consumer with the broker's reason (e.g. 404 queue gone);
                // a lost connection keeps it registered for the next connect.
                logger.warning("AMQP consumer could not re-subscribe", metadata: ["amqp.queue": "\(registration.queue)", "error": "\(error)"])
            }
        }
    }

    /// Cancels the consumer on `channel` and closes the channel, so the broker requeues what it had not acknowledged.
    func cancelConsumer(channel: UInt16) {
        guard let registration = finishConsumer(channel: channel, error: nil) else { return }
        guard let state = connection, openChannels.contains(channel) else { return }
        do throws(AMQPError) {
            let cancelled = CArena.with { arena in amqp_basic_cancel(state, channel, arena.bytes(registration.consumerTag)) }
            if cancelled == nil { try check(amqp_get_rpc_reply(state), channel: channel, doing: "basic.cancel") }
            openChannels.remove(channel)
            try check(amqp_channel_close(state, channel, AMQP_REPLY_SUCCESS), channel: channel, doing: "channel.close")
        } catch {
            logger.debug("AMQP consumer cancel failed", metadata: ["amqp.channel": "\(channel)", "error": "\(error)"])
        }
    }

    /// Hands a delivery to its consumer with the next batch.
    func enqueue(_ delivery: AMQPDelivery, channel: UInt16) {
        // No consumer any more (cancelled): the broker requeues it when the channel closes.
        guard consumers[channel] != nil else { return }
        pendingDeliveries[channel, default: []].append(delivery)
    }

    /// Passes every collected delivery on to its consumer.
    func flushDeliveries() {
        guard !pendingDeliveries.isEmpty else { return }
        for (channel, batch) in pendingDeliveries {
            consumers[channel]?.deliveries.append(batch)
        }
        pendingDeliveries.removeAll(keepingCapacity: true)
    }

    /// Ends a consumer's sequence and forgets it. Deliveries it has not taken yet are dropped:
    /// its channel closes, so they could never be settled, and the broker gives them to another consumer.
    @discardableResult
    func finishConsumer(channel: UInt16, error: AMQPError?) -> ConsumerRegistration? {
        guard let registration = consumers.removeValue(forKey: channel) else { return nil }
        pendingDeliveries.removeValue(forKey: channel)
        registration.deliveries.discard()
        registration.deliveries.finish(throwing: error)
        return registration
    }

    /// Acks, nacks or rejects a delivery, unless it came through a connection or channel that no longer exists.
    func settle(_ settlement: Settlement, origin: DeliveryOrigin, deliveryTag: UInt64, multiple: Bool) {
        guard let state = connection, origin.generation == generation, openChannels.contains(origin.channel),
            channelIncarnations[origin.channel] == origin.incarnation
        else {
            logger.debug("AMQP stale delivery not settled; the broker redelivers it", metadata: ["amqp.deliveryTag": "\(deliveryTag)"])
            return
        }
        let status: Int32 =
            switch settlement {
            case .ack: amqp_basic_ack(state, origin.channel, deliveryTag, multiple ? 1 : 0)
            case .nack(let requeue): amqp_basic_nack(state, origin.channel, deliveryTag, multiple ? 1 : 0, requeue ? 1 : 0)
            case .reject(let requeue): amqp_basic_reject(state, origin.channel, deliveryTag, requeue ? 1 : 0)
            }
        if status != AMQP_STATUS_OK.rawValue {
            connectionLost(AMQPError(.connectionLost, "settling a delivery failed: \(Self.describe(status: status))"))
        }
    }

    /// `basic.get` on the control channel: one message or `nil` when the queue is empty.
    func get(queue: String) throws(AMQPError) -> AMQPDelivery? {
        let state = try requireConnection()
        let channel = Self.controlChannel
        try ensureOpen(channel: channel)
        let reply = CArena.with { arena in amqp_basic_get(state, channel, arena.bytes(queue), 0) }
        try check(reply, channel: channel, doing: "basic.get \(queue)")
        guard reply.reply.id == CRABBITMQ_BASIC_GET_OK else { return nil }
        let ok = reply.reply.decoded!.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        let tag = ok.delivery_tag
        let redelivered = ok.redelivered != 0
        let exchange = CDecoding.string(ok.exchange)
        let routingKey = CDecoding.string(ok.routing_key)
        let (properties, body) = try readContent(channel: channel)
        return AMQPDelivery(
            deliveryTag: tag,
            redelivered: redelivered,
            exchange: exchange,
            routingKey: routingKey,
            properties: properties,
            body: body,
            origin: DeliveryOrigin(generation: generation, channel: channel, incarnation: channelIncarnations[channel] ?? 0)
        )
    }

    /// Reads the header and body frames that follow a deliver, get-ok or return method.
    func readContent(channel: UInt16) throws(AMQPError) -> (AMQPMessageProperties, [UInt8]) {
        let state = try requireConnection()
        var message = amqp_message_t()
        let reply = amqp_read_message(state, channel, &message, 0)
        try check(reply, channel: channel, doing: "reading a message")
        defer { amqp_destroy_message(&message) }
        return (CDecoding.properties(message.properties), CDecoding.byteArray(message.body))
    }
}
