public import AMQPClient
import ConcertDomain
import ConcertWire
public import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization
public import Tracing

/// An API process's own queue: partition workers send it the outcomes of the commands it
/// submitted with `reply_to` (`Prefer: wait`), and every process's inbox also hears which queue
/// tokens a payment ended (the `concert.events` fanout exchange).
///
/// The queue is exclusive and server-lived: it goes with the connection, and the inbox declares
/// it again after a reconnect. While it is gone, outcomes sent to it are lost — a waiting
/// request then answers `202` when its wait ends, which is true — and ended tokens are missed,
/// which the API's token cache bounds by re-reading its rows (see `ActiveTokens`). A `concert
/// serve` process hands its own workers' outcomes over in memory (`deliver`), without the broker.
public final class ReplyInbox: Service, Sendable {
    /// The queue's name: unique per process.
    public let queueName: String
    let connection: AMQPConnection
    let logger: Logger
    let tokensEnded: @Sendable ([EndedToken]) -> Void
    private let waiters = Mutex(Waiters())

    private enum Waiter {
        case expected
        case waiting(CheckedContinuation<CommandOutcome?, Never>)
        case arrived(CommandOutcome)
        case timedOut
    }

    /// The waiters, and when each wait ends: ids in buckets of one `tick`, swept by one task while
    /// any wait runs, so that a waiting request costs no timer or task of its own.
    private struct Waiters {
        var byID: [UUID: Waiter] = [:]
        var endings: [Int64: [UUID]] = [:]
        var sweeping = false
    }

    /// How finely wait deadlines are kept.
    static let tick: Duration = .milliseconds(50)
    private static let origin = ContinuousClock.now

    private static func tickIndex(of instant: ContinuousClock.Instant) -> Int64 {
        Int64(((instant - origin) / tick).rounded(.down))
    }

    /// `tokensEnded` is told of every token a payment ended, in any process.
    public init(connection: AMQPConnection, logger: Logger, tokensEnded: @escaping @Sendable ([EndedToken]) -> Void) {
        let host = ProcessInfo.processInfo.hostName.prefix(40)
        queueName = "concert.replies.\(host).\(ProcessInfo.processInfo.processIdentifier).\(UUID().lowercasedString.prefix(8))"
        self.connection = connection
        self.logger = logger
        self.tokensEnded = tokensEnded
    }

    // MARK: - Waiting for outcomes

    /// Registers interest in a command's outcome; call it before publishing the command.
    public func expect(_ id: UUID) {
        waiters.withLock { $0.byID[id] = .expected }
    }

    /// Drops the interest (the command was not published).
    public func forget(_ id: UUID) {
        waiters.withLock { _ = $0.byID.removeValue(forKey: id) }
    }

    /// The outcome of an expected command, or `nil` if it does not come within `timeout` (the wait
    /// ends one or two `tick`s after it) or the waiting task is cancelled.
    public func outcome(of id: UUID, within timeout: Duration) async -> CommandOutcome? {
        let ending = Self.tickIndex(of: .now + timeout) + 1
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let (ready, startSweep): (CommandOutcome??, Bool) = waiters.withLock { waiters in
                    switch waiters.byID[id] {
                    case .arrived(let outcome):
                        waiters.byID[id] = nil
                        return (.some(outcome), false)
                    case .expected:
                        waiters.byID[id] = .waiting(continuation)
                        waiters.endings[ending, default: []].append(id)
                        guard !waiters.sweeping else { return (nil, false) }
                        waiters.sweeping = true
                        return (nil, true)
                    case .timedOut, .none, .waiting:
                        waiters.byID[id] = nil
                        return (.some(nil), false)
                    }
                }
                if let ready { continuation.resume(returning: ready) }
                if startSweep { Task { await self.sweep() } }
            }
        } onCancel: {
            settle(id, with: nil)
        }
    }

    /// Ends the waits whose time is up, a tick at a time, until no wait runs.
    private func sweep() async {
        while true {
            try? await Task.sleep(for: Self.tick)
            let now = Self.tickIndex(of: .now)
            let ended: [UUID]? = waiters.withLock { waiters in
                if waiters.endings.isEmpty {
                    waiters.sweeping = false
                    return nil
                }
                var ended: [UUID] = []
                for tick in waiters.endings.keys where tick <= now {
                    ended += waiters.endings.removeValue(forKey: tick) ?? []
                }
                return ended
            }
            guard let ended else { return }
            for id in ended { settle(id, with: nil) }
        }
    }

    /// Resolves a waiter with an outcome, or with `nil` when its wait is over.
    private func settle(_ id: UUID, with outcome: CommandOutcome?) {
        let continuation: CheckedContinuation<CommandOutcome?, Never>? = waiters.withLock { waiters in
            switch waiters.byID[id] {
            case .waiting(let continuation):
                waiters.byID[id] = nil
                return continuation
            case .expected:
                waiters.byID[id] = outcome.map { .arrived($0) } ?? .timedOut
                return nil
            case .arrived, .timedOut, .none:
                return nil
            }
        }
        continuation?.resume(returning: outcome)
    }

    /// Outcomes for this process (from its own workers in memory, or from its queue).
    public func deliver(_ outcomes: [CommandOutcome]) {
        for outcome in outcomes { settle(outcome.commandID, with: outcome) }
    }

    /// How many requests wait for an outcome.
    public var waiting: Int { waiters.withLock(\.byID.count) }

    // MARK: - The queue

    public func run() async throws {
        let loop = ConsumeLoop(connection: connection, queue: queueName, prefetch: 1000, logger: logger)
        // The queue goes with the connection: declared (and bound) again before every subscription.
        func prepare() async throws {
            try await connection.declare(AMQPQueue(name: queueName, durable: false, exclusive: true, autoDelete: true))
            try await connection.declare(AMQPBinding(queue: queueName, exchange: PipelineTopology.eventsExchange, routingKey: ""))
        }
        await loop.run(prepare: prepare) { context, batch in
            for delivery in batch {
                switch delivery.properties.type {
                case CommandOutcome.messageType: deliver(CommandOutcome.decode(delivery.body))
                case EndedToken.messageType: tokensEnded(EndedToken.decode(delivery.body))
                default: logger.debug("reply inbox: unknown message dropped", metadata: ["type": "\(delivery.properties.type ?? "-")"])
                }
            }
            if let last = batch.last { try context.consumer.ack(last, multiple: true) }
        }
    }
}

