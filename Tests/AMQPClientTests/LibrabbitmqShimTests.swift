import CRabbitMQ
import Foundation
import Testing

@testable import AMQPClient

/// The C library itself, through the `CRabbitMQ` shim: proves the module map, the variadic-login
/// wrapper and the link against Debian's librabbitmq work.
@Suite(.enabled(if: BrokerEnvironment.isConfigured))
struct LibrabbitmqShimTests {
    @Test func roundTripThroughTheRawCLibrary() throws {
        let configuration = try BrokerEnvironment.configuration
        let state = try #require(amqp_new_connection())
        defer { amqp_destroy_connection(state) }
        let socket = try #require(amqp_tcp_socket_new(state))
        let opened = amqp_socket_open(socket, configuration.host, Int32(configuration.port))
        try #require(opened == AMQP_STATUS_OK.rawValue, "cannot reach RabbitMQ at \(configuration): run scripts/services up")

        let login = crabbitmq_login_plain(state, configuration.virtualHost, 0, 131_072, 0, configuration.username, configuration.password)
        try #require(login.reply_type == AMQP_RESPONSE_NORMAL)
        try #require(amqp_channel_open(state, 1) != nil)

        // A server-named, exclusive queue: the broker picks the name and deletes it with the connection.
        let declared = try #require(amqp_queue_declare(state, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table))
        let queueName = String(
            decoding: UnsafeRawBufferPointer(start: declared.pointee.queue.bytes, count: declared.pointee.queue.len),
            as: UTF8.self
        )
        #expect(queueName.hasPrefix("amq.gen-"))

        let body = Array("hello from the shim".utf8)
        let published = queueName.withCString { queue in
            body.withUnsafeBytes { bytes in
                amqp_basic_publish(
                    state,
                    1,
                    amqp_empty_bytes,
                    amqp_cstring_bytes(queue),
                    0,
                    0,
                    nil,
                    amqp_bytes_t(len: bytes.count, bytes: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                )
            }
        }
        #expect(published == AMQP_STATUS_OK.rawValue)

        // basic.get until the message is there (publishing is asynchronous on the broker's side).
        var received: [UInt8]?
        let deadline = Date().addingTimeInterval(5)
        while received == nil, Date() < deadline {
            let reply = queueName.withCString { queue in amqp_basic_get(state, 1, amqp_cstring_bytes(queue), 1) }
            try #require(reply.reply_type == AMQP_RESPONSE_NORMAL)
            if reply.reply.id == CRABBITMQ_BASIC_GET_OK {
                var message = amqp_message_t()
                try #require(amqp_read_message(state, 1, &message, 0).reply_type == AMQP_RESPONSE_NORMAL)
                received = Array(UnsafeRawBufferPointer(start: message.body.bytes, count: message.body.len))
                amqp_destroy_message(&message)
            }
        }
        #expect(received == body)
        _ = amqp_channel_close(state, 1, AMQP_REPLY_SUCCESS)
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
    }
}
