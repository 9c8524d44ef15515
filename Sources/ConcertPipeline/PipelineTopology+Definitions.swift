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
                    "auto_delete": exchange.autoDelete, "internal": exchange.internal, "arguments": Self.json(exchange.arguments),
                ] as [String: Any]
            },
            "queues": queues.map { queue in
                [
                    "name": queue.name, "vhost": vhost, "durable": queue.durable, "auto_delete": queue.autoDelete,
                    "arguments": Self.json(queue.arguments),
                ] as [String: Any]
            },
            "bindings": bindings.map { binding in
                [
                    "source": binding.exchange, "vhost": vhost, "destination": binding.queue, "destination_type": "queue",
                    "routing_key": binding.routingKey, "arguments": Self.json(binding.arguments),
                ] as [String: Any]
            },
        ]
        // Plain JSON values only: serialisation cannot fail.
        var data = try! JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        return data
    }

    private static func json(_ table: AMQPTable) -> [String: Any] {
        table.mapValues(json)
    }

    private static func json(_ value: AMQPFieldValue) -> Any {
        switch value {
        case .bool(let flag): flag
        case .int(let number): number
        case .double(let number): number
        case .string(let text): text
        case .bytes(let bytes): bytes.map(Int.init)
        case .timestamp(let seconds): seconds
        case .table(let table): json(table)
        case .array(let values): values.map(json)
        case .void: NSNull()
        }
    }
}
