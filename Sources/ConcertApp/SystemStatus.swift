import AMQPClient
import ConcertPipeline
import ConcertStorage
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
public import Logging
import PostgresNIO

/// `concert status`: what the broker and the database say about the pipeline right now.
public enum SystemStatus {
    /// A printable report. Ready messages and consumer counts come from passive declares; unacked
    /// counts and the active consumer's connection from the management API (`CONCERT_AMQP_MANAGEMENT_URL`),
    /// whose statistics lag a few seconds.
    public static func report(_ configuration: ConcertConfiguration, logger: Logger) async throws -> String {
        let topology = configuration.topology
        var lines: [String] = []
        // Both services are needed: a database that cannot be used fails the report before the broker is asked.
        try await DatabaseCheck.check(try DatabaseAddress(url: configuration.databaseURL), logger: logger)
        let management = try? await managementQueues(configuration)
        let passive = try await ConcertServices.withBroker(configuration, logger: logger) { broker in
            var states: [String: AMQPQueueState] = [:]
            for queue in topology.queues {
                states[queue.name] = try? await broker.inspectQueue(queue.name)
            }
            return states
        }
        let leaderWidth = max(6, management?.values.map { ($0.leader ?? "-").count }.max() ?? 0)
        lines.append(
            "QUEUE                    READY  UNACKED  CONSUMERS  " + "LEADER".padding(toLength: leaderWidth, withPad: " ", startingAt: 0)
                + "  IN SYNC       ACTIVE CONSUMER"
        )
        for queue in topology.queues {
            let info = management?[queue.name]
            // Passive declares are live; the management API's figures lag by its statistics interval.
            let ready = passive[queue.name]?.messageCount ?? info?.ready
            let consumers = passive[queue.name]?.consumerCount ?? info?.consumers
            lines.append(
                [
                    queue.name.padding(toLength: 24, withPad: " ", startingAt: 0),
                    (ready.map(String.init) ?? "missing").padding(toLength: 6, withPad: " ", startingAt: 0),
                    (info?.unacknowledged.map(String.init) ?? "-").padding(toLength: 8, withPad: " ", startingAt: 0),
                    (consumers.map(String.init) ?? "-").padding(toLength: 10, withPad: " ", startingAt: 0),
                    (info?.leader ?? "-").padding(toLength: leaderWidth, withPad: " ", startingAt: 0) + " ",
                    (info?.replicas ?? "-").padding(toLength: 13, withPad: " ", startingAt: 0),
                    info?.activeConsumer ?? "-",
                ].joined(separator: " ")
            )
        }
        let lagging = management?.values.flatMap(\.missing) ?? []
        if !lagging.isEmpty {
            lines.append("")
            lines.append("members not in sync (node down or not running the queue): \(Set(lagging).sorted().joined(separator: ", "))")
        }
        let (rooms, deadLetters) = try await ConcertServices.withDatabase(configuration, logger: logger) { database in
            var rooms: [String] = []
            let rows = try await database.fetch(
                """
                SELECT w.concert_id, w.admitted_through,
                       count(t.*) FILTER (WHERE t.state = 'active'), count(t.*) FILTER (WHERE t.state = 'waiting')
                FROM waiting_rooms w LEFT JOIN queue_tokens t ON t.concert_id = w.concert_id AND t.state IN ('active', 'waiting')
                GROUP BY w.concert_id, w.admitted_through ORDER BY w.concert_id
                """,
                logger: logger
            )
            for (concert, admitted, active, waiting) in try (rows).map({ try $0.decode((Int64, Int64, Int, Int).self) }) {
                rooms.append("concert \(concert): admitted through #\(admitted), \(active) active, \(waiting) waiting")
            }
            return (rooms, try await DeadLetterStore(client: database, logger: logger).count())
        }
        lines.append("")
        lines.append("waiting rooms (capacity \(configuration.queueCapacity), \(configuration.admitPerSecond == 0 ? "no rate limit" : "\(configuration.admitPerSecond)/s")):")
        lines += rooms.map { "  " + $0 }
        lines.append("")
        lines.append("dead letters archived: \(deadLetters)")
        return lines.joined(separator: "\n")
    }

    struct QueueInfo {
        let ready: Int?
        let unacknowledged: Int?
        let consumers: Int?
        let activeConsumer: String?
        /// The node whose member leads the quorum queue.
        let leader: String?
        /// The queue's members, and those of them that are online: running on a reachable node,
        /// following the leader. A member that comes back catches up from the leader's log.
        let members: [String]
        let online: [String]

        /// `3/3`, or `2/3` when a member is not in sync.
        var replicas: String? {
            members.isEmpty ? nil : "\(members.filter(online.contains).count)/\(members.count)"
        }
        var missing: [String] { members.filter { !online.contains($0) } }
    }

    /// The management plugin's view of each queue: `GET /api/queues/<vhost>/<name>` (consumer
    /// details are only in the per-queue answer) and `GET /api/connections` for connection names.
    static func managementQueues(_ configuration: ConcertConfiguration) async throws -> [String: QueueInfo] {
        guard let management = ManagementAPI(configuration) else { return [:] }
        // A node that is down or paused is passed over.
        let node = await management.answeringNode()
        let vhost = management.virtualHost
        func get(_ path: String) async throws -> Any { try await management.get(path, from: node) }
        var names: [String: String] = [:]
        for connection in try await get("/api/connections") as? [[String: Any]] ?? [] {
            if let name = connection["name"] as? String {
                let provided = (connection["client_properties"] as? [String: Any])?["connection_name"] as? String
                names[name] = provided.map { "\($0) (\(name.split(separator: " ").first ?? ""))" } ?? name
            }
        }
        var result: [String: QueueInfo] = [:]
        for queueName in configuration.topology.queues.map(\.name) {
            guard let queue = try? await get("/api/queues/\(vhost)/\(queueName)") as? [String: Any] else { continue }
            let details = queue["consumer_details"] as? [[String: Any]] ?? []
            let activeTag = queue["single_active_consumer_tag"] as? String ?? queue["single_active_consumer_ctag"] as? String
            let active = details.first { ($0["consumer_tag"] as? String) == activeTag } ?? (details.count == 1 ? details.first : nil)
            let connection = (active?["channel_details"] as? [String: Any])?["connection_name"] as? String
            result[queueName] = QueueInfo(
                ready: queue["messages_ready"] as? Int,
                unacknowledged: queue["messages_unacknowledged"] as? Int,
                consumers: queue["consumers"] as? Int,
                activeConsumer: connection.map { names[$0] ?? $0 },
                leader: queue["leader"] as? String,
                members: queue["members"] as? [String] ?? [],
                online: queue["online"] as? [String] ?? []
            )
        }
        return result
    }
}
