import Foundation
public import Logging
extension AMQPConnection {
    /// Declares an exchange (idempotent when it exists with the same settings; `channelClosed` 406 otherwise).
    public func declare(_ exchange: AMQPExchange) async throws {
        try await perform { session throws(AMQPError) in try session.declareExchange(exchange) }
    }

    /// Declares a queue and returns its name (the generated one for a server-named queue) and counts.
    @discardableResult
    public func declare(_ queue: AMQPQueue) async throws -> AMQPQueueState {
        try await perform { session throws(AMQPError) in try session.declareQueue(queue, passive: false) }
    }

    /// Declares a binding.
    public func declare(_ binding: AMQPBinding) async throws {
        try await perform { session throws(AMQPError) in try session.bind(binding) }
    }

    /// The state of an existing queue (passive declare); `channelClosed` with 404 when it does not exist.
    public func inspectQueue(_ name: String) async throws -> AMQPQueueState {
        try await perform { session throws(AMQPError) in try session.declareQueue(AMQPQueue(name: name), passive: true) }
    }

    /// Whether an exchange exists (passive declare): false when the broker answers 404.
    public func exchangeExists(_ name: String) async throws -> Bool {
        do {
            try await perform { session throws(AMQPError) in try session.declareExchange(AMQPExchange(name: name, type: .direct), passive: true) }
            return true
        } catch let error as AMQPError where error.replyCode == 404 {
            return false
        }
    }

    /// Whether a queue exists (passive declare): false when the broker answers 404.
    public func queueExists(_ name: String) async throws -> Bool {
        do {
            _ = try await inspectQueue(name)
            return true
        } catch let error as AMQPError where error.replyCode == 404 {
            return false
        }
    }

    /// Deletes a queue and returns how many messages it held.
    @discardableResult
    public func deleteQueue(_ name: String) async throws -> Int {
        try await perform { session throws(AMQPError) in try session.deleteQueue(name) }
    }

    /// Deletes an exchange.
    public func deleteExchange(_ name: String) async throws {
        try await perform { session throws(AMQPError) in try session.deleteExchange(name) }
    }

    /// Removes every ready message from a queue and returns how many there were.
    @discardableResult
    public func purgeQueue(_ name: String) async throws -> Int {
        try await perform { session throws(AMQPError) in try session.purgeQueue(name) }
    }
}

extension AMQPConnection {
    /// Connects once to `configuration` (on a thread of its own) and closes again: `connectionFailed`
    /// with the broker's reason (a refused login, an unknown virtual host, nobody listening) when it
    /// cannot. Tries the nodes of a cluster in turn until one lets it in. For start-up checks that
    /// must say what is wrong instead of retrying.
    public static func probe(_ configuration: AMQPConfiguration, logger: Logger) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                let session = AMQPSession(configuration: configuration, logger: logger, status: ConnectionStatus())
                var lastError = AMQPError(.connectionFailed, "no address")
                // One node that lets us in is enough; a refused login is the same on every node of a cluster.
                for _ in configuration.addresses {
                    do throws(AMQPError) {
                        try session.connect()
                        session.close()
                        continuation.resume()
                        return
                    } catch {
                        lastError = error
                        if error.replyCode != nil { break }
                    }
                }
                continuation.resume(throwing: lastError)
            }
            thread.name = "amqp probe"
            thread.start()
        }
    }
}
