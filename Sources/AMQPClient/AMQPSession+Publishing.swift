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
            try ensurePublishChannel()
            let status = CArena.with { arena in
                var cProperties = arena.properties(properties)
                return body.withUnsafeBytes { bytes in
                    amqp_basic_publish(
                        state,
                        Self.publishChannel,
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
            _ = confirms.published(waiter)
        } catch {
            waiter.resume(throwing: error)
        }
    }

    /// Opens the publish channel and puts it into confirm mode, once per connection.
    private func ensurePublishChannel() throws(AMQPError) {
        guard !publishChannelInConfirmMode else { return }
        let state = try requireConnection()
        try ensureOpen(channel: Self.publishChannel)
        if amqp_confirm_select(state, Self.publishChannel) == nil {
            try check(amqp_get_rpc_reply(state), channel: Self.publishChannel, doing: "confirm.select")
        }
        publishChannelInConfirmMode = true
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
