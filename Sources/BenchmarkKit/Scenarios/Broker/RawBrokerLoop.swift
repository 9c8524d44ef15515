import AMQPClient
import CRabbitMQ
import Foundation

/// The ceiling: the same work written directly against librabbitmq, one blocking loop on the calling thread.
///
/// Publishing waits for the broker's confirms every `confirmWindow` messages (pipelined, as a
/// careful hand-written client would); consuming acks every delivery on its own.
struct RawBrokerLoop {
    let configuration: AMQPConfiguration
    let confirmWindow: Int
    let prefetch: UInt16

    /// Publishes `count` persistent messages of `body` to `queue` with confirms; returns the elapsed time.
    func publish(count: Int, body: [UInt8], queue: String) throws -> Duration {
        let state = try connect()
        defer { close(state) }
        try expect(amqp_confirm_select(state, 1) != nil, "confirm.select")
        var properties = amqp_basic_properties_t()
        properties._flags = amqp_flags_t(AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG)
        properties.delivery_mode = 2
        let contentType = strdup("application/json")!
        defer { free(contentType) }
        properties.content_type = amqp_cstring_bytes(contentType)
        let routingKey = strdup(queue)!
        defer { free(routingKey) }

        let start = ContinuousClock.now
        var published: UInt64 = 0
        var confirmed: UInt64 = 0
        try body.withUnsafeBytes { bytes in
            let message = amqp_bytes_t(len: bytes.count, bytes: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
            while published < UInt64(count) {
                let batchEnd = min(published + UInt64(confirmWindow), UInt64(count))
                while published < batchEnd {
                    let status = amqp_basic_publish(state, 1, amqp_empty_bytes, amqp_cstring_bytes(routingKey), 0, 0, &properties, message)
                    try expect(status == AMQP_STATUS_OK.rawValue, "basic.publish")
                    published += 1
                }
                var frame = amqp_frame_t()
                while confirmed < published {
                    try expect(amqp_simple_wait_frame(state, &frame) == AMQP_STATUS_OK.rawValue, "waiting for confirms")
                    guard frame.frame_type == UInt8(AMQP_FRAME_METHOD), frame.payload.method.id == CRABBITMQ_BASIC_ACK else { continue }
                    let ack = frame.payload.method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                    confirmed = ack.multiple != 0 ? ack.delivery_tag : max(confirmed, ack.delivery_tag)
                }
                amqp_maybe_release_buffers(state)
            }
        }
        return ContinuousClock.now - start
    }

    /// Consumes and acks `count` messages from `queue`, one ack per delivery; returns the elapsed time.
    func consume(count: Int, queue: String) throws -> Duration {
        let state = try connect()
        defer { close(state) }
        try expect(amqp_basic_qos(state, 1, 0, prefetch, 0) != nil, "basic.qos")
        let queueName = strdup(queue)!
        defer { free(queueName) }
        try expect(amqp_basic_consume(state, 1, amqp_cstring_bytes(queueName), amqp_empty_bytes, 0, 0, 0, amqp_empty_table) != nil, "basic.consume")

        let start = ContinuousClock.now
        var received = 0
        var envelope = amqp_envelope_t()
        while received < count {
            amqp_maybe_release_buffers(state)
            let reply = amqp_consume_message(state, &envelope, nil, 0)
            try expect(reply.reply_type == AMQP_RESPONSE_NORMAL, "consume_message")
            try expect(amqp_basic_ack(state, 1, envelope.delivery_tag, 0) == AMQP_STATUS_OK.rawValue, "basic.ack")
            amqp_destroy_envelope(&envelope)
            received += 1
        }
        return ContinuousClock.now - start
    }

    private func connect() throws -> amqp_connection_state_t {
        let state = amqp_new_connection()!
        let socket = amqp_tcp_socket_new(state)!
        try expect(amqp_socket_open(socket, configuration.host, Int32(configuration.port)) == AMQP_STATUS_OK.rawValue, "socket open")
        let login = crabbitmq_login_plain(state, configuration.virtualHost, 0, 131_072, 0, configuration.username, configuration.password)
        try expect(login.reply_type == AMQP_RESPONSE_NORMAL, "login")
        try expect(amqp_channel_open(state, 1) != nil, "channel.open")
        return state
    }

    private func close(_ state: amqp_connection_state_t) {
        _ = amqp_channel_close(state, 1, AMQP_REPLY_SUCCESS)
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
        amqp_destroy_connection(state)
    }

    private func expect(_ condition: Bool, _ what: String) throws {
        guard condition else { throw RawLoopError(message: "raw librabbitmq: \(what) failed") }
    }
}

struct RawLoopError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
