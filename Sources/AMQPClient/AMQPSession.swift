internal import CRabbitMQ
import Glibc
import Logging

/// The librabbitmq connection and everything that hangs off it, confined to one connection thread.
///
/// librabbitmq is blocking and not thread-safe: a connection state, its socket and its channels
/// are only ever touched from the thread that runs `ConnectionLoop`. Other threads reach this
/// object only through `ConnectionJob`s posted to the `Mailbox`, which is why it needs no locks.
final class AMQPSession {
    /// Declarations, `basic.get` and other synchronous methods.
    static let controlChannel: UInt16 = 1
    /// The confirm-mode channel all publishes go through: `firstPublishChannel`, or
    /// `sparePublishChannel` after the first has been replaced (see `recyclePublishChannel`).
    var publishChannel: UInt16 = AMQPSession.firstPublishChannel
    static let firstPublishChannel: UInt16 = 2
    /// Under RabbitMQ's default `channel_max` (2047) and above any consumer channel in practice;
    /// consumers never take it.
    static let sparePublishChannel: UInt16 = 2000
    /// Consumers get channels from here up, one each.
    static let firstConsumerChannel: UInt16 = 3
    /// The channel the next consumer tries first (see `startConsumer`).
    var nextConsumerChannel = AMQPSession.firstConsumerChannel

    let configuration: AMQPConfiguration
    let logger: Logger
    let status: ConnectionStatus

    /// The live connection, `nil` while disconnected.
    private(set) var connection: amqp_connection_state_t?
    /// Counts successful connects; deliveries remember it so stale acks are never sent.
    private(set) var generation: UInt64 = 0
    var openChannels: Set<UInt16> = [] {
        // A channel that is no longer open has no incarnation: deliveries from it are never settled.
        didSet { channelIncarnations = channelIncarnations.filter { openChannels.contains($0.key) } }
    }
    /// Which opening of each open channel this is: a channel number is reused after it closed,
    /// and an ack meant for its former consumer must never reach its new one.
    var channelIncarnations: [UInt16: UInt64] = [:] {
        didSet { status.channelsChanged(channelIncarnations) }
    }
    /// Counts channel openings over the session's life (never reset, across reconnects too).
    var nextIncarnation: UInt64 = 0
    var publishChannelInConfirmMode = false
    /// True between the broker's `connection.blocked` and `connection.unblocked` (memory or disk alarm).
    var isBlocked = false
    var blockedReason = ""
    /// The socket `corked` holds corked, until `uncork`.
    var corkedDescriptor: Int32?
    var confirms = ConfirmTracker<CheckedContinuation<Void, any Error>>()
    /// Consumers by channel; kept across reconnects and re-subscribed.
    var consumers: [UInt16: ConsumerRegistration] = [:]
    /// Deliveries read in the current pass over the socket, by channel, not yet handed over.
    var pendingDeliveries: [UInt16: [AMQPDelivery]] = [:]

    init(configuration: AMQPConfiguration, logger: Logger, status: ConnectionStatus) {
        self.configuration = configuration
        self.logger = logger
        self.status = status
    }

    var isConnected: Bool { connection != nil }
    /// Failed connects and losses so far: picks the node the next connect tries (see `AMQPConfiguration.address(attempt:)`).
    private var addressAttempt = 0
    /// The node of the live connection, or the one the next connect tries.
    var currentAddress: AMQPAddress { configuration.address(attempt: addressAttempt) }

    /// The live connection, or `notConnected` (nothing was sent).
    func requireConnection() throws(AMQPError) -> amqp_connection_state_t {
        guard let connection else { throw AMQPError(.notConnected, "not connected to \(configuration)") }
        return connection
    }

    // MARK: - Connecting

