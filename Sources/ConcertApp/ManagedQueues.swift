import AMQPClient
import ConcertPipeline
import Foundation
public import RabbitMQManagement

extension ManagementClient {
    /// The client `CONCERT_AMQP_MANAGEMENT_URL` names (a comma-separated list on a cluster), or
    /// `nil` without it. Credentials default to the AMQP URL's.
    /// - Parameter configuration: The process's configuration.
    public init?(_ configuration: ConcertConfiguration) {
        guard let text = configuration.managementURL, let broker = try? AMQPConfiguration(url: configuration.amqpURL) else { return nil }
        let nodes = text.split(separator: ",").compactMap { URLComponents(string: $0.trimmingCharacters(in: .whitespaces)) }
        guard let first = nodes.first else { return nil }
        self.init(nodes: nodes, username: first.user ?? broker.username, password: first.password ?? broker.password)
    }
}

/// The management API's view of each pipeline queue, for `concert status` and the console.
public struct ManagedQueue: Sendable {
    public let ready: Int?
    public let unacknowledged: Int?
    public let consumers: Int?
    /// The active consumer's connection, by the name its client gave it when it did.
    public let activeConsumer: String?
    /// The node whose member leads the quorum queue.
    public let leader: String?
    /// The queue's members, and those of them that are online: running on a reachable node,
    /// following the leader. A member that comes back catches up from the leader's log.
    public let members: [String]
    public let online: [String]

    /// `3/3`, or `2/3` when a member is not in sync.
    public var replicas: String? {
        members.isEmpty ? nil : "\(members.filter(online.contains).count)/\(members.count)"
    }

    /// Members not in sync.
    public var missing: [String] { members.filter { !online.contains($0) } }

    /// Each pipeline queue the management API knows, by name; empty without
    /// `CONCERT_AMQP_MANAGEMENT_URL`. A node that is down or paused is passed over; the figures
    /// lag by the broker's statistics interval (a few seconds).
    /// - Parameter configuration: The process's configuration (broker, topology, management URL).
    /// - Returns: The queues by name.
    /// - Throws: What the management client throws when no node answers the connections list.
    public static func all(_ configuration: ConcertConfiguration) async throws -> [String: ManagedQueue] {
        guard let management = ManagementClient(configuration), let broker = try? AMQPConfiguration(url: configuration.amqpURL) else { return [:] }
        let node = await management.answeringNode()
        var names: [String: String] = [:]
        for connection in try await management.connections(from: node) {
            guard let name = connection.name else { continue }
            names[name] = connection.clientProperties?.connectionName.map { "\($0) (\(name.split(separator: " ").first ?? ""))" } ?? name
        }
        var result: [String: ManagedQueue] = [:]
        for queueName in configuration.topology.queues.map(\.name) {
            guard let queue = try? await management.queue(queueName, in: broker.virtualHost, from: node) else { continue }
            let connection = queue.activeConsumer?.channelDetails?.connectionName
            result[queueName] = ManagedQueue(
                ready: queue.messagesReady,
                unacknowledged: queue.messagesUnacknowledged,
                consumers: queue.consumers,
                activeConsumer: connection.map { names[$0] ?? $0 },
                leader: queue.leader,
                members: queue.members ?? [],
                online: queue.online ?? []
            )
        }
        return result
    }
}
