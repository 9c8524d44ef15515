public import AMQPClient

/// The RabbitMQ topology of the pipeline (§5 of the design), as code.
///
/// Declared idempotently at start-up and by `concert topology apply`; exported as RabbitMQ's
/// definitions format to `topology/definitions.json` by `concert topology export`.
public struct PipelineTopology: Sendable, Equatable {
    /// Direct exchange: `p.<n>` → partition queue n, `admission` → admission queue.
    public static let commandsExchange = "concert.commands"
    /// Direct exchange into the delay queues: `p.<n>` → hold delay, `tick` → tick delay.
    public static let delayExchange = "concert.delay"
    /// Fanout exchange every rejected command goes to.
    public static let deadLetterExchange = "concert.dead-letter"
    /// Fanout exchange of events every API process hears (queue tokens a payment ended), through
    /// its own exclusive reply queue (`ReplyInbox`).
    public static let eventsExchange = "concert.events"
    /// Where dead letters wait for the archiver.
    public static let deadLetterQueue = "concert.dead-letters"
    /// Admission ticks; its single active consumer is the one admitter.
    public static let admissionQueue = "concert.admission"
    /// Routing key of the admission queue on the commands exchange.
    public static let admissionRoutingKey = "admission"
    /// Fixed-TTL queue that turns a published `ExpireHold` into a delivery after the hold length.
    public static let holdDelayQueue = "concert.delay.hold"
    /// Fixed-TTL queue that turns a published tick into an admission tick after about a second.
    public static let tickDelayQueue = "concert.delay.tick"
    /// Routing key of the tick delay queue on the delay exchange.
    public static let tickRoutingKey = "tick"
    /// Deliveries of one command before it is dead-lettered as poison.
    public static let deliveryLimit: Int64 = 5

    /// The default number of partitions (`CONCERT_PARTITIONS`), and so the most worker processes
    /// that can be active at once. Fewer partitions make bigger batches: a batch's fixed costs
    /// (its transaction, its ack, its command message) are shared by more commands. On the 2-core
    /// benchmark machine 4 commit ~1.1× what 8 did at the highest rate and answer ~1.3× as many
    /// waiting clients (the Scaling article of the ConcertApp manual).
    public static let defaultPartitions = 4

    /// Number of partitions (`CONCERT_PARTITIONS`); fixed once the topology exists.
    public let partitions: Int
    /// Hold length in seconds (`CONCERT_HOLD_SECONDS`): the hold delay queue's TTL.
    public let holdSeconds: Int
    /// Admission tick period in milliseconds: the tick delay queue's TTL.
    public let tickMilliseconds: Int

    public init(partitions: Int = PipelineTopology.defaultPartitions, holdSeconds: Int = 300, tickMilliseconds: Int = 1000) {
        precondition(partitions > 0 && holdSeconds > 0 && tickMilliseconds > 0)
        self.partitions = partitions
        self.holdSeconds = holdSeconds
        self.tickMilliseconds = tickMilliseconds
    }

    /// `concert.commands.p<n>`.
    public static func partitionQueue(_ partition: Int) -> String { "concert.commands.p\(partition)" }
    /// `p.<n>`: the routing key of partition n on the commands and delay exchanges.
    public static func partitionRoutingKey(_ partition: Int) -> String { "p.\(partition)" }

    public var exchanges: [AMQPExchange] {
        [
            AMQPExchange(name: Self.commandsExchange, type: .direct),
            AMQPExchange(name: Self.delayExchange, type: .direct),
            AMQPExchange(name: Self.deadLetterExchange, type: .fanout),
            AMQPExchange(name: Self.eventsExchange, type: .fanout),
        ]
    }

    /// Replicas of every queue on a cluster (a single node has one; a larger cluster keeps three).
    public static let replicas: Int64 = 3

    /// Every queue is a quorum queue with `replicas` members, its leader placed on the node with
    /// the fewest leaders (`balanced`), so the partitions' leaders spread over a cluster's nodes.
    /// Queues that dead-letter do it at least once (`x-dead-letter-strategy: at-least-once`, which
    /// needs `x-overflow: reject-publish`): a message leaves its queue only when the target queue
    /// confirmed it, so an expiring hold or a poison command survives a node's death in between.
    static func quorum(_ arguments: AMQPTable) -> AMQPTable {
        var table: AMQPTable = [
            "x-queue-type": "quorum",
            "x-quorum-initial-group-size": .int(replicas),
            "x-queue-leader-locator": "balanced",
        ]
        if arguments["x-dead-letter-exchange"] != nil {
            table["x-dead-letter-strategy"] = "at-least-once"
            table["x-overflow"] = "reject-publish"
        }
        return table.merging(arguments) { _, given in given }
    }