    /// Opens the TCP socket, logs in, and re-subscribes the registered consumers.
    func connect() throws(AMQPError) {
        guard let state = amqp_new_connection() else { throw AMQPError(.connectionFailed, "amqp_new_connection failed") }
        guard let socket = amqp_tcp_socket_new(state) else {
            amqp_destroy_connection(state)
            throw AMQPError(.connectionFailed, "amqp_tcp_socket_new failed")
        }
        let address = currentAddress
        var timeout = timeval(configuration.connectTimeout)
        let opened = amqp_socket_open_noblock(socket, address.host, Int32(address.port), &timeout)
        guard opened == AMQP_STATUS_OK.rawValue else {
            amqp_destroy_connection(state)
            addressAttempt += 1
            throw AMQPError(.connectionFailed, "cannot reach \(configuration.describe(address)): \(Self.describe(status: opened))")
        }
        _ = amqp_set_handshake_timeout(state, &timeout)
        let reply = CArena.with { arena -> amqp_rpc_reply_t in
            var properties = arena.table([
                "connection_name": .string(configuration.connectionName),
                "product": "swift AMQPClient over librabbitmq",
                "capabilities": .table([
                    "consumer_cancel_notify": true,
                    "publisher_confirms": true,
                    "basic.nack": true,
                    "connection.blocked": true,
                    "authentication_failure_close": true,
                ]),
            ])
            let heartbeat = Int32(configuration.heartbeat.components.seconds)
            return crabbitmq_login_plain_with_properties(
                state,
                configuration.virtualHost,
                0,
                Int32(AMQP_DEFAULT_FRAME_SIZE),
                max(heartbeat, 1),
                &properties,
                configuration.username,
                configuration.password
            )
        }
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            let error = Self.loginError(reply, broker: configuration.describe(address))
            amqp_destroy_connection(state)
            addressAttempt += 1
            throw error
        }
        connection = state
        generation += 1
        openChannels = []
        publishChannelInConfirmMode = false
        isBlocked = false
        status.connected(generation: generation)
        logger.info("AMQP connected", metadata: ["amqp.broker": "\(configuration.describe(address))", "amqp.generation": "\(generation)"])
        resubscribeConsumers()
    }

    /// Fails the publishes the broker left unconfirmed past `confirmTimeout` (called on every pass of the loop).
    func expireConfirms(now: ContinuousClock.Instant) {
        let expired = confirms.expire(now: now)
        guard !expired.isEmpty else { return }
        let error = AMQPError(.confirmTimeout, "the broker did not confirm the publish within \(configuration.confirmTimeout)")
        for waiter in expired { waiter.resume(throwing: error) }
        logger.warning("AMQP publishes unconfirmed past the time limit", metadata: ["count": "\(expired.count)"])
    }

    /// Drops the connection after a failure: pending publishes fail, consumers wait for the next connect.
    func connectionLost(_ error: AMQPError) {
        guard let state = connection else { return }
        connection = nil
        let lostAddress = currentAddress
        // The node may be the one that failed: the next connect tries the next node first.
        addressAttempt += 1
        status.disconnected()
        amqp_destroy_connection(state)
        openChannels = []
        publishChannelInConfirmMode = false
        // Deliveries not yet taken can no longer be acknowledged, and the broker redelivers them,
        // maybe to another consumer: none of them may be acted on.
        pendingDeliveries.removeAll()
        for registration in consumers.values { registration.deliveries.discard() }
        for waiter in confirms.reset() {
            waiter.resume(throwing: AMQPError(.connectionLost, "connection lost before the broker confirmed: \(error.message)"))
        }
        logger.warning("AMQP connection lost", metadata: ["amqp.broker": "\(configuration.describe(lostAddress))", "error": "\(error)"])
    }

    /// Closes politely on shutdown: consumers end, the broker requeues their unacknowledged deliveries.
    func close() {
        for channel in consumers.keys { finishConsumer(channel: channel, error: nil) }
        guard let state = connection else { return }
        connection = nil
        // The node may be the one that failed: the next connect tries the next node first.
        addressAttempt += 1
        status.disconnected()
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
        amqp_destroy_connection(state)
        for waiter in confirms.reset() {
            waiter.resume(throwing: AMQPError(.shutdown, "connection closed before the broker confirmed"))
        }
        logger.info("AMQP connection closed", metadata: ["amqp.broker": "\(configuration)"])
    }

    // MARK: - Channels and replies

    /// Opens `channel` unless it is open already.
    func ensureOpen(channel: UInt16) throws(AMQPError) {
        let state = try requireConnection()
        guard !openChannels.contains(channel) else { return }
        if amqp_channel_open(state, channel) == nil {
            try check(amqp_get_rpc_reply(state), channel: channel, doing: "channel.open")
        }
        openChannels.insert(channel)
        nextIncarnation += 1
        channelIncarnations[channel] = nextIncarnation
    }

    /// Turns a non-normal RPC reply into an error, answering the broker's close and noting what died.
    func check(_ reply: amqp_rpc_reply_t, channel: UInt16, doing what: String) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == CRABBITMQ_CHANNEL_CLOSE:
            let close = reply.reply.decoded!.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let error = AMQPError(
                .channelClosed,
                "\(what): \(CDecoding.string(close.reply_text))",
                replyCode: Int(close.reply_code)
            )
            acknowledgeChannelClose(channel: channel)
            channelClosed(channel, error)
            throw error
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == CRABBITMQ_CONNECTION_CLOSE:
            let close = reply.reply.decoded!.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let error = AMQPError(
                .connectionClosed,
                "\(what): \(CDecoding.string(close.reply_text))",
                replyCode: Int(close.reply_code)
            )
            acknowledgeConnectionClose()
            connectionLost(error)
            throw error
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let error = AMQPError(.connectionLost, "\(what): \(Self.describe(status: reply.library_error))")
            connectionLost(error)
            throw error
        default:
            let error = AMQPError(.protocolError, "\(what): unexpected reply")
            connectionLost(error)
            throw error
        }
    }

    /// A broker-closed channel: publishes in flight on it fail, its consumer ends with the error.
    func channelClosed(_ channel: UInt16, _ error: AMQPError) {
        openChannels.remove(channel)
        if channel == publishChannel {
            publishChannelInConfirmMode = false
            for waiter in confirms.reset() { waiter.resume(throwing: error) }
        }
        finishConsumer(channel: channel, error: error)
        // The control channel's closes answer a declare or delete whose caller gets the error (a
        // passive declare's 404 is how one asks whether a queue exists): not news for the log.
        logger.log(
            level: channel == Self.controlChannel ? .debug : .warning,
            "AMQP channel closed by the broker",
            metadata: ["amqp.channel": "\(channel)", "error": "\(error)"]
        )
    }

    func acknowledgeChannelClose(channel: UInt16) {
        guard let state = connection else { return }
        var closeOk = amqp_channel_close_ok_t(dummy: 0)
        if amqp_send_method(state, channel, CRABBITMQ_CHANNEL_CLOSE_OK, &closeOk) != AMQP_STATUS_OK.rawValue {
            connectionLost(AMQPError(.connectionLost, "sending channel.close-ok failed"))
        }
    }

    func acknowledgeConnectionClose() {
        guard let state = connection else { return }
        var closeOk = amqp_connection_close_ok_t(dummy: 0)
        _ = amqp_send_method(state, 0, CRABBITMQ_CONNECTION_CLOSE_OK, &closeOk)
    }

    static func describe(status: Int32) -> String {
        String(cString: amqp_error_string2(status))
    }

    private static func loginError(_ reply: amqp_rpc_reply_t, broker: String) -> AMQPError {
        if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, reply.reply.id == CRABBITMQ_CONNECTION_CLOSE {
            let close = reply.reply.decoded!.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            return AMQPError(
                .connectionFailed,
                "login to \(broker) refused: \(CDecoding.string(close.reply_text))",
                replyCode: Int(close.reply_code)
            )
        }
        if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION {
            return AMQPError(.connectionFailed, "login to \(broker) failed: \(describe(status: reply.library_error))")
        }
        return AMQPError(.connectionFailed, "login to \(broker) failed")
    }
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init()
        tv_sec = Int(seconds)
        tv_usec = Int(attoseconds / 1_000_000_000_000)
    }
}
