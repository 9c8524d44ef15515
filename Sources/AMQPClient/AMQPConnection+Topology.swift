import Foundation
public import Logging

extension AMQPConnection {
    /// Declares an exchange (idempotent when it exists with the same settings; `channelClosed` 406 otherwise).
    ///
    /// Runs on the connection thread; the calling task awaits the broker's answer.
    ///
    /// - Parameters:
    ///   - exchange: The exchange to declare.
    /// - Throws: `AMQPError`: `channelClosed` with the broker's reply code when it refuses (406 when
    ///   the exchange exists with other settings), `notConnected` while the connection is down (nothing
    ///   was sent), `connectionLost` or `connectionClosed` when the connection fails during the call,
    ///   `shutdown` when the connection is shutting down.
    public func declare(_ exchange: AMQPExchange) async throws {
        try await perform { session throws(AMQPError) in try session.declareExchange(exchange) }
    }

    /// Declares a queue and returns its name (the generated one for a server-named queue) and counts.
    ///
    /// Idempotent when the queue exists with the same settings.
    ///
    /// - Parameters:
    ///   - queue: The queue to declare; an empty name asks the broker for a server-named queue.
    /// - Returns: The queue's name and its message and consumer counts.
    /// - Throws: `AMQPError`: `channelClosed` with the broker's reply code when it refuses (406 when
    ///   the queue exists with other settings, 405 when another connection holds it exclusively),
    ///   `notConnected` while the connection is down (nothing was sent), `connectionLost` or
    ///   `connectionClosed` when the connection fails during the call, `shutdown` when the connection is
    ///   shutting down.
    @discardableResult
    public func declare(_ queue: AMQPQueue) async throws -> AMQPQueueState {
        try await perform { session throws(AMQPError) in try session.declareQueue(queue, passive: false) }
    }

    /// Declares a binding (idempotent when it exists).
    ///
    /// - Parameters:
    ///   - binding: The binding of a queue to an exchange.
    /// - Throws: `AMQPError`: `channelClosed` with the broker's reply code when it refuses (404 when
    ///   the queue or the exchange does not exist), `notConnected` while the connection is down (nothing
    ///   was sent), `connectionLost` or `connectionClosed` when the connection fails during the call,
    ///   `shutdown` when the connection is shutting down.
    public func declare(_ binding: AMQPBinding) async throws {
        try await perform { session throws(AMQPError) in try session.bind(binding) }
    }

    /// The state of an existing queue (passive declare); `channelClosed` with 404 when it does not exist.
    ///
    /// - Parameters:
    ///   - name: The queue's name.
    /// - Returns: The queue's name and its message and consumer counts.
    /// - Throws: `AMQPError`: `channelClosed` with reply code 404 when the queue does not exist,
    ///   `notConnected` while the connection is down (nothing was sent), `connectionLost` or
    ///   `connectionClosed` when the connection fails during the call, `shutdown` when the connection is
    ///   shutting down.
    public func inspectQueue(_ name: String) async throws -> AMQPQueueState {
        try await perform { session throws(AMQPError) in try session.declareQueue(AMQPQueue(name: name), passive: true) }
    }

    /// Whether an exchange exists (passive declare): false when the broker answers 404.
    ///
    /// - Parameters:
    ///   - name: The exchange's name.
    /// - Returns: True when the exchange exists, false when the broker answers 404.
    /// - Throws: `AMQPError` for any other failure: `channelClosed` with another reply code,
    ///   `notConnected` while the connection is down (nothing was sent), `connectionLost` or
    ///   `connectionClosed` when the connection fails during the call, `shutdown` when the connection is
    ///   shutting down.
    public func exchangeExists(_ name: String) async throws -> Bool {
        do {
            try await perform { session throws(AMQPError) in try session.declareExchange(AMQPExchange(name: name, type: .direct), passive: true) }
            return true
        } catch let error as AMQPError where error.replyCode == 404 {
            return false
        }
    }

    /// Whether a queue exists (passive declare): false when the broker answers 404.
    ///
    /// - Parameters:
    ///   - name: The queue's name.
    /// - Returns: True when the queue exists, false when the broker answers 404.
    /// - Throws: `AMQPError` for any other failure: `channelClosed` with another reply code,
    ///   `notConnected` while the connection is down (nothing was sent), `connectionLost` or
    ///   `connectionClosed` when the connection fails during the call, `shutdown` when the connection is
    ///   shutting down.
    public func queueExists(_ name: String) async throws -> Bool {
        do {
            _ = try await inspectQueue(name)
            return true
        } catch let error as AMQPError where error.replyCode == 404 {
            return false
        }
    }

    /// Deletes a queue and returns how many messages it held.
    ///
    /// Deletes it whether or not it has consumers or messages.
    ///
    /// - Parameters:
    ///   - name: The queue's name.
    /// - Returns: How many messages the queue held.
    /// - Throws: `AMQPError`: `channelClosed` with the broker's reply code when it refuses,
    ///   `notConnected` while the connection is down (nothing was sent), `connectionLost` or
    ///   `connectionClosed` when the connection fails during the call, `shutdown` when the connection is
    ///   shutting down.
    @discardableResult
    public func deleteQueue(_ name: String) async throws -> Int {
        try await perform { session throws(AMQPError) in try session.deleteQueue(name) }
    }

    /// Deletes an exchange, whether or not it has bindings.
    ///
    /// - Parameters:
    ///   - name: The exchange's name.
    /// - Throws: `AMQPError`: `channelClosed` with the broker's reply code when it refuses,
    ///   `notConnected` while the connection is down (nothing was sent), `connectionLost` or
    ///   `connectionClosed` when the connection fails during the call, `shutdown` when the connection is
    ///   shutting down.
    public func deleteExchange(_ name: String) async throws {
        try await perform { session throws(AMQPError) in try session.deleteExchange(name) }
    }

    /// Removes every ready message from a queue and returns how many there were.
    ///
    /// Messages delivered and not yet acknowledged stay.
    ///
    /// - Parameters:
    ///   - name: The queue's name.
    /// - Returns: How many messages were removed.
    /// - Throws: `AMQPError`: `channelClosed` with the broker's reply code when it refuses (404 when
    ///   the queue does not exist), `notConnected` while the connection is down (nothing was sent),
    ///   `connectionLost` or `connectionClosed` when the connection fails during the call, `shutdown`
    ///   when the connection is shutting down.
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
    ///
    /// Independent of any `AMQPConnection`: it neither needs nor disturbs a running one. A node
    /// that refuses the login (the broker sent a reply code) ends the search, since every node of
    /// a cluster would refuse it alike.
    ///
    /// - Parameters:
    ///   - configuration: The broker to try, with its credentials and virtual host.
    ///   - logger: Where the probe's connection logs.
    /// - Throws: `AMQPError` of kind `connectionFailed` from the last node tried, with the broker's
    ///   reply code when it refused the login.
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
