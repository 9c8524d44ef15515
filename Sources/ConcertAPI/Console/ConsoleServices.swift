public import AMQPClient
import ConcertDomain
public import ConcertPipeline
public import ConcertStorage
import Foundation
import Mustache

/// What the operator console needs: its templates, sessions, the database's figures and the
/// broker's view of each pipeline queue.
public struct ConsoleServices: Sendable {
    /// Live figures of one queue. The broker's passive declares give ready messages and
    /// consumers; the management API (when the process has it) unacked messages and the active
    /// consumer's connection.
    public struct QueueFacts: Sendable {
        public var ready: Int?
        public var unacknowledged: Int?
        public var consumers: Int?
        public var activeConsumer: String?

        public init(ready: Int? = nil, unacknowledged: Int? = nil, consumers: Int? = nil, activeConsumer: String? = nil) {
            self.ready = ready
            self.unacknowledged = unacknowledged
            self.consumers = consumers
            self.activeConsumer = activeConsumer
        }
    }

    public var store: ConsoleStore
    public var partitions: Int
    /// `nil` when `CONCERT_ADMIN_TOKEN` is not set: the console is closed then.
    public var sessions: ConsoleSessions?
    /// Each pipeline queue's facts by name.
    public var queueFacts: @Sendable () async -> [String: QueueFacts]
    let templates: MustacheLibrary
    /// `Console/Assets`, read once: the stylesheet and the refresh script.
    let assets: [String: Data]

    public init(store: ConsoleStore, partitions: Int, adminToken: String?, queueFacts: @escaping @Sendable () async -> [String: QueueFacts]) {
        self.store = store
        self.partitions = partitions
        sessions = adminToken.map { ConsoleSessions(adminToken: $0) }
        self.queueFacts = queueFacts
        templates = Self.loadTemplates()
        assets = Self.loadAssets()
    }

    /// Facts from passive declares on `broker` (ready messages and consumers of each queue).
    public static func passiveQueueFacts(_ broker: AMQPConnection, topology: PipelineTopology) -> @Sendable () async -> [String: QueueFacts] {
        {
            var facts: [String: QueueFacts] = [:]
            for queue in topology.queues {
                if let state = try? await broker.inspectQueue(queue.name) {
                    facts[queue.name] = QueueFacts(ready: state.messageCount, consumers: state.consumerCount)
                }
            }
            return facts
        }
    }

    /// The templates shipped with this target (`Console/Templates`).
    static func loadTemplates() -> MustacheLibrary {
        var library = MustacheLibrary()
        guard let folder = Bundle.module.url(forResource: "Templates", withExtension: nil),
            let files = try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
        else { preconditionFailure("the console templates are missing from the ConcertAPI bundle") }
        for file in files where file.pathExtension == "mustache" {
            do {
                try library.register(String(contentsOf: file, encoding: .utf8), named: file.deletingPathExtension().lastPathComponent)
            } catch {
                preconditionFailure("console template \(file.lastPathComponent) does not parse: \(error)")
            }
        }
        return library
    }

    /// The files of `Console/Assets` by name.
    static func loadAssets() -> [String: Data] {
        guard let folder = Bundle.module.url(forResource: "Assets", withExtension: nil),
            let files = try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
        else { preconditionFailure("the console assets are missing from the ConcertAPI bundle") }
        var assets: [String: Data] = [:]
        for file in files { assets[file.lastPathComponent] = try? Data(contentsOf: file) }
        return assets
    }
}