    public var queues: [AMQPQueue] {
        let partitionQueues = (0..<partitions).map { partition in
            AMQPQueue(
                name: Self.partitionQueue(partition),
                arguments: Self.quorum([
                    "x-single-active-consumer": true,
                    "x-delivery-limit": .int(Self.deliveryLimit),
                    "x-dead-letter-exchange": .string(Self.deadLetterExchange),
                ])
            )
        }
        return partitionQueues + [
            AMQPQueue(name: Self.admissionQueue, arguments: Self.quorum(["x-single-active-consumer": true])),
            // Expired holds keep their routing key `p.<n>` and land in their partition again.
            AMQPQueue(
                name: Self.holdDelayQueue,
                arguments: Self.quorum([
                    "x-message-ttl": .int(Int64(holdSeconds) * 1000),
                    "x-dead-letter-exchange": .string(Self.commandsExchange),
                ])
            ),
            AMQPQueue(
                name: Self.tickDelayQueue,
                arguments: Self.quorum([
                    "x-message-ttl": .int(Int64(tickMilliseconds)),
                    "x-dead-letter-exchange": .string(Self.commandsExchange),
                    "x-dead-letter-routing-key": .string(Self.admissionRoutingKey),
                ])
            ),
            AMQPQueue(name: Self.deadLetterQueue, arguments: Self.quorum(["x-single-active-consumer": true])),
        ]
    }

    public var bindings: [AMQPBinding] {
        let partitionBindings = (0..<partitions).flatMap { partition in
            [
                AMQPBinding(
                    queue: Self.partitionQueue(partition),
                    exchange: Self.commandsExchange,
                    routingKey: Self.partitionRoutingKey(partition)
                ),
                AMQPBinding(queue: Self.holdDelayQueue, exchange: Self.delayExchange, routingKey: Self.partitionRoutingKey(partition)),
            ]
        }
        return partitionBindings + [
            AMQPBinding(queue: Self.admissionQueue, exchange: Self.commandsExchange, routingKey: Self.admissionRoutingKey),
            AMQPBinding(queue: Self.tickDelayQueue, exchange: Self.delayExchange, routingKey: Self.tickRoutingKey),
            AMQPBinding(queue: Self.deadLetterQueue, exchange: Self.deadLetterExchange, routingKey: ""),
        ]
    }

    /// Declares every exchange, queue and binding. Idempotent. Refuses (`Mismatch`) a broker that
    /// has another number of partition queues — the partition count decides where a schedule's
    /// commands go, so changing it under a running system would split a schedule's commands over
    /// two workers — or a queue with other arguments (say, another hold length: 406).
    public func apply(to connection: AMQPConnection) async throws {
        if let declared = try await Self.declaredPartitions(on: connection), declared != partitions {
            throw Mismatch(description: Self.partitionCountMismatch(declared: declared, configured: partitions))
        }
        for exchange in exchanges { try await connection.declare(exchange) }
        // The partition queues last to first: `declaredPartitions` counts up from p0, so a process
        // starting while another one declares sees no p0 (a fresh broker) instead of a prefix it
        // would take for another partition count.
        let partitionQueues = Set((0..<partitions).map(Self.partitionQueue))
        for queue in queues.filter({ partitionQueues.contains($0.name) }).reversed() + queues.filter({ !partitionQueues.contains($0.name) }) {
            do {
                try await connection.declare(queue)
            } catch let error as AMQPError where error.replyCode == 406 {
                throw Mismatch(
                    description:
                        "\(error.message) — the broker has queue \(queue.name) with other settings than this build; see topology/README.md › Changing the topology"
                )
            }
        }
        for binding in bindings { try await connection.declare(binding) }
    }

    /// How many partition queues the broker has (`concert.commands.p0`, `p1`, … without a gap), by
    /// passive declares; `nil` when it has none, as before the first start.
    public static func declaredPartitions(on connection: AMQPConnection) async throws -> Int? {
        guard try await connection.queueExists(partitionQueue(0)) else { return nil }
        var count = 1
        while count <= 1024, try await connection.queueExists(partitionQueue(count)) { count += 1 }
        return count
    }

    /// What start-up and `concert doctor` say when the broker's partition count is not the configured one.
    public static func partitionCountMismatch(declared: Int, configured: Int) -> String {
        "CONCERT_PARTITIONS is \(configured) but the broker has \(declared) partition queues (\(partitionQueue(0))…p\(declared - 1)); "
            + "the count decides which partition a schedule's commands go to, so it changes only with the procedure in topology/README.md › Changing the topology"
    }

    /// A queue exists with other arguments than this build declares, or the broker has another partition count.
    public struct Mismatch: Error, CustomStringConvertible {
        public let description: String
    }
}
