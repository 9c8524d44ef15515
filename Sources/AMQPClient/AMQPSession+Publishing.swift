internal import CRabbitMQ
import Logging

extension AMQPSession {
    /// Writes one message to the confirm-mode channel; `waiter` resumes when the broker confirms it.
    func publish(
        exchange: String,
        routingKey: String,
        body: [UInt8],
        properties: AMQPMessageProperties,
        mandatory: Bool,
        waiter: CheckedContinuation<Void, any Error>
    ) {
        do throws(AMQPError) {
            let state = try requireConnection()
            // Written now, it would only wait in the socket (and, once that is full, block this
            // thread and every other publish and ack of the connection).
            guard !isBlocked else { throw AMQPError(.blocked, "the broker blocks publishing (memory or disk alarm): \(blockedReason)") }
            try ensurePublishChannel()
            let status = CArena.with { arena in
                var cProperties = arena.properties(properties)
                return body.withUnsafeBytes { bytes in
                    amqp_basic_publish(
                        state,
                        publishChannel,
                        arena.bytes(exchange),
                        arena.bytes(routingKey),
                        mandatory ? 1 : 0,
                        0,
                        &cProperties,
                        amqp_bytes_t(len: bytes.count, bytes: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                    )
                }
            }
            guard status == AMQP_STATUS_OK.rawValue else {
                // A failed write leaves the socket unusable and the message's fate unknown.
                let error = AMQPError(.connectionLost, "basic.publish failed: \(Self.describe(status: status))")
                connectionLost(error)
                throw error
            }
            _ = confirms.published(waiter, deadline: .now + configuration.confirmTimeout)
        } catch {
            waiter.resume(throwing: error)
        }
    }

    /// Opens the publish channel and puts it into confirm mode, once per connection.
    private func ensurePublishChannel() throws(AMQPError) {
        guard !publishChannelInConfirmMode else { return }
        // Opening the channel waits for the broker: what is corked goes first.
        uncork()
        let state = try requireConnection()
        try ensureOpen(channel: publishChannel)
        if amqp_confirm_select(state, publishChannel) == nil {
            try check(amqp_get_rpc_reply(state), channel: publishChannel, doing: "confirm.select")
        }
        publishChannelInConfirmMode = true
    }

    /// After a `basic.nack`, closes the publish channel; the next publish opens a fresh one under
    /// the other publish channel number.
    ///
    /// RabbitMQ 3.10 refuses every later message for a quorum queue on a channel that first
    /// published to it while the queue had no leader (during a failover, measured: for as long as
    /// the channel lives), while a new channel finds the new leader. Publishes still unconfirmed
    /// on the old channel fail with `channelClosed`: the broker may have taken them, their outcome
    /// is unknown. The number alternates so that confirms of the old channel that librabbitmq
    /// still holds can never settle publishes of the new one.
    func recyclePublishChannel() {
        guard let state = connection, publishChannelInConfirmMode else { return }
        let old = publishChannel
        publishChannelInConfirmMode = false
        publishChannel = old == Self.firstPublishChannel ? Self.sparePublishChannel : Self.firstPublishChannel
        let unknown = AMQPError(
            .channelClosed,
            "the publish channel was replaced after the broker refused a message; whether this one was taken is unknown"
        )
        for waiter in confirms.reset() { waiter.resume(throwing: unknown) }
        if openChannels.contains(old) {
            openChannels.remove(old)
            // Best effort: a failure here ends the connection, which `check` handles.
            try? check(amqp_channel_close(state, old, AMQP_REPLY_SUCCESS), channel: old, doing: "channel.close")
        }
        logger.info("AMQP publish channel replaced after a basic.nack", metadata: ["amqp.channel": "\(publishChannel)"])
    }

    /// Settles the waiters of a `basic.ack` or `basic.nack`.
    func settleConfirms(_ settled: [(CheckedContinuation<Void, any Error>, ConfirmTracker<CheckedContinuation<Void, any Error>>.Outcome)]) {
        for (waiter, outcome) in settled {
            switch outcome {
            case .confirmed:
                waiter.resume()
            case .nacked:
                waiter.resume(throwing: AMQPError(.nacked, "the broker refused the message (basic.nack)"))
            case .returned(let replyCode, let replyText):
                waiter.resume(throwing: AMQPError(.unroutable, "no queue took the mandatory message: \(replyText)", replyCode: replyCode))
            }
        }
    }
}
