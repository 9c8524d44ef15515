internal import CRabbitMQ

extension AMQPSession {
    func declareExchange(_ exchange: AMQPExchange, passive: Bool = false) throws(AMQPError) {
        let (state, channel) = try controlChannel()
        let ok = CArena.with { arena in
            amqp_exchange_declare(
                state,
                channel,
                arena.bytes(exchange.name),
                arena.bytes(exchange.type.rawValue),
                passive ? 1 : 0,
                exchange.durable ? 1 : 0,
                exchange.autoDelete ? 1 : 0,
                exchange.internal ? 1 : 0,
                arena.table(exchange.arguments)
            )
        }
        if ok == nil { try check(amqp_get_rpc_reply(state), channel: channel, doing: "exchange.declare \(exchange.name)") }
    }

    func declareQueue(_ queue: AMQPQueue, passive: Bool) throws(AMQPError) -> AMQPQueueState {
        let (state, channel) = try controlChannel()
        let ok = CArena.with { arena in
            amqp_queue_declare(
                state,
                channel,
                arena.bytes(queue.name),
                passive ? 1 : 0,
                queue.durable ? 1 : 0,
                queue.exclusive ? 1 : 0,
                queue.autoDelete ? 1 : 0,
                arena.table(queue.arguments)
            )
        }
        guard let ok else {
            try check(amqp_get_rpc_reply(state), channel: channel, doing: "queue.declare \(queue.name)")
            throw AMQPError(.protocolError, "queue.declare returned nothing")
        }
        return AMQPQueueState(
            name: CDecoding.string(ok.pointee.queue),
            messageCount: Int(ok.pointee.message_count),
            consumerCount: Int(ok.pointee.consumer_count)
        )
    }

    func bind(_ binding: AMQPBinding) throws(AMQPError) {
        let (state, channel) = try controlChannel()
        let ok = CArena.with { arena in
            amqp_queue_bind(
                state,
                channel,
                arena.bytes(binding.queue),
                arena.bytes(binding.exchange),
                arena.bytes(binding.routingKey),
                arena.table(binding.arguments)
            )
        }
        if ok == nil {
            try check(amqp_get_rpc_reply(state), channel: channel, doing: "queue.bind \(binding.queue) to \(binding.exchange)")
        }
    }

    func deleteQueue(_ name: String) throws(AMQPError) -> Int {
        let (state, channel) = try controlChannel()
        let ok = CArena.with { arena in amqp_queue_delete(state, channel, arena.bytes(name), 0, 0) }
        guard let ok else {
            try check(amqp_get_rpc_reply(state), channel: channel, doing: "queue.delete \(name)")
            return 0
        }
        return Int(ok.pointee.message_count)
    }

    func deleteExchange(_ name: String) throws(AMQPError) {
        let (state, channel) = try controlChannel()
        let ok = CArena.with { arena in amqp_exchange_delete(state, channel, arena.bytes(name), 0) }
        if ok == nil { try check(amqp_get_rpc_reply(state), channel: channel, doing: "exchange.delete \(name)") }
    }

    func purgeQueue(_ name: String) throws(AMQPError) -> Int {
        let (state, channel) = try controlChannel()
        let ok = CArena.with { arena in amqp_queue_purge(state, channel, arena.bytes(name)) }
        guard let ok else {
            try check(amqp_get_rpc_reply(state), channel: channel, doing: "queue.purge \(name)")
            return 0
        }
        return Int(ok.pointee.message_count)
    }

    private func controlChannel() throws(AMQPError) -> (amqp_connection_state_t, UInt16) {
        let state = try requireConnection()
        try ensureOpen(channel: Self.controlChannel)
        return (state, Self.controlChannel)
    }
}
