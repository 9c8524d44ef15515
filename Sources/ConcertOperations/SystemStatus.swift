import AMQPClient
public import ConcertApp
import ConcertPipeline
import ConcertStorage
import Foundation
public import Logging
import PostgresNIO

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

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
        let management = try? await ManagedQueue.all(configuration)
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
            let rooms = try await ConsoleStore(client: database, logger: logger).waitingRooms().map { room in
                "concert \(room.concertID): admitted through #\(room.admittedThrough), \(room.active) active, \(room.waiting) waiting"
            }
            return (rooms, try await DeadLetterStore(client: database, logger: logger).count())
        }
        lines.append("")
        lines.append(
            "waiting rooms (capacity \(configuration.queueCapacity), \(configuration.admitPerSecond == 0 ? "no rate limit" : "\(configuration.admitPerSecond)/s")):"
        )
        lines += rooms.map { "  " + $0 }
        lines.append("")
        lines.append("dead letters archived: \(deadLetters)")
        return lines.joined(separator: "\n")
    }
}
