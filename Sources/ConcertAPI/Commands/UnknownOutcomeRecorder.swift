public import ConcertDomain
public import ConcertStorage
public import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// Records the commands answered `503 OUTCOME_UNKNOWN`, so that such an id reads pending for a
/// bound and then a final status (`CommandStore.recordUnknownOutcome`) — also when the database
/// could not take the record at that moment (the broker and the database failing together).
///
/// A record the database refuses is kept in memory and written again every couple of seconds
/// until it is taken; its bound then counts from that write, so a command that was enqueued
/// after all and waited in a backlog while the database was down still has the bound to
/// arrive. Kept records are written once more on shutdown; the process dying first loses them,
/// and those ids read pending until their command arrives. At most `capacity` are kept (the
/// oldest go first, counted in the log).
public final class UnknownOutcomeRecorder: Service, Sendable {
    public struct Record: Sendable {
        public let envelope: CommandEnvelope
        public let bound: TimeInterval
    }

    /// Writes records: the command store's `recordUnknownOutcome`, in tests a stand-in.
    public typealias Write = @Sendable (CommandEnvelope, _ until: Date) async throws -> Void

    private let write: Write
    private let logger: Logger
    private let interval: Duration
    private let capacity: Int
    private let kept = Mutex<(records: [Record], dropped: Int)>(([], 0))
    /// `concert_commands_outcome_unknown_total{type}`, each made at 0 so that the first answer shows as an increase.
    private let answered: [CommandType: Counter]

    public init(write: @escaping Write, logger: Logger, interval: Duration = .seconds(2), capacity: Int = 10_000) {
        self.write = write
        self.logger = logger
        self.interval = interval
        self.capacity = capacity
        answered = Dictionary(
            uniqueKeysWithValues: CommandType.allCases.map {
                ($0, Counter(label: "concert_commands_outcome_unknown_total", dimensions: [("type", $0.rawValue)]))
            }
        )
    }

    public convenience init(store: CommandStore, logger: Logger) {
        self.init(write: { try await store.recordUnknownOutcome($0, until: $1) }, logger: logger)
    }

    /// The records waiting for the database.
    public var waiting: Int { kept.withLock { $0.records.count } }

    /// Records `envelope` as of unknown outcome for `bound` seconds from now; if the database
    /// refuses, keeps it to write later.
    public func record(_ envelope: CommandEnvelope, bound: TimeInterval) async {
        answered[envelope.command.type]?.increment()
        let record = Record(envelope: envelope, bound: bound)
        do {
            try await write(envelope, Date().addingTimeInterval(bound))
        } catch {
            logger.warning(
                "unknown outcome not recorded; kept to record when the database answers",
                metadata: ["command.id": "\(envelope.id)", "error": "\(error)"]
            )
            keep([record])
        }
    }

    /// Writes the kept records, oldest first, until one is refused (it and the rest stay kept).
    public func flush() async {
        let records = kept.withLock { kept in
            defer { kept.records.removeAll() }
            return kept.records
        }
        for (index, record) in records.enumerated() {
            do {
                try await write(record.envelope, Date().addingTimeInterval(record.bound))
            } catch {
                keep(Array(records[index...]), first: true)
                return
            }
        }
        if !records.isEmpty { logger.info("kept unknown outcomes recorded", metadata: ["commands": "\(records.count)"]) }
    }

    private func keep(_ records: [Record], first: Bool = false) {
        let dropped = kept.withLock { kept in
            kept.records = first ? records + kept.records : kept.records + records
            let excess = max(0, kept.records.count - capacity)
            kept.records.removeFirst(excess)
            kept.dropped += excess
            return excess
        }
        if dropped > 0 {
            logger.error(
                "unknown outcomes dropped unrecorded (too many kept); those ids read pending until their command arrives",
                metadata: ["commands": "\(dropped)"]
            )
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                await self.flush()
            }
        }
        await flush()
    }
}
