import AMQPClient
import ConcertPipeline
import Foundation
import Tracing

/// The spans of a batch's traced commands (those whose message carries a trace context; none
/// when tracing is off, and then this is never made).
///
/// Each traced command gets a consumer span, `process concert.commands.p<n>`, whose parent is the
/// producer span that published it, with the milliseconds it waited in its queue. Each attempt at
/// the batch's transaction is a span too, `batch transaction`, with the batch's size: its parent is
/// the first traced command's span (the one the attempt is for, when it applies a single command)
/// and it links to every other traced command's span, each of which links back to it. What the
/// worker does after the commit — replies, the hold expiry — happens inside the last attempt's
/// span, so the outcome pushed back and an expiry that fires minutes later stay in the trace.
/// Every span ends when the batch is settled: acknowledged, returned or dropped.
struct BatchTraces {
    private struct Traced {
        let index: Int
        let messageID: String
        let span: any Span
    }

    private let traced: [Traced]
    private let size: Int
    private let partition: Int
    /// The last attempt's span context: the parent of what follows the commit.
    private(set) var lastAttempt: InstrumentationContext?

    /// Nil when no command of the batch is traced.
    init?(batch: [AMQPDelivery], partition: Int, now: Date = Date()) {
        let queue = PipelineTopology.partitionQueue(partition)
        var traced: [Traced] = []
        for (index, delivery) in batch.enumerated() {
            guard let origin = CommandTracing.origin(of: delivery, now: now) else { continue }
            let span = startSpan("process \(queue)", context: origin.context, ofKind: .consumer)
            guard span.isRecording else {
                span.end()
                continue
            }
            let messageID = delivery.properties.messageId ?? ""
            CommandTracing.describe(span, operation: "process", type: "process", destination: queue, messageID: messageID)
            span.updateAttributes { attributes in
                if let wait = origin.queueWaitMilliseconds { attributes["concert.queue.wait_ms"] = wait }
                if let type = delivery.properties.type { attributes["concert.command.type"] = type }
                attributes["concert.partition"] = partition
                attributes["messaging.rabbitmq.message.delivery_tag"] = Int64(truncatingIfNeeded: delivery.deliveryTag)
                if delivery.redelivered { attributes["concert.redelivered"] = true }
            }
            traced.append(Traced(index: index, messageID: messageID, span: span))
        }
        guard !traced.isEmpty else { return nil }
        self.traced = traced
        size = batch.count
        self.partition = partition
    }

    /// Runs one attempt inside its `batch transaction` span (parented as the type says); `body`
    /// answers whether it committed. Runs it bare when the attempt concerns no traced command.
    mutating func attempt<Result>(
        single index: Int?,
        _ body: () async -> Result,
        committed: (Result) -> Bool
    ) async -> Result {
        let parent = index.map { index in traced.first { $0.index == index } } ?? traced.first
        guard let parent else { return await body() }
        let span = startSpan("batch transaction", context: parent.span.context, ofKind: .client)
        span.updateAttributes { attributes in
            attributes["db.system.name"] = "postgresql"
            attributes["db.operation.name"] = "BEGIN … COMMIT"
            attributes["messaging.batch.message_count"] = index == nil ? size : 1
            attributes["concert.partition"] = partition
        }
        if index == nil {
            for other in traced where other.index != parent.index {
                span.addLink(SpanLink(context: other.span.context, attributes: [:]))
                other.span.addLink(SpanLink(context: span.context, attributes: [:]))
            }
        }
        let result = await InstrumentationContext.withValue(span.context) { await body() }
        let didCommit = committed(result)
        span.attributes["concert.committed"] = didCommit
        if !didCommit { span.setStatus(SpanStatus(code: .error, message: "not committed")) }
        span.end()
        lastAttempt = span.context
        return result
    }

    /// The delivery at `index` went to the dead letters.
    func deadLettered(_ index: Int, reason: String) {
        guard let command = traced.first(where: { $0.index == index }) else { return }
        command.span.attributes["concert.dead_lettered"] = true
        command.span.setStatus(SpanStatus(code: .error, message: reason))
    }

    /// The consumer span of each traced command, by command id (lower-case), to parent its reply.
    var contexts: [String: InstrumentationContext] {
        Dictionary(traced.map { ($0.messageID, $0.span.context) }, uniquingKeysWith: { first, _ in first })
    }

    /// Ends every span: the batch was settled (`acknowledged` false: returned or dropped).
    func end(acknowledged: Bool) {
        for command in traced {
            command.span.attributes["concert.acknowledged"] = acknowledged
            command.span.end()
        }
    }
}
