// The C surface of librabbitmq (rabbitmq-c) that Swift sees.
//
// Debian 12 ships rabbitmq-c 0.11 with flat headers (<amqp.h>); 0.12 and later
// install them under <rabbitmq-c/…>. Prefer the newer layout when it exists.
#ifndef CRABBITMQ_SHIM_H
#define CRABBITMQ_SHIM_H

#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/framing.h>
#include <rabbitmq-c/tcp.h>
#else
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#endif

// The connection thread polls an eventfd next to the AMQP socket to be woken for new work.
#include <sys/eventfd.h>

/// `amqp_login` is C-variadic, which Swift cannot call: this fixes the
/// variadic part to the PLAIN mechanism's username and password.
static inline amqp_rpc_reply_t crabbitmq_login_plain(
    amqp_connection_state_t state,
    const char *vhost,
    int channel_max,
    int frame_max,
    int heartbeat,
    const char *username,
    const char *password
) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat,
                      AMQP_SASL_METHOD_PLAIN, username, password);
}

/// Like `crabbitmq_login_plain`, with client properties (capabilities such as
/// `consumer_cancel_notify` are merged with the library's defaults).
static inline amqp_rpc_reply_t crabbitmq_login_plain_with_properties(
    amqp_connection_state_t state,
    const char *vhost,
    int channel_max,
    int frame_max,
    int heartbeat,
    const amqp_table_t *properties,
    const char *username,
    const char *password
) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat,
                                      properties, AMQP_SASL_METHOD_PLAIN, username, password);
}

// The method ids are macros with casts, which Swift does not import.
static const amqp_method_number_t CRABBITMQ_CONNECTION_CLOSE = AMQP_CONNECTION_CLOSE_METHOD;
static const amqp_method_number_t CRABBITMQ_CONNECTION_CLOSE_OK = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const amqp_method_number_t CRABBITMQ_CONNECTION_BLOCKED = AMQP_CONNECTION_BLOCKED_METHOD;
static const amqp_method_number_t CRABBITMQ_CONNECTION_UNBLOCKED = AMQP_CONNECTION_UNBLOCKED_METHOD;
static const amqp_method_number_t CRABBITMQ_CHANNEL_CLOSE = AMQP_CHANNEL_CLOSE_METHOD;
static const amqp_method_number_t CRABBITMQ_CHANNEL_CLOSE_OK = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const amqp_method_number_t CRABBITMQ_BASIC_DELIVER = AMQP_BASIC_DELIVER_METHOD;
static const amqp_method_number_t CRABBITMQ_BASIC_ACK = AMQP_BASIC_ACK_METHOD;
static const amqp_method_number_t CRABBITMQ_BASIC_NACK = AMQP_BASIC_NACK_METHOD;
static const amqp_method_number_t CRABBITMQ_BASIC_RETURN = AMQP_BASIC_RETURN_METHOD;
static const amqp_method_number_t CRABBITMQ_BASIC_CANCEL = AMQP_BASIC_CANCEL_METHOD;
static const amqp_method_number_t CRABBITMQ_BASIC_CANCEL_OK = AMQP_BASIC_CANCEL_OK_METHOD;
static const amqp_method_number_t CRABBITMQ_BASIC_GET_OK = AMQP_BASIC_GET_OK_METHOD;

#endif
