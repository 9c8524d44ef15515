public import AMQPClient
public import ConcertStorage
import Foundation

/// Operator actions on archived dead letters, shared by the CLI and the admin API.
public struct DeadLetterOperations: Sendable {
    public let store: DeadLetterStore
    let connection: AMQPConnection

    public init(store: DeadLetterStore, connection: AMQPConnection) {
        self.store = store
        self.connection = connection
    }

    /// Republishes the letter to its original exchange and routing key (confirmed), with its
    /// message id, so a command that was in fact applied is still recognised, and marks it replayed.
    /// `nil` when there is no such letter.
    public func replay(_ id: Int64) async throws -> DeadLetterStore.Record? {
        guard let record = try await store.find(id) else { return nil }
        do {
            try await connection.publish(
                exchange: record.exchange,
                routingKey: record.routingKey,
                body: record.body,
                properties: AMQPMessageProperties(
                    contentType: "application/json",
                    persistent: true,
                    messageId: record.messageId.hasPrefix("body-") ? nil : record.messageId,
                    type: record.type,
                    timestamp: UInt64(Date().timeIntervalSince1970),
                    headers: ["x-concert-replayed-from": .int(id)]
                ),
                mandatory: true
            )
        } catch let error as AMQPError where error.kind == .unroutable || error.kind == .channelClosed {
            // The broker refused the destination: the exchange is gone, or no queue takes the key.
            throw Unroutable(reason: error.message)
        } catch let error as AMQPError {
            let unknown = error.kind == .connectionLost
            throw DependencyUnavailable(.broker, outcomeUnknown: unknown, underlying: error.description)
        }
        try await store.markReplayed(id, at: Date())
        return try await store.find(id)
    }

    /// The broker refused the letter's destination; the letter stays in the archive as it was.
    public struct Unroutable: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "the broker refused the letter's destination: \(reason)" }
    }
}