/// What a partition worker sends back after a batch committed: outcomes to the processes that
/// wait for them, ended tokens to every API process. Best effort: a lost message costs a waiting
/// client its early answer (it gets `202` and polls), never a wrong one.
public struct ReplySender: Sendable {
    let connection: AMQPConnection
    /// This process's inbox (`concert serve`): its outcomes are handed over in memory.
    let local: ReplyInbox?
    let logger: Logger

    public init(connection: AMQPConnection, local: ReplyInbox?, logger: Logger) {
        self.connection = connection
        self.local = local
        self.logger = logger
    }

    /// Sends each outcome to its `reply_to`: one message per queue, or in memory for this process.
    /// `traces` holds the span of each traced command (by lower-case id): a queue's message is
    /// then sent inside a span whose parent is its first traced command's, linking the others.
    public func send(_ outcomes: [(replyTo: String, outcome: CommandOutcome)], traces: [String: InstrumentationContext] = [:]) async {
        guard !outcomes.isEmpty else { return }
        var byQueue: [String: [CommandOutcome]] = [:]
        for (queue, outcome) in outcomes { byQueue[queue, default: []].append(outcome) }
        await withTaskGroup(of: Void.self) { group in
            for (queue, outcomes) in byQueue {
                let traced = traces.isEmpty ? [] : outcomes.compactMap { traces[$0.commandID.lowercasedString] }
                if let local, queue == local.queueName {
                    let span = Self.replySpan(traced, kind: .internal, queue: queue, count: outcomes.count)
                    local.deliver(outcomes)
                    span?.end()
                    continue
                }
                group.addTask {
                    let span = Self.replySpan(traced, kind: .producer, queue: queue, count: outcomes.count)
                    defer { span?.end() }
                    do {
                        try await connection.publish(
                            routingKey: queue,
                            body: CommandOutcome.encode(outcomes),
                            properties: AMQPMessageProperties(contentType: "text/plain", persistent: false, type: CommandOutcome.messageType)
                        )
                    } catch {
                        span?.recordError(error)
                        logger.debug("outcomes not sent", metadata: ["queue": "\(queue)", "error": "\(error)"])
                    }
                }
            }
        }
    }

    /// The span of one reply message (handed over in memory: `internal`), parented by the first
    /// of `contexts` and linked to the rest; nil when no outcome in it is traced.
    private static func replySpan(_ contexts: [InstrumentationContext], kind: SpanKind, queue: String, count: Int) -> (any Span)? {
        guard let parent = contexts.first else { return nil }
        let operation = kind == .producer ? "publish" : "deliver"
        let span = startSpan("\(operation) \(queue)", context: parent, ofKind: kind)
        CommandTracing.describe(span, operation: operation, type: "send", destination: queue)
        span.attributes["messaging.batch.message_count"] = count
        for other in contexts.dropFirst() { span.addLink(SpanLink(context: other, attributes: [:])) }
        return span
    }

    /// Tells every API process which tokens ended.
    public func announce(_ tokens: [EndedToken]) async {
        guard !tokens.isEmpty else { return }
        local?.tokensEnded(tokens)
        do {
            try await connection.publish(
                exchange: PipelineTopology.eventsExchange,
                routingKey: "",
                body: EndedToken.encode(tokens),
                properties: AMQPMessageProperties(contentType: "text/plain", persistent: false, type: EndedToken.messageType)
            )
        } catch {
            logger.warning("ended tokens not announced; API processes notice within their token refresh", metadata: ["error": "\(error)"])
        }
    }
}
