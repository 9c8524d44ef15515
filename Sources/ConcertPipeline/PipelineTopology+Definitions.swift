import AMQPClient
public import Foundation

extension PipelineTopology {
    /// The topology in RabbitMQ's definitions format (`rabbitmqctl import_definitions`,
    /// the management UI's import), for the virtual host `vhost`; keys sorted, so the file diffs well.
    public func definitionsJSON(vhost: String = "/") -> Data {
        let document: [String: Any] = [
            "exchanges": exchanges.map { exchange in
                [
                    "name": exchange.name, "vhost": vhost, "type": exchange.type.rawValue, "durable": exchange.durable,
                    "auto_delete": exchange.autoDelete, "internal": exchange.internal, "arguments": exchange.arguments.jsonObject,
                ] as [String: Any]
            },
            "queues": queues.map { queue in
                [
                    "name": queue.name, "vhost": vhost, "durable": queue.durable, "auto_delete": queue.autoDelete,
                    "arguments": queue.arguments.jsonObject,
                ] as [String: Any]
            },
            "bindings": bindings.map { binding in
                [
                    "source": binding.exchange, "vhost": vhost, "destination": binding.queue, "destination_type": "queue",
                    "routing_key": binding.routingKey, "arguments": binding.arguments.jsonObject,
                ] as [String: Any]
            },
        ]
        // Plain JSON values only: serialisation cannot fail.
        var data = try! JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        return data
    }
}
