internal import CRabbitMQ
import Glibc
import Logging

extension AMQPSession {
    /// True when librabbitmq already holds frames or bytes that a poll on the socket would not announce.
    var hasBufferedInput: Bool {
        guard let connection else { return false }
        return amqp_frames_enqueued(connection) != 0 || amqp_data_in_buffer(connection) != 0
    }

    /// The socket to poll, while connected.
    var socketDescriptor: Int32? {
        guard let connection else { return nil }
        let descriptor = amqp_socket_get_sockfd(amqp_get_socket(connection))
        return descriptor >= 0 ? descriptor : nil
    }

    /// Runs `body` with the socket corked (`TCP_CORK`): the kernel sends what `body` writes in
    /// full segments, and the rest when it is uncorked at the end. librabbitmq flushes after
    /// each message; corked, a run of publishes or acks reaches the broker as one burst.
    /// `body` must not wait for the broker (its request would wait for the uncork);
    /// `uncork()` lets an unavoidable wait (the publish channel's `confirm.select`) go first.
    func corked(_ body: () -> Void) {
        guard let descriptor = socketDescriptor else { return body() }
        setCork(descriptor, true)
        corkedDescriptor = descriptor
        body()
        uncork()
    }

    /// Sends what waits in a corked socket and stops corking it.
    func uncork() {
        guard let descriptor = corkedDescriptor else { return }
        corkedDescriptor = nil
        // The session may have dropped the socket meanwhile (a failed write): only a live one.
        if socketDescriptor == descriptor { setCork(descriptor, false) }
    }

    private func setCork(_ descriptor: Int32, _ on: Bool) {
        var value: Int32 = on ? 1 : 0
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_CORK, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Reads every frame that is available without blocking and acts on it.
    ///
    /// This is also where librabbitmq sends heartbeats and notices a silent broker, so the loop
    /// calls it at least every poll interval.
    func pumpFrames() {
        var frame = amqp_frame_t()
        var noWait = timeval(.zero)
        while let state = connection {
            let status = amqp_simple_wait_frame_noblock(state, &frame, &noWait)
            if status == AMQP_STATUS_TIMEOUT.rawValue { break }
            guard status == AMQP_STATUS_OK.rawValue else {
                connectionLost(AMQPError(.connectionLost, Self.describe(status: status)))
                return
            }
            if frame.frame_type == UInt8(AMQP_FRAME_METHOD) {
                handleMethod(frame.payload.method, channel: frame.channel)
            }
        }
        flushDeliveries()
        if let connection { amqp_maybe_release_buffers(connection) }
    }

    private func handleMethod(_ method: amqp_method_t, channel: UInt16) {
        switch method.id {
        case CRABBITMQ_BASIC_DELIVER:
            let deliver = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            let tag = deliver.delivery_tag
            let redelivered = deliver.redelivered != 0
            let exchange = CDecoding.string(deliver.exchange)
            let routingKey = CDecoding.string(deliver.routing_key)
            // A failed read already ended the channel or the connection (see `check`); the broker redelivers.
            guard let (properties, body) = try? readContent(channel: channel) else { return }
            let delivery = AMQPDelivery(
                deliveryTag: tag,
                redelivered: redelivered,
                exchange: exchange,
                routingKey: routingKey,
                properties: properties,
                body: body,
                origin: DeliveryOrigin(generation: generation, channel: channel, incarnation: channelIncarnations[channel] ?? 0)
            )
            enqueue(delivery, channel: channel)
        case CRABBITMQ_BASIC_ACK where channel == publishChannel && publishChannelInConfirmMode:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            settleConfirms(confirms.acked(tag: ack.delivery_tag, multiple: ack.multiple != 0))
        case CRABBITMQ_BASIC_NACK where channel == publishChannel && publishChannelInConfirmMode:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            settleConfirms(confirms.nacked(tag: nack.delivery_tag, multiple: nack.multiple != 0))
            recyclePublishChannel()
        case CRABBITMQ_BASIC_RETURN:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let code = Int(returned.reply_code)
            let text = CDecoding.string(returned.reply_text)
            // As above: a failed read already ended the channel or connection, failing the pending publishes.
            guard (try? readContent(channel: channel)) != nil else { return }
            confirms.returned(replyCode: code, replyText: text)
        case CRABBITMQ_BASIC_CANCEL:
            // The broker cancelled a consumer: its queue was deleted, or it is no longer wanted.
            guard let queue = consumers[channel]?.queue else { return }
            finishConsumer(channel: channel, error: AMQPError(.consumerCancelled, "the broker cancelled the consumer of \(queue)"))
            logger.warning("AMQP consumer cancelled by the broker", metadata: ["amqp.queue": "\(queue)"])
            if let state = connection, openChannels.contains(channel) {
                openChannels.remove(channel)
                // Best effort: the consumer is gone either way, and `check` handles a dead connection.
                try? check(amqp_channel_close(state, channel, AMQP_REPLY_SUCCESS), channel: channel, doing: "channel.close")
            }
        case CRABBITMQ_CHANNEL_CLOSE:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let error = AMQPError(.channelClosed, CDecoding.string(close.reply_text), replyCode: Int(close.reply_code))
            acknowledgeChannelClose(channel: channel)
            channelClosed(channel, error)
        case CRABBITMQ_CONNECTION_CLOSE:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let error = AMQPError(.connectionClosed, CDecoding.string(close.reply_text), replyCode: Int(close.reply_code))
            acknowledgeConnectionClose()
            connectionLost(error)
        case CRABBITMQ_CONNECTION_BLOCKED:
            let blocked = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            isBlocked = true
            blockedReason = CDecoding.string(blocked.reason)
            logger.warning("AMQP broker blocked publishing (resource alarm)", metadata: ["reason": "\(blockedReason)"])
        case CRABBITMQ_CONNECTION_UNBLOCKED:
            isBlocked = false
            logger.info("AMQP broker unblocked publishing")
        default:
            logger.debug("AMQP unexpected method ignored", metadata: ["amqp.method": "\(method.id)", "amqp.channel": "\(channel)"])
        }
    }
}
